//! Goldens of what a run sends the apiserver, written out by hand.

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::{
    api::core::v1::ResourceRequirements,
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::LabelSelectorRequirement},
};
use serde_json::{Value, json};

use super::*;
use crate::plan::action::ResolvedHealthcheck;

fn start(generation: Option<u64>) -> StartMz {
    StartMz {
        mz_service: "mz-2".into(),
        tag: "v26.2.0".parse().unwrap(),
        deploy_generation: generation,
        system_parameter_defaults: [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]
        .into(),
        system_parameter_version: "v26.2.0".parse().unwrap(),
        environment_extra: vec!["MZ_X=1".into()],
        healthcheck: ResolvedHealthcheck {
            path: "/api/leader/status".into(),
            port: 6878,
        },
        restart: crate::api::v1alpha1::RestartPolicy::OnFailure,
        force_migrations: Some("all".into()),
        publish: None,
        expect_failure: false,
    }
}

/// An Environment that sets every field the StatefulSet renders.
fn full_environment() -> Environment {
    Environment {
        backend_secret_name: Some("backend".into()),
        extra_env: vec![EnvVar {
            name: "MZ_LOG_FILTER".into(),
            value: Some("debug".into()),
            ..Default::default()
        }],
        resources: Some(ResourceRequirements {
            limits: Some(BTreeMap::from([("cpu".to_string(), Quantity("1".into()))])),
            ..Default::default()
        }),
        pod_labels: BTreeMap::from([("team".to_string(), "qa".to_string())]),
        pod_annotations: BTreeMap::from([("note".to_string(), "golden".to_string())]),
        service_account_name: Some("environmentd".into()),
        ..Default::default()
    }
}

fn run_ref(env: &Environment) -> RunRef<'_> {
    RunRef {
        name: "r",
        namespace: "ns",
        uid: "0000-uid",
        spec_env: env,
    }
}

fn owner_json() -> Value {
    json!({
        "apiVersion": "mzcheck.dev/v1alpha1", "kind": "ScenarioRun", "name": "r",
        "uid": "0000-uid", "controller": true, "blockOwnerDeletion": true,
    })
}

fn labels_json() -> Value {
    json!({
        "mzcheck.dev/run": "r", "mzcheck.dev/mz-service": "mz-2",
        "app.kubernetes.io/managed-by": "scenario-operator",
    })
}

fn selector_json() -> Value {
    json!({"mzcheck.dev/run": "r", "mzcheck.dev/mz-service": "mz-2"})
}

/// The kubernetes-runtime container for `full_environment()` and `start(Some(1))` (v26.2.0),
/// written out by hand from orchestratord's generation.rs and environmentd's main.rs.
fn golden_container() -> Value {
    let sizes = r#"{"scale=1,workers=1":{"workers":1,"scale":1,"credits_per_hour":"1","disk_limit":"0","memory_limit":"2GiB"}}"#;
    json!({
        "name": "environmentd",
        "image": "materialize/environmentd:v26.2.0",
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "--deploy-generation=1",
            "--environment-id=local-ns-0000-uid-0",
            "--listeners-config-path=/listeners/listeners.json",
            "--orchestrator=kubernetes",
            "--clusterd-image=materialize/clusterd:v26.2.0",
            format!("--cluster-replica-sizes={sizes}"),
            "--bootstrap-default-cluster-replica-size=scale=1,workers=1",
            "--bootstrap-builtin-system-cluster-replica-size=scale=1,workers=1",
            "--bootstrap-builtin-catalog-server-cluster-replica-size=scale=1,workers=1",
            "--bootstrap-builtin-probe-cluster-replica-size=scale=1,workers=1",
            "--bootstrap-builtin-support-cluster-replica-size=scale=1,workers=1",
            "--bootstrap-builtin-analytics-cluster-replica-size=scale=1,workers=1",
            "--bootstrap-builtin-system-cluster-replication-factor=0",
            "--bootstrap-builtin-probe-cluster-replication-factor=0",
            "--bootstrap-builtin-support-cluster-replication-factor=0",
            "--bootstrap-builtin-analytics-cluster-replication-factor=0",
            "--orchestrator-kubernetes-service-account=environmentd",
            "--orchestrator-kubernetes-image-pull-policy=if-not-present",
            "--orchestrator-kubernetes-name-prefix=sr-0000uid-",
            "--orchestrator-kubernetes-service-label=mzcheck.dev/run=r",
            "--orchestrator-kubernetes-service-fs-group=999",
            "--internal-persist-pubsub-listen-addr=0.0.0.0:6879",
            "--persist-pubsub-url=http://r-mz-2-0.r-mz-2.ns.svc.cluster.local:6879",
            "--system-parameter-default=a=1;allowed_cluster_replica_sizes='scale=1,workers=1';b=2;cluster_enable_topology_spread=false;enable_rbac_checks=false",
            "--unsafe-mode",
            "--unsafe-builtin-table-fingerprint-whitespace=all",
        ],
        "env": [
            {"name": "MZ_METADATA_BACKEND_URL", "valueFrom": {"secretKeyRef": {"name": "backend", "key": "metadata_backend_url"}}},
            {"name": "MZ_PERSIST_BLOB_URL", "valueFrom": {"secretKeyRef": {"name": "backend", "key": "persist_backend_url"}}},
            {"name": "MZ_LICENSE_KEY", "value": "/license_key/license_key"},
            {"name": "MZ_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MZ_X", "value": "1"},
            {"name": "MZ_LOG_FILTER", "value": "debug"},
        ],
        "ports": [
            {"name": "sql", "containerPort": 6875},
            {"name": "http", "containerPort": 6876},
            {"name": "internal-sql", "containerPort": 6877},
            {"name": "internal-http", "containerPort": 6878},
            {"name": "persist-pubsub", "containerPort": 6879},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/api/leader/status", "port": 6878},
            "periodSeconds": 1, "failureThreshold": 3, "timeoutSeconds": 1,
        },
        "volumeMounts": [
            {"name": "listeners", "mountPath": "/listeners", "readOnly": true},
            {"name": "license-key", "mountPath": "/license_key", "readOnly": true},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 999,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"limits": {"cpu": "1"}},
    })
}

fn golden_statefulset() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {
            "name": "r-mz-2", "namespace": "ns",
            "labels": labels_json(), "ownerReferences": [owner_json()],
        },
        "spec": {
            "replicas": 1,
            "serviceName": "r-mz-2",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector_json()},
            "template": {
                "metadata": {
                    "labels": {
                        "team": "qa", "app": "environmentd",
                        "mzcheck.dev/run": "r", "mzcheck.dev/mz-service": "mz-2",
                        "app.kubernetes.io/managed-by": "scenario-operator",
                    },
                    "annotations": {"note": "golden", "mzcheck.dev/generation": "1"},
                },
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "serviceAccountName": "environmentd",
                    "securityContext": {"fsGroup": 999, "runAsUser": 999, "runAsGroup": 999},
                    "containers": [golden_container()],
                    "volumes": [
                        {"name": "listeners", "configMap": {"name": "r-mz-2-listeners", "defaultMode": 256, "items": [{"key": "listeners.json", "path": "listeners.json"}]}},
                        {"name": "license-key", "secret": {"secretName": "backend", "defaultMode": 256, "optional": false, "items": [{"key": "license_key", "path": "license_key"}]}},
                    ],
                },
            },
        },
    })
}

fn golden_service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "r-mz-2", "namespace": "ns",
            "labels": labels_json(), "ownerReferences": [owner_json()],
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": selector_json(),
            "ports": [
                {"name": "sql", "port": 6875, "targetPort": 6875},
                {"name": "http", "port": 6876, "targetPort": 6876},
                {"name": "internal-sql", "port": 6877, "targetPort": 6877},
                {"name": "internal-http", "port": 6878, "targetPort": 6878},
                {"name": "persist-pubsub", "port": 6879, "targetPort": 6879},
            ],
        },
    })
}

/// The `0.147.0` listeners schema with boolean routes, as v26.2.0 reads it.
fn golden_listeners() -> Value {
    let sql = |port: u16, roles: &str| json!({"addr": format!("0.0.0.0:{port}"), "authenticator_kind": "None", "allowed_roles": roles, "enable_tls": false});
    let routes = |on: &[&str]| {
        let all = [
            "base",
            "webhook",
            "internal",
            "metrics",
            "profiling",
            "mcp",
            "mcp_agent",
            "mcp_developer",
            "console_config",
            "endpoint_api",
        ];
        Value::Object(
            all.iter()
                .map(|r| (r.to_string(), json!(on.contains(r))))
                .collect(),
        )
    };
    let mut external = sql(6876, "Normal");
    external["routes"] = routes(&["base", "webhook"]);
    let mut internal = sql(6878, "NormalAndInternal");
    internal["routes"] = routes(&["base", "webhook", "internal", "metrics", "profiling"]);
    json!({
        "version": "0.147.0",
        "sql": {"external": sql(6875, "Normal"), "internal": sql(6877, "Internal")},
        "http": {"external": external, "internal": internal},
    })
}

#[test]
fn statefulset_json_is_the_golden() {
    let env = full_environment();
    let run = run_ref(&env);
    let sts = serde_json::to_value(statefulset(&run, &start(Some(1)), 1)).unwrap();
    assert_eq!(sts, golden_statefulset());
    let svc = serde_json::to_value(service(&run, "mz-2")).unwrap();
    assert_eq!(svc, golden_service());

    let cm = serde_json::to_value(listeners_configmap(&run, &start(Some(1)))).unwrap();
    // The file's text is compared as JSON: its key order is serde_json's, not a contract.
    let text = cm["data"]["listeners.json"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        golden_listeners()
    );
    let expected = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": "r-mz-2-listeners", "namespace": "ns",
            "labels": labels_json(), "ownerReferences": [owner_json()],
        },
        "data": {"listeners.json": text},
    });
    assert_eq!(cm, expected);
}

#[test]
fn logs_configmap_is_owned_and_labelled_by_service() {
    let env = Environment::default();
    let run = run_ref(&env);
    let data = BTreeMap::from([("environmentd".to_string(), "log line".to_string())]);
    let cm = serde_json::to_value(logs_configmap(&run, "mz-2", 3, data)).unwrap();
    assert_eq!(
        cm,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "r-step3-logs", "namespace": "ns",
                "labels": labels_json(), "ownerReferences": [owner_json()],
            },
            "data": {"environmentd": "log line"},
        })
    );
    // No logs still renders the (empty) data, as before.
    let empty = serde_json::to_value(logs_configmap(&run, "mz-2", 3, BTreeMap::new())).unwrap();
    assert_eq!(empty["data"], json!({}));
}

#[test]
fn checks_snapshot_is_immutable_and_labelled_by_run() {
    let env = Environment::default();
    let run = run_ref(&env);
    let cm = serde_json::to_value(checks_snapshot(&run, "[]".into())).unwrap();
    assert_eq!(
        cm,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "r-checks", "namespace": "ns",
                "labels": {
                    "mzcheck.dev/run": "r",
                    "app.kubernetes.io/managed-by": "scenario-operator",
                },
                "ownerReferences": [owner_json()],
            },
            "immutable": true,
            "data": {"checks.json": "[]"},
        })
    );
}

#[test]
fn selector_string_is_the_apiservers_form() {
    let s = LabelSelector {
        match_labels: Some(BTreeMap::from([("a".to_string(), "1".to_string())])),
        match_expressions: Some(vec![
            LabelSelectorRequirement {
                key: "b".into(),
                operator: "In".into(),
                values: Some(vec!["x".into(), "y".into()]),
            },
            LabelSelectorRequirement {
                key: "c".into(),
                operator: "DoesNotExist".into(),
                values: None,
            },
        ]),
    };
    assert_eq!(selector_string(&s), "a=1,b in (x,y),!c");
    assert_eq!(selector_string(&LabelSelector::default()), "");
}

/// The StatefulSet of a plain start of `tag` in `env`, as JSON.
fn rendered(env: &Environment, tag: &str) -> Value {
    let run = run_ref(env);
    let mut s = start(None);
    s.tag = tag.parse().unwrap();
    s.force_migrations = None;
    s.system_parameter_defaults.clear();
    serde_json::to_value(statefulset(&run, &s, 1)).unwrap()
}

fn args_of(sts: &Value) -> Vec<String> {
    let args = &sts["spec"]["template"]["spec"]["containers"][0]["args"];
    serde_json::from_value(args.clone()).unwrap()
}

fn volume_names(sts: &Value) -> Vec<String> {
    sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_version_family_gets_its_listeners_and_license() {
    let env = Environment {
        backend_secret_name: Some("backend".into()),
        ..Default::default()
    };
    // (tag, listeners file, license key mounted, --disable-license-key-checks)
    let cases = [
        ("v0.146.0", false, false, true),
        ("v0.147.18", true, false, true),
        ("v0.164.1", true, true, false),
        ("v26.1.0", true, true, false),
        ("v26.32.0-dev.0", true, true, false),
    ];
    for (tag, file, license, disable) in cases {
        let sts = rendered(&env, tag);
        let args = args_of(&sts);
        let has = |a: &str| args.iter().any(|x| x == a);
        assert_eq!(
            has("--listeners-config-path=/listeners/listeners.json"),
            file,
            "{tag}"
        );
        assert_eq!(has("--sql-listen-addr=0.0.0.0:6875"), !file, "{tag}");
        assert_eq!(has("--disable-license-key-checks"), disable, "{tag}");
        assert_eq!(
            volume_names(&sts).contains(&"license-key".to_string()),
            license,
            "{tag}"
        );
        assert!(
            has(&format!("--clusterd-image=materialize/clusterd:{tag}")),
            "{tag}"
        );
    }
    // The listeners file follows the version too: route groups from v26.32.
    let run = run_ref(&env);
    let mut s = start(None);
    for (tag, version) in [("v26.31.0", "0.147.0"), ("v26.32.0-dev.0", "26.32.0")] {
        s.tag = tag.parse().unwrap();
        let cm = serde_json::to_value(listeners_configmap(&run, &s)).unwrap();
        let file: Value =
            serde_json::from_str(cm["data"]["listeners.json"].as_str().unwrap()).unwrap();
        assert_eq!(file["version"], version, "{tag}");
    }
    s.tag = "v0.146.0".parse().unwrap();
    let cm = serde_json::to_value(listeners_configmap(&run, &s)).unwrap();
    assert_eq!(cm["data"], json!({}));
}

#[test]
fn the_emulator_runs_the_all_in_one_image_with_the_process_orchestrator() {
    let env = Environment {
        runtime: Some(crate::api::v1alpha1::Runtime::Emulator),
        backend_secret_name: Some("backend".into()),
        ..Default::default()
    };
    let sts = rendered(&env, "v26.2.0");
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "materialize/materialized:v26.2.0");
    assert_eq!(
        args_of(&sts),
        [
            "--environment-id=local-ns-0000-uid-0",
            "--listeners-config-path=/listeners/listeners.json",
            "--orchestrator=process",
        ]
    );
    let secret = |name: &str| json!({"name": name, "valueFrom": {"secretKeyRef": {"name": "backend", "key": "metadata_backend_url"}}});
    assert_eq!(
        c["env"],
        json!([
            {"name": "MZ_NO_BUILTIN_POSTGRES", "value": "1"},
            {"name": "MZ_NO_TELEMETRY", "value": "1"},
            secret("MZ_PERSIST_CONSENSUS_URL"),
            secret("MZ_TIMESTAMP_ORACLE_URL"),
            secret("MZ_ADAPTER_STASH_URL"),
            {"name": "MZ_PERSIST_BLOB_URL", "valueFrom": {"secretKeyRef": {"name": "backend", "key": "persist_backend_url"}}},
            {"name": "MZ_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MZ_X", "value": "1"},
        ])
    );
    assert_eq!(volume_names(&sts), ["listeners"]);
}

#[test]
fn clusterd_image_is_next_to_environmentds() {
    assert_eq!(
        clusterd_image("materialize/environmentd", "v26.1.0"),
        "materialize/clusterd:v26.1.0"
    );
    assert_eq!(
        clusterd_image("registry.local:5000/mz/environmentd", "v1.0.0"),
        "registry.local:5000/mz/clusterd:v1.0.0"
    );
    assert_eq!(
        clusterd_image("environmentd", "v1.0.0"),
        "materialize/clusterd:v1.0.0"
    );
    assert_eq!(
        default_image(crate::api::v1alpha1::Runtime::Kubernetes),
        "materialize/environmentd"
    );
}

#[test]
fn a_starts_own_parameters_win_and_new_forced_migrations_use_the_new_flag() {
    let env = Environment::default();
    let run = run_ref(&env);
    let mut s = start(None);
    s.system_parameter_defaults = [("enable_rbac_checks".to_string(), "true".to_string())].into();
    s.force_migrations = Some("evolution".into());
    let args = args(&run, &s);
    let params = args
        .iter()
        .find(|a| a.starts_with("--system-parameter-default="))
        .unwrap();
    assert!(params.contains("enable_rbac_checks=true"), "{params}");
    assert!(!params.contains("enable_rbac_checks=false"), "{params}");
    assert!(args.contains(&"--unsafe-force-builtin-schema-migration=evolution".to_string()));
    assert!(!args.iter().any(|a| a.contains("fingerprint-whitespace")));
}

#[test]
fn a_variable_of_the_spec_replaces_a_rendered_one_of_the_same_name() {
    let env = Environment {
        backend_secret_name: Some("backend".into()),
        extra_env: vec![EnvVar {
            name: "MZ_LICENSE_KEY".into(),
            value: Some("/elsewhere".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let sts = rendered(&env, "v26.2.0");
    let vars = sts["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    let licenses: Vec<&Value> = vars
        .iter()
        .filter(|v| v["name"] == "MZ_LICENSE_KEY")
        .collect();
    assert_eq!(
        licenses,
        [&json!({"name": "MZ_LICENSE_KEY", "value": "/elsewhere"})]
    );
    assert_eq!(vars[2]["name"], "MZ_LICENSE_KEY", "kept in its place");
}

#[test]
fn clusterd_scheduling_is_passed_as_orchestratord_passes_it() {
    let env: Environment = serde_json::from_value(json!({
        "backendSecretName": "backend",
        "clusterd": {
            "nodeSelector": {"pool": "mz", "disk": "ssd"},
            "tolerations": [{"key": "mz", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]}]}}]}},
            "schedulerName": "bin-packer",
        },
    }))
    .unwrap();
    let flags = |tag: &str| -> Vec<String> {
        args_of(&rendered(&env, tag))
            .into_iter()
            .filter(|a| {
                a.starts_with("--orchestrator-kubernetes-service-node-selector")
                    || a.starts_with("--orchestrator-kubernetes-service-affinity")
                    || a.starts_with("--orchestrator-kubernetes-service-tolerations")
                    || a.starts_with("--orchestrator-kubernetes-scheduler-name")
            })
            .collect()
    };
    assert_eq!(
        flags("v26.1.0"),
        [
            "--orchestrator-kubernetes-service-node-selector=disk=ssd",
            "--orchestrator-kubernetes-service-node-selector=pool=mz",
            "--orchestrator-kubernetes-service-affinity={\"nodeAffinity\":{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"preference\":{\"matchExpressions\":[{\"key\":\"zone\",\"operator\":\"In\",\"values\":[\"a\"]}]},\"weight\":1}]}}",
            "--orchestrator-kubernetes-service-tolerations=[{\"effect\":\"NoSchedule\",\"key\":\"mz\",\"operator\":\"Exists\"}]",
            "--orchestrator-kubernetes-scheduler-name=bin-packer",
        ]
    );
    // Before v0.144 the JSON flags do not exist (the planner refuses such a run; the renderer
    // never emits a flag environmentd would reject).
    assert_eq!(
        flags("v0.143.0"),
        [
            "--orchestrator-kubernetes-service-node-selector=disk=ssd",
            "--orchestrator-kubernetes-service-node-selector=pool=mz",
            "--orchestrator-kubernetes-scheduler-name=bin-packer",
        ]
    );
}
