//! The chart's RBAC, read as Kubernetes would apply it: the operator's own ClusterRole never
//! touches Secrets (least privilege), it may bind only environmentd's ClusterRole, and the
//! Secret preflight's GET is opt-in and off by default.

use std::path::Path;

use k8s_openapi::api::rbac::v1::ClusterRole;

fn template(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/scenario-operator/templates")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{{ .Release.Namespace }}", "ns")
}

fn cluster_roles(text: &str) -> Vec<ClusterRole> {
    text.split("\n---\n")
        .filter(|doc| doc.lines().any(|l| l == "kind: ClusterRole"))
        .map(|doc| serde_saphyr::from_str(doc).unwrap())
        .collect()
}

fn role<'a>(roles: &'a [ClusterRole], name: &str) -> &'a ClusterRole {
    roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(name))
        .unwrap()
}

#[test]
fn the_operator_holds_no_secret_rule_and_binds_only_environmentds_role() {
    let roles = cluster_roles(&template("rbac.yaml"));
    let operator = role(&roles, "scenario-operator");
    let rules = operator.rules.clone().unwrap();
    for rule in &rules {
        let resources = rule.resources.clone().unwrap_or_default();
        assert!(!resources.iter().any(|r| r == "secrets"), "{rule:?}");
        if rule.verbs.iter().any(|v| v == "bind" || v == "escalate") {
            assert_eq!(rule.verbs, ["bind"], "{rule:?}");
            assert_eq!(
                rule.resource_names.as_deref(),
                Some(&["scenario-operator-environmentd".to_string()][..])
            );
        }
    }
    // environmentd's role has orchestratord's Secret rule; the operator only binds it.
    let environmentd = role(&roles, "scenario-operator-environmentd");
    assert!(
        environmentd.rules.iter().flatten().any(|r| r
            .resources
            .iter()
            .flatten()
            .any(|x| x == "secrets"))
    );
}

#[test]
fn the_secret_preflight_is_opt_in() {
    let text = template("rbac-backend-secrets.yaml");
    assert!(text.starts_with("{{- if .Values.readBackendSecrets }}\n"));
    assert!(text.trim_end().ends_with("{{- end }}"));
    let values = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/scenario-operator/values.yaml"),
    )
    .unwrap();
    assert!(values.lines().any(|l| l == "readBackendSecrets: false"));
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("{{-"))
        .collect::<Vec<_>>()
        .join("\n");
    let roles = cluster_roles(&body);
    let rules = role(&roles, "scenario-operator-backend-secrets")
        .rules
        .clone()
        .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].verbs, ["get"]);
}
