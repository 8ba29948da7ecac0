//! The Kubernetes half of [`Context`]: every call under a time limit, every write under the one
//! field manager, and every failure typed as a [`KubeError`] naming the call.

use std::{future::Future, time::Duration};

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::{ConfigMap, Pod, Secret, Service, ServiceAccount},
    rbac::v1::RoleBinding,
};
use kube::{
    Api, Resource,
    api::{DeleteParams, ListParams, LogParams, PartialObjectMeta, Patch, PatchParams, PostParams},
    runtime::events::Event,
};
use serde_json::json;
use tracing::warn;

use super::{context::Context, error::KubeError, io::Kube, outcome::EventNote};
use crate::{
    api::{
        FIELD_MANAGER, names,
        v1alpha1::{ScenarioRun, ScenarioRunStatus},
    },
    operator::render::PERSIST_KEY,
    plan::environment::SecretView,
    truncate_at_char,
};

/// Lifetime of the token that acts as a run's environmentd account (the apiserver's minimum).
const ACCOUNT_TOKEN_SECONDS: i64 = 600;
/// Time limit of one Kubernetes API call (kube-rs sets none of its own).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of each log (current, previous) a KillMz keeps: two fit a ConfigMap's 1 MiB.
const LOG_TAIL_BYTES: i64 = 400 * 1024;
/// Longest Event note the apiserver keeps (it refuses longer ones).
const EVENT_NOTE_MAX: usize = 1024;

/// Runs one API call under [`CALL_TIMEOUT`], naming it in the error.
async fn call<T>(
    what: impl Fn() -> String,
    f: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeError> {
    let described = what();
    let mut words = described.split(' ');
    let (verb, resource) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    super::metrics::api_call(verb, resource);
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(KubeError::from_kube(what(), e)),
        Err(_) => Err(KubeError::Timeout {
            call: what(),
            limit: CALL_TIMEOUT,
        }),
    }
}

/// Server-side apply under our field manager, forced: these objects are ours alone.
fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Other patches, still under our field manager so `managedFields` says who changed what.
fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

fn name_of(meta: &kube::core::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

impl Context {
    fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn apply<K>(&self, ns: &str, obj: &K) -> Result<(), KubeError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let name = name_of(obj.meta());
        let what = || format!("apply {} {ns}/{name}", K::kind(&Default::default()));
        call(
            what,
            self.api::<K>(ns)
                .patch(&name, &apply_params(), &Patch::Apply(obj)),
        )
        .await?;
        Ok(())
    }
}

impl Kube for Context {
    async fn run(&self, ns: &str, name: &str) -> Result<Option<ScenarioRun>, KubeError> {
        let what = || format!("get ScenarioRun {ns}/{name}");
        call(what, self.api::<ScenarioRun>(ns).get_opt(name)).await
    }

    /// Merge patch of the whole status: `steps` is an atomic list either way, and a merge
    /// patch needs no apiVersion/kind wrapper.
    async fn write_status(
        &self,
        run: &ScenarioRun,
        status: &ScenarioRunStatus,
    ) -> Result<Option<String>, KubeError> {
        let ns = run.metadata.namespace.clone().unwrap_or_default();
        let name = name_of(&run.metadata);
        let patch = json!({
            "metadata": {"resourceVersion": run.metadata.resource_version},
            "status": status,
        });
        let what = || format!("write status of ScenarioRun {ns}/{name}");
        let api = self.api::<ScenarioRun>(&ns);
        self.writing(&ns, &name);
        let written = call(
            what,
            api.patch_status(&name, &patch_params(), &Patch::Merge(&patch)),
        )
        .await?;
        if let Some(v) = &written.metadata.resource_version {
            self.wrote(&ns, &name, v);
        }
        Ok(written.metadata.resource_version)
    }

    fn is_own_last_write(&self, cached: &ScenarioRun) -> bool {
        let ns = cached.metadata.namespace.as_deref().unwrap_or_default();
        let v = cached.metadata.resource_version.as_deref();
        v.is_some() && self.last_write(ns, &name_of(&cached.metadata)).as_deref() == v
    }

    async fn publish(&self, run: &ScenarioRun, event: &EventNote) {
        let mut note = event.note.clone();
        truncate_at_char(&mut note, EVENT_NOTE_MAX);
        let e = Event {
            type_: event.type_,
            reason: event.reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        let reference = run.object_ref(&());
        match tokio::time::timeout(CALL_TIMEOUT, self.recorder.publish(&e, &reference)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, reason = event.reason, "cannot publish event"),
            Err(_) => warn!(reason = event.reason, "publishing an event timed out"),
        }
    }

    /// Reads the Secret only to take its key names and the scheme of its blob URL; the values
    /// are dropped here, never logged or returned.
    async fn backend_secret(&self, ns: &str, name: &str) -> Result<SecretView, KubeError> {
        let what = || format!("get Secret {ns}/{name}");
        let secret = match call(what, self.api::<Secret>(ns).get_opt(name)).await {
            Err(KubeError::Api { code: 403, .. }) => return Ok(SecretView::NotPermitted),
            Err(e) => return Err(e),
            Ok(None) => return Ok(SecretView::Missing),
            Ok(Some(s)) => s,
        };
        let data = secret.data.unwrap_or_default();
        let blob_scheme = data.get(PERSIST_KEY).and_then(|v| {
            let text = std::str::from_utf8(&v.0).ok()?;
            text.split_once("://").map(|(scheme, _)| scheme.to_string())
        });
        Ok(SecretView::Keys {
            keys: data.into_keys().collect(),
            blob_scheme,
        })
    }

    async fn apply_access(
        &self,
        ns: &str,
        sa: &ServiceAccount,
        rb: &RoleBinding,
    ) -> Result<(), KubeError> {
        self.apply(ns, sa).await?;
        self.apply(ns, rb).await
    }

    async fn apply_start(
        &self,
        ns: &str,
        cm: &ConfigMap,
        svc: &Service,
        sts: &StatefulSet,
    ) -> Result<(), KubeError> {
        self.apply(ns, cm).await?;
        self.apply(ns, svc).await?;
        self.apply(ns, sts).await
    }

    async fn statefulset(&self, ns: &str, name: &str) -> Result<Option<StatefulSet>, KubeError> {
        let what = || format!("get StatefulSet {ns}/{name}");
        call(what, self.api::<StatefulSet>(ns).get_opt(name)).await
    }

    async fn pod(&self, ns: &str, name: &str) -> Result<Option<Pod>, KubeError> {
        let what = || format!("get Pod {ns}/{name}");
        call(what, self.api::<Pod>(ns).get_opt(name)).await
    }

    async fn scale_to_zero(&self, ns: &str, sts: &str) -> Result<(), KubeError> {
        let patch = json!({"spec": {"replicas": 0}});
        let what = || format!("scale StatefulSet {ns}/{sts} to 0");
        let api = self.api::<StatefulSet>(ns);
        call(what, api.patch(sts, &patch_params(), &Patch::Merge(&patch))).await?;
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        let pod = names::pod_of(sts);
        let what = || format!("delete Pod {ns}/{pod}");
        ignore_missing(call(what, self.api::<Pod>(ns).delete(&pod, &dp)).await)
    }

    async fn logs(&self, ns: &str, pod: &str) -> Result<Vec<(String, String)>, KubeError> {
        let pods = self.api::<Pod>(ns);
        let mut out = Vec::new();
        for (key, previous) in [("current.log", false), ("previous.log", true)] {
            let lp = LogParams {
                previous,
                limit_bytes: Some(LOG_TAIL_BYTES),
                ..Default::default()
            };
            let what = || format!("read logs of Pod {ns}/{pod}");
            // A container that never restarted has no previous log: that is not an error.
            if let Ok(text) = call(what, pods.logs(pod, &lp)).await {
                out.push((key.to_string(), text));
            }
        }
        Ok(out)
    }

    async fn apply_configmap(&self, ns: &str, cm: &ConfigMap) -> Result<(), KubeError> {
        self.apply(ns, cm).await
    }

    /// A strategic merge patch, not an apply: an adopted StatefulSet is someone else's, and
    /// applying would take ownership of fields we only mean to change once.
    async fn set_image(
        &self,
        ns: &str,
        sts: &str,
        container: &str,
        image: &str,
        args: Option<&[String]>,
    ) -> Result<(), KubeError> {
        let mut change = json!({"name": container, "image": image});
        if let Some(args) = args {
            change["args"] = json!(args);
        }
        let patch = json!({"spec": {"template": {"spec": {"containers": [change]}}}});
        let what = || format!("set the image of StatefulSet {ns}/{sts}");
        let api = self.api::<StatefulSet>(ns);
        call(
            what,
            api.patch(sts, &patch_params(), &Patch::Strategic(&patch)),
        )
        .await?;
        Ok(())
    }

    async fn configmap(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, KubeError> {
        let what = || format!("get ConfigMap {ns}/{name}");
        call(what, self.api::<ConfigMap>(ns).get_opt(name)).await
    }

    async fn frozen_configmap(
        &self,
        ns: &str,
        name: &str,
        owner: &str,
    ) -> Result<Option<ConfigMap>, KubeError> {
        let key = (ns.to_string(), name.to_string(), owner.to_string());
        if let Some(cm) = self.frozen.get(&key) {
            return Ok(Some(cm));
        }
        let cm = self.configmap(ns, name).await?;
        if let Some(cm) = &cm {
            let owned = cm
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == owner);
            if cm.immutable == Some(true) && owned {
                self.frozen.insert(key, cm.clone());
            }
        }
        Ok(cm)
    }

    async fn configmaps(&self, ns: &str, selector: &str) -> Result<Vec<ConfigMap>, KubeError> {
        let lp = ListParams::default().labels(selector);
        let what = || format!("list ConfigMaps in {ns} matching {selector}");
        Ok(call(what, self.api::<ConfigMap>(ns).list(&lp)).await?.items)
    }

    async fn delete_run_objects(&self, ns: &str, run: &str) -> Result<(), KubeError> {
        let selector = format!("{}={run}", names::run_label());
        let lp = ListParams::default().labels(&selector);
        let dp = DeleteParams::background();
        let what = || format!("delete StatefulSets of run {ns}/{run}");
        call(
            what,
            self.api::<StatefulSet>(ns).delete_collection(&dp, &lp),
        )
        .await?;
        let services = self.api::<Service>(ns);
        let what = || format!("list Services of run {ns}/{run}");
        for s in call(what, services.list(&lp)).await? {
            let name = name_of(&s.metadata);
            let what = || format!("delete Service {ns}/{name}");
            ignore_missing(call(what, services.delete(&name, &dp)).await)?;
        }
        // environmentd's account; a run that names its own has none of ours (404).
        let account = names::environmentd_account(run);
        let what = || format!("delete RoleBinding {ns}/{account}");
        ignore_missing(call(what, self.api::<RoleBinding>(ns).delete(&account, &dp)).await)?;
        let what = || format!("delete ServiceAccount {ns}/{account}");
        ignore_missing(call(what, self.api::<ServiceAccount>(ns).delete(&account, &dp)).await)?;
        Ok(())
    }

    async fn delete_environmentd_secrets(
        &self,
        ns: &str,
        account: &str,
        prefix: &str,
    ) -> Result<Option<usize>, KubeError> {
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(ACCOUNT_TOKEN_SECONDS),
                ..Default::default()
            }),
            ..Default::default()
        };
        let what = || format!("create a token for ServiceAccount {ns}/{account}");
        let sa = self.api::<ServiceAccount>(ns);
        let token = match call(
            what,
            sa.create_token_request(account, &PostParams::default(), &request),
        )
        .await
        {
            Err(KubeError::Api { code: 404, .. }) => return Ok(None),
            r => r?.status.and_then(|s| s.token).unwrap_or_default(),
        };
        // Our connection, environmentd's identity: no client certificate, no impersonation.
        let mut config = self.config.clone();
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.into()),
            ..Default::default()
        };
        let what = || format!("connect as ServiceAccount {ns}/{account}");
        let client = kube::Client::try_from(config).map_err(|e| KubeError::from_kube(what(), e))?;
        // Metadata only: the apiserver leaves the data out, so no value reaches the operator.
        let secrets: Api<PartialObjectMeta<Secret>> = Api::namespaced(client, ns);
        let what = || format!("list Secret names in {ns} as {account}");
        let list = call(what, secrets.list_metadata(&ListParams::default())).await?;
        let mut deleted = 0;
        for name in list.items.iter().map(|s| name_of(&s.metadata)) {
            if !name.starts_with(prefix) {
                continue;
            }
            let what = || format!("delete Secret {ns}/{name} as {account}");
            ignore_missing(call(what, secrets.delete(&name, &DeleteParams::background())).await)?;
            deleted += 1;
        }
        Ok(Some(deleted))
    }

    async fn set_finalizers(
        &self,
        run: &ScenarioRun,
        finalizers: &[String],
    ) -> Result<(), KubeError> {
        let ns = run.metadata.namespace.clone().unwrap_or_default();
        let name = name_of(&run.metadata);
        // The resourceVersion makes it a compare-and-swap: another writer's finalizer is never
        // lost to ours.
        let patch = json!({ "metadata": {
            "finalizers": finalizers,
            "resourceVersion": run.metadata.resource_version,
        }});
        let what = || format!("set the finalizers of ScenarioRun {ns}/{name}");
        let api = self.api::<ScenarioRun>(&ns);
        self.writing(&ns, &name);
        let written = call(
            what,
            api.patch(&name, &patch_params(), &Patch::Merge(&patch)),
        )
        .await?;
        // Our write too: a cached copy from before it is not the run as it stands.
        if let Some(v) = &written.metadata.resource_version {
            self.wrote(&ns, &name, v);
        }
        Ok(())
    }
}

/// A delete that found nothing to delete did what it was for.
fn ignore_missing<T>(r: Result<T, KubeError>) -> Result<(), KubeError> {
    match r {
        Err(KubeError::Api { code: 404, .. }) | Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}
