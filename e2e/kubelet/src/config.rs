//! The kubelet's configuration file (YAML): which local executable stands in for which image,
//! and the node's identity and addresses.
//!
//! ```yaml
//! nodeName: so-node-0
//! nodeIP: 10.244.255.1        # where the apiserver reaches the log server
//! podCIDRPrefix: 10.244.      # pods get <prefix><a>.<b>/32: a 0..=254, b 2..=250
//! port: 10250
//! tlsCert: /path/kubelet.crt
//! tlsKey: /path/kubelet.key
//! stateDir: /tmp/so-kubelet
//! hostsFile: /etc/netns/so-kt/hosts   # StatefulSet pod DNS names are written here
//! probePeriodCapSeconds: 1            # probes run at least this often (test speed)
//! images:
//!   - image: materialize/materialized  # repository; the tag goes to tagEnv
//!     command: /abs/path/mzsim
//!     tagEnv: MZSIM_VERSION
//! ```

use std::collections::BTreeMap;

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    pub node_name: String,
    #[serde(rename = "nodeIP")]
    pub node_ip: String,
    #[serde(rename = "podCIDRPrefix")]
    pub pod_cidr_prefix: String,
    pub port: u16,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub state_dir: PathBuf,
    pub hosts_file: Option<PathBuf>,
    #[serde(default = "default_probe_cap")]
    pub probe_period_cap_seconds: u64,
    pub images: Vec<ImageMapping>,
}

fn default_probe_cap() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageMapping {
    /// Image repository without tag, e.g. `materialize/materialized`.
    pub image: String,
    /// Local executable run for it.
    pub command: PathBuf,
    /// Environment variable that receives the image tag (e.g. `MZSIM_VERSION`).
    pub tag_env: Option<String>,
    /// Variables set for every container of the image, before the pod's own (which win):
    /// what tells one executable standing in for several images which one it is.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Config {
    pub fn load(path: &str) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_saphyr::from_str(&text)?)
    }

    /// The executable and tag for an image reference `repo[:tag]` (a registry host and
    /// `docker.io/` prefix are ignored).
    pub fn resolve(&self, image: &str) -> Option<(&ImageMapping, Option<String>)> {
        let image = image.strip_prefix("docker.io/").unwrap_or(image);
        let (repo, tag) = match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (image, None),
        };
        self.images
            .iter()
            .find(|m| m.image == repo)
            .map(|m| (m, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_images_by_repository() {
        let cfg: Config = serde_saphyr::from_str(
            "nodeName: n\nnodeIP: 1.2.3.4\npodCIDRPrefix: 10.244.\nport: 10250\ntlsCert: c\ntlsKey: k\nstateDir: s\nimages:\n  - image: materialize/materialized\n    command: /bin/mzsim\n    tagEnv: MZSIM_VERSION\n",
        )
        .unwrap();
        let (m, tag) = cfg.resolve("materialize/materialized:v26.1.0").unwrap();
        assert_eq!(m.command, PathBuf::from("/bin/mzsim"));
        assert_eq!(tag.as_deref(), Some("v26.1.0"));
        assert!(
            cfg.resolve("docker.io/materialize/materialized:v1")
                .is_some()
        );
        assert!(cfg.resolve("other/image:v1").is_none());
    }
}
