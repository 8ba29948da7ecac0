//! `--environment-id`, in the grammar of environmentd's parser (`EnvironmentId::from_str`,
//! src/sql/src/catalog.rs): `<provider>-<region>-<org uuid>-<ordinal>`, where the provider is
//! a `CloudProvider` (src/cloud-provider/src/lib.rs), the region `[[:alnum:]-]+`, the
//! organization id a lowercase hyphenated UUID and the ordinal 1–8 digits. The planner checks
//! a user's value with it, the renderer builds the default from it, and mzsim refuses to boot
//! on a value it rejects, as environmentd does at argument parsing.

/// Providers every version accepts. Newer versions match case-insensitively and add `gcp`,
/// `azure` and `generic`; older ones match these exactly, so only these, lower case, are safe
/// across the version matrix.
pub const PORTABLE_PROVIDERS: [&str; 5] = ["local", "docker", "mzcompose", "cloudtest", "aws"];
/// Providers only newer versions accept.
pub const NEWER_PROVIDERS: [&str; 3] = ["gcp", "azure", "generic"];

/// The CRD pattern: the regex of environmentd's parser in ECMA syntax (the provider list is
/// checked by [`parse`], which names the bad part).
pub const PATTERN: &str = r"^[A-Za-z0-9]+-[A-Za-z0-9-]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9]{1,8}$";

/// A parsed environment id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentId<'a> {
    pub provider: &'a str,
    pub region: &'a str,
    pub organization: &'a str,
    pub ordinal: u64,
}

/// Why environmentd would refuse an environment id; the display is the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEnvironmentId {
    #[error("not <provider>-<region>-<org uuid>-<ordinal>")]
    Shape,
    #[error("the ordinal {0:?} is not 1 to 8 digits")]
    Ordinal(String),
    #[error("{0:?} is not a lowercase hyphenated UUID")]
    Organization(String),
    #[error("the region {0:?} is not letters, digits and '-'")]
    Region(String),
    #[error("{0:?} is not a cloud provider environmentd knows ({known})", known = PORTABLE_PROVIDERS.join(", "))]
    Provider(String),
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
}

/// Parses `id` as environmentd does. `newer` accepts the providers only newer versions know
/// (case-insensitively); otherwise only [`PORTABLE_PROVIDERS`], exactly.
pub fn parse(id: &str, newer: bool) -> Result<EnvironmentId<'_>, InvalidEnvironmentId> {
    use InvalidEnvironmentId as E;
    let (rest, ordinal) = id.rsplit_once('-').ok_or(E::Shape)?;
    if ordinal.is_empty() || ordinal.len() > 8 || !ordinal.chars().all(|c| c.is_ascii_digit()) {
        return Err(E::Ordinal(ordinal.into()));
    }
    // The organization id is the 36 characters before the ordinal, after a '-'.
    let split = rest.len().checked_sub(37).ok_or(E::Shape)?;
    if !rest.is_char_boundary(split) || &rest[split..split + 1] != "-" {
        return Err(E::Shape);
    }
    let (head, organization) = (&rest[..split], &rest[split + 1..]);
    if !is_uuid(organization) {
        return Err(E::Organization(organization.into()));
    }
    let (provider, region) = head.split_once('-').ok_or(E::Shape)?;
    if provider.is_empty() || !provider.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(E::Provider(provider.into()));
    }
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(E::Region(region.into()));
    }
    let known = if newer {
        let lower = provider.to_lowercase();
        PORTABLE_PROVIDERS.contains(&lower.as_str()) || NEWER_PROVIDERS.contains(&lower.as_str())
    } else {
        PORTABLE_PROVIDERS.contains(&provider)
    };
    if !known {
        return Err(E::Provider(provider.into()));
    }
    Ok(EnvironmentId {
        provider,
        region,
        organization,
        ordinal: ordinal.parse().map_err(|_| E::Ordinal(ordinal.into()))?,
    })
}

/// The default id of a run: provider `local` (what orchestratord produces with its chart's
/// defaults and what every version accepts), the namespace as region, the run's UID as
/// organization, so two runs never share an environment.
pub fn default_for(namespace: &str, run_uid: &str) -> String {
    format!("local-{namespace}-{run_uid}-0")
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0b5e1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b";

    #[test]
    fn accepts_what_environmentd_accepts() {
        let id = format!("local-az1-{UUID}-452");
        let parsed = parse(&id, false).unwrap();
        assert_eq!(
            (
                parsed.provider,
                parsed.region,
                parsed.organization,
                parsed.ordinal
            ),
            ("local", "az1", UUID, 452)
        );
        let aws = format!("aws-us-east-1-{UUID}-0");
        assert_eq!(parse(&aws, false).unwrap().region, "us-east-1");
        assert!(parse(&default_for("e2e-ns", UUID), false).is_ok());
        assert!(parse(&format!("GCP-x-{UUID}-0"), true).is_ok());
    }

    #[test]
    fn refuses_what_environmentd_refuses_naming_the_part() {
        use InvalidEnvironmentId as E;
        let cases = [
            (
                format!("scenariorun-ns-{UUID}-0"),
                E::Provider("scenariorun".into()),
            ),
            (format!("gcp-x-{UUID}-0"), E::Provider("gcp".into())),
            (format!("Local-x-{UUID}-0"), E::Provider("Local".into())),
            (format!("local-{UUID}-0"), E::Shape),
            (
                format!("local-x-{UUID}-123456789"),
                E::Ordinal("123456789".into()),
            ),
            (
                format!("local-x-{}-0", UUID.to_uppercase()),
                E::Organization(UUID.to_uppercase()),
            ),
            (format!("local-x_y-{UUID}-0"), E::Region("x_y".into())),
            (String::new(), E::Shape),
        ];
        for (id, want) in cases {
            assert_eq!(parse(&id, false), Err(want), "{id}");
        }
    }
}
