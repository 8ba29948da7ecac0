//! The Helm chart as Helm renders it (`helm lint --strict`, `helm template`, the helm binary
//! `e2e/cluster build` makes, on PATH inside `e2e/cluster exec`): it lints with default and
//! non-default values; the operator's own rules never touch Secrets (least privilege; its one
//! Secret rule is the webhook CA's, by name, in its own namespace), it may
//! bind only environmentd's ClusterRole, the Secret preflight's GET is opt-in; a watched
//! namespace turns the operator's rules into a Role there; the Deployment is non-root with a
//! read-only root filesystem and probes on /healthz and /readyz; bad values are refused.

use std::{path::Path, process::Command};

use k8s_openapi::api::{apps::v1::Deployment, rbac::v1::PolicyRule};
use serde_json::Value;

fn chart() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("charts/scenario-operator")
        .display()
        .to_string()
}

/// `helm` with `args`; its stdout, or its stderr as the error.
fn helm(args: &[&str]) -> Result<String, String> {
    let out = Command::new("helm")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run helm ({e}): build it with e2e/cluster build"))?;
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The chart rendered with `--set` values, as JSON documents.
fn rendered(sets: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec!["template", "so", &chart, "--namespace", "operators"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let text = helm(&args).unwrap();
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

/// A Role or ClusterRole's rules (the same shape).
fn rules(doc: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(doc["rules"].clone()).unwrap()
}

const NON_DEFAULT: &[&str] = &[
    "watchNamespace=team-a",
    "readBackendSecrets=true",
    "logFormat=json",
    "healthPort=9440",
    "image.repository=registry.example/scenario-operator",
    "image.tag=1.2.3",
    "nodeSelector.pool=ops",
];

#[test]
#[ignore = "needs helm: run by ./test"]
fn the_chart_lints_with_default_and_non_default_values() {
    let chart = chart();
    helm(&["lint", "--strict", &chart]).unwrap();
    let mut args = vec!["lint", "--strict", &chart];
    for s in NON_DEFAULT {
        args.extend(["--set", s]);
    }
    helm(&args).unwrap();
}

#[test]
#[ignore = "needs helm: run by ./test"]
fn the_operator_holds_no_secret_rule_and_binds_only_environmentds_role() {
    for sets in [&[][..], NON_DEFAULT] {
        let docs = rendered(sets);
        let namespaced = sets.contains(&"watchNamespace=team-a");
        let kind = if namespaced { "Role" } else { "ClusterRole" };
        let operator = find(&docs, kind, "scenario-operator").unwrap();
        if namespaced {
            assert_eq!(operator["metadata"]["namespace"], "team-a");
            let binding = find(&docs, "RoleBinding", "scenario-operator").unwrap();
            assert_eq!(binding["roleRef"]["kind"], "Role");
            assert_eq!(binding["subjects"][0]["namespace"], "operators");
            assert!(find(&docs, "ClusterRole", "scenario-operator").is_none());
        }
        for rule in rules(operator) {
            let resources = rule.resources.clone().unwrap_or_default();
            assert!(!resources.iter().any(|r| r == "secrets"), "{rule:?}");
            if rule.verbs.iter().any(|v| v == "bind" || v == "escalate") {
                assert_eq!(rule.verbs, ["bind"], "{rule:?}");
                assert_eq!(
                    rule.resource_names.as_deref(),
                    Some(&["scenario-operator-environmentd".to_string()][..])
                );
            }
            if resources.iter().any(|r| r == "serviceaccounts/token") {
                assert_eq!(rule.verbs, ["create"], "{rule:?}");
            }
        }
        // environmentd's role has orchestratord's Secret rule; the operator only binds it.
        let environmentd = find(&docs, "ClusterRole", "scenario-operator-environmentd").unwrap();
        assert!(
            rules(environmentd).iter().any(|r| r
                .resources
                .iter()
                .flatten()
                .any(|x| x == "secrets"))
        );
    }
}

#[test]
#[ignore = "needs helm: run by ./test"]
fn the_secret_preflight_is_opt_in() {
    let docs = rendered(&[]);
    assert!(
        !docs
            .iter()
            .any(|d| d["metadata"]["name"] == "scenario-operator-backend-secrets")
    );
    let docs = rendered(&["readBackendSecrets=true"]);
    let role = find(&docs, "ClusterRole", "scenario-operator-backend-secrets").unwrap();
    let rules = rules(role);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].verbs, ["get"]);
    assert_eq!(
        rules[0].resources.as_deref(),
        Some(&["secrets".to_string()][..])
    );
}

#[test]
#[ignore = "needs helm: run by ./test"]
fn the_deployment_is_locked_down_and_probed() {
    for sets in [&[][..], NON_DEFAULT] {
        let docs = rendered(sets);
        let d: Deployment = serde_json::from_value(
            find(&docs, "Deployment", "scenario-operator")
                .unwrap()
                .clone(),
        )
        .unwrap();
        let pod = d.spec.template.spec.unwrap();
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let c = &pod.containers[0];
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
        let live = c.liveness_probe.clone().unwrap().http_get.unwrap();
        let ready = c.readiness_probe.clone().unwrap().http_get.unwrap();
        assert_eq!(live.path.as_deref(), Some("/healthz"));
        assert_eq!(ready.path.as_deref(), Some("/readyz"));
        let args = c.args.clone().unwrap();
        let port = if sets.is_empty() { 8080 } else { 9440 };
        assert!(
            args.contains(&format!("--health-addr=0.0.0.0:{port}")),
            "{args:?}"
        );
        assert_eq!(c.ports.clone().unwrap()[0].container_port, port);
        let image = c.image.clone().unwrap();
        if sets.is_empty() {
            assert_eq!(image, "scenario-operator:0.1.0");
        } else {
            assert_eq!(image, "registry.example/scenario-operator:1.2.3");
            assert!(args.contains(&"--log-format=json".to_string()));
        }
    }
}

#[test]
#[ignore = "needs helm: run by ./test"]
fn bad_values_are_refused_with_a_message() {
    let chart = chart();
    let sets = [
        "--set",
        "replicas=2",
        "--set",
        "leaderElection.enabled=false",
    ];
    let err = helm(&[&["template", "so", &chart][..], &sets].concat()).unwrap_err();
    assert!(
        err.contains("replicas > 1 needs leaderElection.enabled"),
        "{err}"
    );
    let err = helm(&["template", "so", &chart, "--set", "logFormat=xml"]).unwrap_err();
    assert!(
        err.contains("logFormat must be text or json, not \"xml\""),
        "{err}"
    );
}

#[test]
#[ignore = "needs helm: run by ./test"]
fn the_chart_ships_the_crds_of_crds_dir() {
    let text = helm(&["template", "so", &chart(), "--include-crds"]).unwrap();
    for name in ["scenarioruns.mzcheck.dev", "vpcendpoints.materialize.cloud"] {
        assert!(text.contains(&format!("name: {name}")), "{name}");
    }
}

#[test]
#[ignore = "needs helm: run by ./test"]
fn the_webhook_judges_creates_only_and_gets_its_certificate_one_of_two_ways() {
    // Default: the operator makes the certificate and may update that one configuration.
    let docs = rendered(&[]);
    let config = find(&docs, "ValidatingWebhookConfiguration", "scenario-operator").unwrap();
    let hook = &config["webhooks"][0];
    assert_eq!(
        hook["rules"][0]["operations"],
        serde_json::json!(["CREATE"])
    );
    assert_eq!(
        hook["rules"][0]["resources"],
        serde_json::json!(["scenarioruns"])
    );
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert_eq!(hook["timeoutSeconds"], 5);
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(
        hook["clientConfig"]["service"]["name"],
        "scenario-operator-webhook"
    );
    assert!(find(&docs, "Service", "scenario-operator-webhook").is_some());
    let role = find(&docs, "ClusterRole", "scenario-operator-webhook").unwrap();
    let config_rules = rules(role);
    assert_eq!(config_rules.len(), 1);
    assert_eq!(config_rules[0].verbs, ["get", "update"]);
    assert_eq!(
        config_rules[0].resource_names.as_deref(),
        Some(&["scenario-operator".to_string()][..])
    );
    let args = |docs: &[Value]| -> Vec<String> {
        let d = find(docs, "Deployment", "scenario-operator").unwrap();
        serde_json::from_value(d["spec"]["template"]["spec"]["containers"][0]["args"].clone())
            .unwrap()
    };
    let a = args(&docs);
    assert!(
        a.contains(&"--webhook-addr=0.0.0.0:9443".to_string()),
        "{a:?}"
    );
    assert!(a.contains(&"--webhook-ca-secret=operators/scenario-operator-webhook-ca".to_string()));
    // The replicas' shared CA: the operator's one Secret rule, naming that Secret only.
    let ca = find(&docs, "Role", "scenario-operator-webhook-ca").unwrap();
    assert_eq!(ca["metadata"]["namespace"], "operators");
    for rule in rules(ca) {
        assert_eq!(
            rule.resources.as_deref(),
            Some(&["secrets".to_string()][..])
        );
        match rule.verbs.as_slice() {
            [v] if v == "create" => {}
            [v] if v == "get" => assert_eq!(
                rule.resource_names.as_deref(),
                Some(&["scenario-operator-webhook-ca".to_string()][..])
            ),
            other => panic!("unexpected verbs {other:?}"),
        }
    }
    assert!(a.contains(&"--webhook-host=scenario-operator-webhook.operators.svc".to_string()));

    // cert-manager: a Certificate, the CA injected, no rule to write the configuration.
    let docs = rendered(&["webhook.certManager.enabled=true"]);
    let config = find(&docs, "ValidatingWebhookConfiguration", "scenario-operator").unwrap();
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "operators/scenario-operator-webhook"
    );
    let cert = find(&docs, "Certificate", "scenario-operator-webhook").unwrap();
    assert_eq!(cert["spec"]["secretName"], "scenario-operator-webhook-tls");
    assert!(find(&docs, "Issuer", "scenario-operator-webhook").is_some());
    assert!(find(&docs, "ClusterRole", "scenario-operator-webhook").is_none());
    assert!(find(&docs, "Role", "scenario-operator-webhook-ca").is_none());
    assert!(args(&docs).contains(&"--webhook-cert-dir=/tls".to_string()));

    // A watched namespace: only its runs are judged.
    let docs = rendered(&["watchNamespace=team-a"]);
    let config = find(&docs, "ValidatingWebhookConfiguration", "scenario-operator").unwrap();
    assert_eq!(
        config["webhooks"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "team-a"
    );

    // Off: none of it.
    let docs = rendered(&["webhook.enabled=false"]);
    assert!(
        !docs
            .iter()
            .any(|d| d["kind"] == "ValidatingWebhookConfiguration")
    );
    assert!(!args(&docs).iter().any(|a| a.starts_with("--webhook")));

    let err = helm(&[
        "template",
        "so",
        &chart(),
        "--set",
        "webhook.failurePolicy=Maybe",
    ])
    .unwrap_err();
    assert!(
        err.contains("webhook.failurePolicy must be Ignore or Fail"),
        "{err}"
    );
}

#[test]
#[ignore = "needs helm: run by ./test"]
fn replicas_elect_a_leader_on_one_lease_in_the_release_namespace() {
    let docs = rendered(&["replicas=2"]);
    let d = find(&docs, "Deployment", "scenario-operator").unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap();
    assert!(args.contains(&"--leader-election-lease=scenario-operator".to_string()));
    let env = c["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "POD_NAMESPACE"
        && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"));
    let role = find(&docs, "Role", "scenario-operator-leader-election").unwrap();
    assert_eq!(role["metadata"]["namespace"], "operators");
    for rule in rules(role) {
        assert_eq!(rule.resources.as_deref(), Some(&["leases".to_string()][..]));
        if rule.verbs != ["create"] {
            assert_eq!(
                rule.resource_names.as_deref(),
                Some(&["scenario-operator".to_string()][..])
            );
        }
    }
    let off = rendered(&["leaderElection.enabled=false"]);
    assert!(find(&off, "Role", "scenario-operator-leader-election").is_none());
}
