//! The committed CRDs match the code, and the CEL rules in them accept and refuse what they
//! should (evaluated client-side with kube's CEL validator; the real apiserver is the e2e's job).

use kube::core::cel::{validate_cel, validate_cel_update};
use scenario_operator::api::{
    crd,
    v1alpha1::{ScenarioRun, ScenarioRunSpec},
};

fn run(spec: serde_json::Value) -> ScenarioRun {
    let spec: ScenarioRunSpec = serde_json::from_value(spec).unwrap();
    ScenarioRun::new("fixture-run", spec)
}

fn base() -> serde_json::Value {
    serde_json::json!({
        "scenario": "NoRestartNoUpgrade",
        "versions": {"current": "v26.1.0"},
        "environment": {"backendSecretName": "backend"}
    })
}

#[test]
fn committed_crds_match_the_generated_ones() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut committed: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    committed.sort();
    let generated = crd::all();
    let names: Vec<_> = generated.iter().map(crd::file_name).collect();
    assert_eq!(committed, names, "crds/ holds one file per CRD");
    for c in &generated {
        let on_disk = std::fs::read_to_string(dir.join(crd::file_name(c))).unwrap();
        assert_eq!(
            on_disk,
            crd::to_yaml(c).unwrap(),
            "crds/{} is stale: run `cargo run -- crd --out-dir crds`",
            crd::file_name(c)
        );
    }
}

#[test]
fn crd_names_and_columns() {
    let c = &crd::all()[0];
    assert_eq!(c.metadata.name.as_deref(), Some("scenarioruns.mzcheck.dev"));
    assert_eq!(
        c.spec.names.short_names.as_deref(),
        Some(&["sr".to_string()][..])
    );
    let version = &c.spec.versions[0];
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<_> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Phase", "Step", "Action", "Version", "Downtime", "Age"]
    );
}

#[test]
fn every_spec_field_is_documented() {
    // `kubectl explain` shows these descriptions; walk the whole spec schema.
    fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, sub) in props {
                let p = format!("{path}.{name}");
                if sub.get("description").is_none() {
                    missing.push(p.clone());
                }
                walk(&p, sub, missing);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(&format!("{path}[]"), items, missing);
        }
    }
    let c = serde_json::to_value(&crd::all()[0]).unwrap();
    let spec = &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut missing = Vec::new();
    walk("spec", spec, &mut missing);
    // Kubernetes' own types (EnvVar, ResourceRequirements) bring their own descriptions.
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}

#[test]
fn valid_runs_pass_cel() {
    validate_cel(&run(base())).unwrap();
    let mut explicit = base();
    explicit.as_object_mut().unwrap().remove("scenario");
    explicit["actions"] = serde_json::json!([
        {"action": "StartMz", "tag": "current", "mzService": "mz-1"},
        {"action": "Manipulate", "phase": 1},
        {"action": "SystemVarChange", "name": "max_tables", "value": "10"},
        {"action": "Sleep", "duration": "1s"}
    ]);
    validate_cel(&run(explicit)).unwrap();
}

#[test]
fn exactly_one_of_scenario_and_actions() {
    let mut both = base();
    both["actions"] = serde_json::json!([{"action": "StartMz"}]);
    let err = validate_cel(&run(both)).unwrap_err();
    assert!(
        format!("{err:?}").contains("set exactly one of scenario or actions"),
        "{err:?}"
    );
    let mut neither = base();
    neither.as_object_mut().unwrap().remove("scenario");
    assert!(validate_cel(&run(neither)).is_err());
}

#[test]
fn misplaced_and_missing_parameters_are_refused() {
    let with = |actions: serde_json::Value| {
        let mut spec = base();
        spec.as_object_mut().unwrap().remove("scenario");
        spec["actions"] = actions;
        validate_cel(&run(spec))
    };
    let err = with(serde_json::json!([{"action": "KillMz", "phase": 1}])).unwrap_err();
    assert!(
        format!("{err:?}").contains("phase is only a parameter of Manipulate"),
        "{err:?}"
    );
    let err = with(serde_json::json!([{"action": "Manipulate"}])).unwrap_err();
    assert!(
        format!("{err:?}").contains("Manipulate requires phase"),
        "{err:?}"
    );
    let err = with(serde_json::json!([{"action": "Sleep", "mzService": "x", "duration": "1s"}]))
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("mzService is only a parameter of"),
        "{err:?}"
    );
}

#[test]
fn timeout_keys_must_be_action_names() {
    let mut spec = base();
    spec["timeouts"] = serde_json::json!({"actions": {"WaitReadyMz": "5m"}});
    validate_cel(&run(spec.clone())).unwrap();
    spec["timeouts"] = serde_json::json!({"actions": {"WaitReady": "5m"}});
    let err = validate_cel(&run(spec)).unwrap_err();
    assert!(
        format!("{err:?}").contains("keys must be action names"),
        "{err:?}"
    );
}

#[test]
fn spec_is_immutable() {
    let old = run(base());
    validate_cel_update(&old.clone(), &old).unwrap();
    let mut changed = base();
    changed["scenario"] = "RestartEntireMz".into();
    let err = validate_cel_update(&run(changed), &old).unwrap_err();
    assert!(format!("{err:?}").contains("spec is immutable"), "{err:?}");
}
