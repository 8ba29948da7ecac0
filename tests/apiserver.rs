//! The CRD against a real kube-apiserver (`e2e/cluster up`): it is accepted and established,
//! the examples are accepted, and the schema and CEL rules refuse bad specs with their messages.
//! Ignored by a plain `cargo test`; `./test` brings the cluster up and runs these.

use std::time::Duration;

use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::wait::{await_condition, conditions},
};
use scenario_operator::{
    api::{
        FIELD_MANAGER,
        v1alpha1::{RunPhase, ScenarioRun, ScenarioRunStatus},
    },
    manifest,
};

async fn client() -> Client {
    Client::try_default()
        .await
        .expect("KUBECONFIG points at the local cluster")
}

/// Installs crds/ by server-side apply, as the e2e suite and users do, and waits until served.
async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let crd: CustomResourceDefinition = serde_saphyr::from_str(&text).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        let established = await_condition(crds.clone(), &name, conditions::is_crd_established());
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .unwrap()
            .unwrap();
    }
}

/// A fresh namespace for one test, so tests never see each other's objects.
async fn namespace(client: &Client, name: &str) -> Api<ScenarioRun> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(name, &DeleteParams::default()).await;
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    // A namespace being deleted from an earlier run refuses creation for a while.
    let created = async {
        while namespaces
            .create(&PostParams::default(), &ns)
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), created)
        .await
        .expect("namespace created");
    Api::namespaced(client.clone(), name)
}

fn example(name: &str) -> ScenarioRun {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    manifest::parse(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .run
}

/// The apiserver's refusal message for creating `run`.
async fn refusal(runs: &Api<ScenarioRun>, run: &ScenarioRun) -> String {
    match runs.create(&PostParams::default(), run).await {
        Ok(_) => panic!("{:?} was accepted", run.metadata.name),
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            status.message
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
#[ignore = "needs the local control plane: e2e/cluster up, then e2e/cluster exec"]
async fn examples_are_accepted_and_status_is_a_subresource() {
    let client = client().await;
    install_crds(&client).await;
    let runs = namespace(&client, "crd-accept").await;
    for file in ["zero-downtime-upgrade.yaml", "custom-actions.yaml"] {
        let run = example(file);
        let created = runs.create(&PostParams::default(), &run).await.unwrap();
        assert_eq!(
            created.spec, run.spec,
            "{file}: the apiserver kept the spec as sent"
        );
    }
    // Status is written through its own subresource, with the operator's field manager.
    let status = ScenarioRunStatus {
        phase: Some(RunPhase::Running),
        progress: Some("1/13".into()),
        ..Default::default()
    };
    let patch = serde_json::json!({
        "apiVersion": "mzcheck.dev/v1alpha1", "kind": "ScenarioRun", "status": status
    });
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    runs.patch_status("zdt-upgrade", &pp, &Patch::Apply(&patch))
        .await
        .unwrap();
    let read = runs.get("zdt-upgrade").await.unwrap();
    assert_eq!(read.status.unwrap().progress.as_deref(), Some("1/13"));
}

#[tokio::test]
#[ignore = "needs the local control plane: e2e/cluster up, then e2e/cluster exec"]
async fn schema_and_cel_refuse_bad_specs() {
    let client = client().await;
    install_crds(&client).await;
    let runs = namespace(&client, "crd-refuse").await;
    let mut run = example("custom-actions.yaml");
    run.metadata.name = Some("bad".into());

    let mut both = run.clone();
    both.spec.scenario = Some("NoRestartNoUpgrade".into());
    assert!(
        refusal(&runs, &both)
            .await
            .contains("set exactly one of scenario or actions")
    );

    let mut misplaced = run.clone();
    misplaced.spec.actions.as_mut().unwrap()[0].phase = Some(1);
    let msg = refusal(&runs, &misplaced).await;
    assert!(
        msg.contains("spec.actions[0]") && msg.contains("phase is only a parameter of Manipulate"),
        "{msg}"
    );

    let mut missing = run.clone();
    missing.spec.actions.as_mut().unwrap()[2].phase = None;
    let msg = refusal(&runs, &missing).await;
    assert!(msg.contains("Manipulate requires phase"), "{msg}");

    let mut out_of_range = run.clone();
    out_of_range.spec.actions.as_mut().unwrap()[2].phase = Some(3);
    let msg = refusal(&runs, &out_of_range).await;
    assert!(
        msg.contains("spec.actions[2].phase") && msg.contains("less than or equal to 2"),
        "{msg}"
    );

    let mut bad_version = run.clone();
    bad_version.spec.versions.current = "26.2".into();
    let msg = refusal(&runs, &bad_version).await;
    assert!(
        msg.contains("spec.versions.current") && msg.contains("should match"),
        "{msg}"
    );

    let mut bad_service = run.clone();
    bad_service.spec.actions.as_mut().unwrap()[0].mz_service = Some("mz_1".into());
    let msg = refusal(&runs, &bad_service).await;
    assert!(msg.contains("spec.actions[0].mzService"), "{msg}");

    let mut bad_timeout = run.clone();
    bad_timeout
        .spec
        .timeouts
        .actions
        .insert("WaitReady".into(), "1m".parse().unwrap());
    let msg = refusal(&runs, &bad_timeout).await;
    assert!(msg.contains("keys must be action names"), "{msg}");
}

#[tokio::test]
#[ignore = "needs the local control plane: e2e/cluster up, then e2e/cluster exec"]
async fn spec_cannot_change_after_creation() {
    let client = client().await;
    install_crds(&client).await;
    let runs = namespace(&client, "crd-immutable").await;
    let run = example("zero-downtime-upgrade.yaml");
    runs.create(&PostParams::default(), &run).await.unwrap();
    let patch = serde_json::json!({"spec": {"scenario": "UpgradeEntireMz"}});
    let err = runs
        .patch(
            "zdt-upgrade",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("unexpected error: {err}")
    };
    assert!(status.message.contains("spec is immutable"), "{status:?}");
    // Metadata stays editable (labels for selection, finalizers for the operator).
    let labels = serde_json::json!({"metadata": {"labels": {"team": "db"}}});
    runs.patch(
        "zdt-upgrade",
        &PatchParams::default(),
        &Patch::Merge(&labels),
    )
    .await
    .unwrap();
}
