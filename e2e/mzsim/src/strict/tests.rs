//! Strict mode against the operator's own rendering (every version family and both runtimes
//! boot) and one test per refusal, with its message.

use std::{collections::BTreeMap, path::PathBuf};

use scenario_operator::{
    api::v1alpha1::{Environment, RestartPolicy, Runtime},
    operator::render::{self, RunRef},
    plan::action::{ResolvedHealthcheck, StartMz},
};

use super::*;

const UID: &str = "0b5e1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b";
/// A JWT-shaped license key (header.payload.signature, base64url).
const LICENSE: &str = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl";

fn start(tag: &str) -> StartMz {
    StartMz {
        mz_service: "mz-1".into(),
        tag: tag.parse().unwrap(),
        deploy_generation: Some(1),
        system_parameter_defaults: BTreeMap::new(),
        system_parameter_version: tag.parse().unwrap(),
        environment_extra: vec![],
        healthcheck: ResolvedHealthcheck {
            path: "/api/readyz".into(),
            port: 6878,
        },
        restart: RestartPolicy::No,
        force_migrations: Some("all".into()),
        publish: None,
        expect_failure: false,
    }
}

/// A directory of its own per test: the files the pod would have mounted.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mzsim-strict-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the pod of `start` in `env` would run: its arguments and environment, with the
/// Secret's values and the mounted files in `dir`.
fn pod_of(
    env: &Environment,
    s: &StartMz,
    dir: &std::path::Path,
) -> (Vec<String>, BTreeMap<String, String>) {
    let run = RunRef {
        name: "r",
        namespace: "ns",
        uid: UID,
        spec_env: env,
    };
    let sts = render::statefulset(&run, s, 1);
    let container = &sts.spec.template.spec.as_ref().unwrap().containers[0];
    let listeners = dir.join("listeners.json");
    if let Some(data) = render::listeners_configmap(&run, s).data
        && let Some(json) = data.get("listeners.json")
    {
        std::fs::write(&listeners, json).unwrap();
    }
    let license = dir.join("license_key");
    std::fs::write(&license, LICENSE).unwrap();
    let secret = BTreeMap::from([
        ("metadata_backend_url", "postgres://u@h/db"),
        (
            "persist_backend_url",
            "s3://k:s@persist/p?endpoint=http://127.0.0.1:9&region=r",
        ),
    ]);
    let mut vars = BTreeMap::new();
    for v in container.env.iter().flatten() {
        let from = v.value_from.as_ref();
        let value = match (&v.value, from.and_then(|f| f.secret_key_ref.as_ref())) {
            (Some(value), _) => value.clone(),
            (None, Some(key)) => secret[key.key.as_str()].to_string(),
            (None, None) => "r-mz-1-0".into(),
        };
        vars.insert(v.name.clone(), value);
    }
    if vars.contains_key("MZ_LICENSE_KEY") {
        vars.insert("MZ_LICENSE_KEY".into(), license.display().to_string());
    }
    let path = format!("--listeners-config-path={}", listeners.display());
    let args = container
        .args
        .clone()
        .unwrap()
        .into_iter()
        .map(|a| {
            if a.starts_with("--listeners-config-path=") {
                path.clone()
            } else {
                a
            }
        })
        .collect();
    (args, vars)
}

fn boots(
    image: Image,
    tag: &str,
    args: &[String],
    env: BTreeMap<String, String>,
) -> Result<(), Refusal> {
    check(image, &tag.parse().unwrap(), args, env).map(drop)
}

#[test]
fn what_the_operator_renders_boots_every_version_family_on_both_runtimes() {
    let families = [
        "v0.146.0",
        "v0.147.18",
        "v0.164.1",
        "v26.1.0",
        "v26.12.0",
        "v26.32.0-dev.0",
        "v26.40.0",
    ];
    for (runtime, image) in [
        (Runtime::Kubernetes, Image::Environmentd),
        (Runtime::Emulator, Image::Materialized),
    ] {
        let env = Environment {
            runtime: Some(runtime),
            backend_secret_name: Some("backend".into()),
            ..Default::default()
        };
        for tag in families {
            let dir = scratch(&format!("{runtime:?}-{tag}"));
            let (args, vars) = pod_of(&env, &start(tag), &dir);
            assert_eq!(
                boots(image, tag, &args, vars),
                Ok(()),
                "{runtime:?} {tag}: {args:?}"
            );
        }
    }
}

/// The kubernetes pod of v26.2.0, to break one thing at a time.
fn good(test: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let env = Environment {
        backend_secret_name: Some("backend".into()),
        ..Default::default()
    };
    pod_of(&env, &start("v26.2.0"), &scratch(test))
}

fn refusal(args: Vec<String>, env: BTreeMap<String, String>) -> Refusal {
    boots(Image::Environmentd, "v26.2.0", &args, env).expect_err("must not boot")
}

fn without(args: &[String], prefix: &str) -> Vec<String> {
    args.iter()
        .filter(|a| !a.starts_with(prefix))
        .cloned()
        .collect()
}

fn replaced(args: &[String], prefix: &str, with: &str) -> Vec<String> {
    args.iter()
        .map(|a| {
            if a.starts_with(prefix) {
                with.to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

#[test]
fn an_environment_id_environmentd_rejects_is_a_usage_error() {
    let (args, env) = good("an_environment_id_environmentd_rejects_is_a_usage_error");
    let bad = format!("--environment-id=scenariorun-ns-{UID}-0");
    let r = refusal(replaced(&args, "--environment-id=", &bad), env);
    assert_eq!(r.code, EXIT_USAGE);
    assert!(
        r.message.starts_with(&format!(
            "error: invalid value 'scenariorun-ns-{UID}-0' for '--environment-id \
         <<CLOUD>-<REGION>-<ORG-ID>-<ORDINAL>>': invalid environment ID"
        )),
        "{}",
        r.message
    );
}

#[test]
fn the_kubernetes_orchestrator_needs_a_clusterd_image_and_sizes() {
    let (args, env) = good("the_kubernetes_orchestrator_needs_a_clusterd_image_and_sizes");
    let args = without(
        &without(&args, "--clusterd-image="),
        "--cluster-replica-sizes=",
    );
    let r = refusal(args, env);
    assert_eq!(r.code, EXIT_USAGE);
    assert_eq!(
        r.message,
        "error: the following required arguments were not provided:\n  \
         --clusterd-image <CLUSTERD_IMAGE>\n  --cluster-replica-sizes <CLUSTER_REPLICA_SIZES>"
    );
}

#[test]
fn a_clusterd_image_not_org_name_version_is_fatal() {
    let (args, env) = good("a_clusterd_image_not_org_name_version_is_fatal");
    let r = refusal(
        replaced(&args, "--clusterd-image=", "--clusterd-image=clusterd"),
        env,
    );
    assert_eq!(r.code, EXIT_FATAL);
    assert!(
        r.message.contains("`image` is not ORG/NAME:VERSION"),
        "{}",
        r.message
    );
}

#[test]
fn a_bootstrap_size_missing_from_the_map_is_fatal() {
    let (args, env) = good("a_bootstrap_size_missing_from_the_map_is_fatal");
    let args = replaced(
        &args,
        "--bootstrap-builtin-probe-cluster-replica-size=",
        "--bootstrap-builtin-probe-cluster-replica-size=25cc",
    );
    let r = refusal(args, env);
    assert_eq!(r.code, EXIT_FATAL);
    assert!(
        r.message.contains("unknown cluster replica size '25cc'"),
        "{}",
        r.message
    );
    let (args, env) = good("a_bootstrap_size_missing_from_the_map_is_fatal");
    let sizes = r#"--cluster-replica-sizes={"scale=1,workers=1":{"workers":1,"scale":1,"credits_per_hour":1}}"#;
    let r = refusal(replaced(&args, "--cluster-replica-sizes=", sizes), env);
    assert!(
        r.message
            .starts_with("environmentd: fatal: parsing replica size map: invalid type"),
        "{}",
        r.message
    );
}

#[test]
fn the_license_key_is_required_on_kubernetes_and_must_look_like_one() {
    let (args, mut env) = good("the_license_key_is_required_on_kubernetes_and_must_look_like_one");
    let path = env.remove("MZ_LICENSE_KEY").unwrap();
    let r = refusal(args.clone(), env.clone());
    assert_eq!(r.code, EXIT_FATAL);
    assert_eq!(
        r.message,
        "environmentd: fatal: --license-key is required when running in Kubernetes"
    );
    std::fs::write(&path, "not a key").unwrap();
    env.insert("MZ_LICENSE_KEY".into(), path.clone());
    let r = refusal(args, env);
    assert!(
        r.message.contains("failed to validate license key file"),
        "{}",
        r.message
    );
    std::fs::write(&path, LICENSE).unwrap();
}

#[test]
fn versions_refuse_flags_they_do_not_have() {
    let (mut args, env) = good("versions_refuse_flags_they_do_not_have");
    args.push("--disable-license-key-checks".into());
    let r = refusal(args, env);
    assert_eq!(r.code, EXIT_USAGE);
    assert!(
        r.message
            .contains("unexpected argument '--disable-license-key-checks'"),
        "{}",
        r.message
    );
}

#[test]
fn listeners_without_routes_or_with_roleless_route_groups_are_fatal() {
    let dir = scratch("listeners");
    let (args, env) = good("listeners_without_routes_or_with_roleless_route_groups_are_fatal");
    let file = dir.join("old.json");
    std::fs::write(&file, r#"{"sql":{},"http":{"x":{"addr":"0.0.0.0:1","authenticator_kind":"None","allowed_roles":"Normal","enable_tls":false}}}"#).unwrap();
    let path = format!("--listeners-config-path={}", file.display());
    let r = refusal(
        replaced(&args, "--listeners-config-path=", &path),
        env.clone(),
    );
    assert_eq!(r.code, EXIT_FATAL);
    assert!(
        r.message.contains("missing field `routes`"),
        "{}",
        r.message
    );

    let env32 = Environment {
        backend_secret_name: Some("backend".into()),
        ..Default::default()
    };
    let (args, env) = pod_of(&env32, &start("v26.32.0"), &scratch("groups"));
    let listeners = args
        .iter()
        .find_map(|a| a.strip_prefix("--listeners-config-path="))
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(&listeners).unwrap();
    let broken = text
        .replacen(r#""allowed_roles":"NormalAndInternal""#, "", 1)
        .replace(",}", "}")
        .replace("{,", "{");
    std::fs::write(&listeners, broken).unwrap();
    let r = boots(Image::Environmentd, "v26.32.0", &args, env).expect_err("must not boot");
    assert!(
        r.message.contains("requires `allowed_roles`"),
        "{}",
        r.message
    );
}

#[test]
fn the_metadata_url_conflicts_with_the_consensus_url_the_emulator_image_exports() {
    let env = Environment {
        runtime: Some(Runtime::Emulator),
        backend_secret_name: Some("backend".into()),
        ..Default::default()
    };
    let (args, mut vars) = pod_of(&env, &start("v26.2.0"), &scratch("conflict"));
    vars.insert("MZ_METADATA_BACKEND_URL".into(), "postgres://u@h/db".into());
    let r = boots(Image::Materialized, "v26.2.0", &args, vars.clone()).expect_err("conflict");
    assert_eq!(r.code, EXIT_USAGE);
    assert!(
        r.message
            .contains("'--metadata-backend-url <METADATA_BACKEND_URL>' cannot be used with"),
        "{}",
        r.message
    );
    vars.remove("MZ_METADATA_BACKEND_URL");
    vars.remove("MZ_NO_BUILTIN_POSTGRES");
    let r = boots(Image::Materialized, "v26.2.0", &args, vars).expect_err("built-in postgres");
    assert!(
        r.message.contains("MZ_NO_BUILTIN_POSTGRES=1"),
        "{}",
        r.message
    );
}

#[test]
fn the_environmentd_image_with_the_process_orchestrator_needs_its_directories() {
    let (args, env) =
        good("the_environmentd_image_with_the_process_orchestrator_needs_its_directories");
    let args = replaced(&args, "--orchestrator=", "--orchestrator=process");
    let r = refusal(args, env);
    assert!(
        r.message
            .contains("--orchestrator-process-secrets-directory"),
        "{}",
        r.message
    );
}

#[test]
fn a_clusterd_image_of_another_version_is_refused() {
    let (args, env) = good("a_clusterd_image_of_another_version_is_refused");
    let args = replaced(
        &args,
        "--clusterd-image=",
        "--clusterd-image=materialize/clusterd:v26.1.0",
    );
    let r = refusal(args, env);
    assert!(
        r.message.contains("is not environmentd's version v26.2.0"),
        "{}",
        r.message
    );
}

#[test]
fn the_kubernetes_orchestrators_options_name_the_runs_replica() {
    let (args, env) = good("the_kubernetes_orchestrators_options_name_the_runs_replica");
    let booted = check(Image::Environmentd, &"v26.2.0".parse().unwrap(), &args, env).unwrap();
    let o = booted.kubernetes.expect("the kubernetes orchestrator");
    assert_eq!(o.replica_name(), "sr-0b5e1a2c-cluster-u1-replica-u1-gen-1");
    assert_eq!(
        o.labels.get("mzcheck.dev/run").map(String::as_str),
        Some("r")
    );
    assert_eq!(o.service_account.as_deref(), Some("r-environmentd"));
    assert_eq!(o.image, "materialize/clusterd:v26.2.0");
    assert_eq!(
        (o.pull_policy.as_str(), o.fs_group),
        ("IfNotPresent", Some(999))
    );
}

#[test]
fn a_file_blob_store_is_refused() {
    let (args, mut env) = good("a_file_blob_store_is_refused");
    env.insert(
        "MZ_PERSIST_BLOB_URL".into(),
        "file:///tmp/mzsim-blob".into(),
    );
    let r = refusal(args, env);
    assert_eq!(r.code, EXIT_FATAL);
    assert!(r.message.contains("this pod's own disk"), "{}", r.message);
}
