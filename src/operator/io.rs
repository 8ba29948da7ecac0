//! Everything the actions do to the outside world, behind one trait: the Kubernetes API and
//! environmentd's leader API and SQL. The operator's [`super::Context`] implements it for real;
//! the tests implement it with a scripted in-memory cluster, so every action and every crash
//! point can be exercised without a cluster.

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Pod, Service},
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, LogParams, Patch, PatchParams},
};
use serde_json::json;

use super::{
    Context, Error,
    clients::{self, LeaderStatus, PromoteAnswer},
};
use crate::{
    api::{
        FIELD_MANAGER,
        v1alpha1::{ScenarioRun, ScenarioRunStatus},
    },
    checks::runner::{Rows, SqlFailure},
};

/// Bytes of each log (current, previous) a KillMz keeps: two fit a ConfigMap's 1 MiB.
const LOG_TAIL_BYTES: i64 = 400 * 1024;

#[allow(async_fn_in_trait)]
pub trait Cluster: CheckSql {
    /// Whether environmentd is reached by pod IP rather than DNS name.
    fn pod_ip_addresses(&self) -> bool;
    /// Server-side applies a start's ConfigMap, Service and StatefulSet.
    async fn apply_start(
        &self,
        ns: &str,
        cm: &ConfigMap,
        svc: &Service,
        sts: &StatefulSet,
    ) -> Result<(), Error>;
    async fn statefulset(&self, ns: &str, name: &str) -> Result<Option<StatefulSet>, Error>;
    async fn pod(&self, ns: &str, name: &str) -> Result<Option<Pod>, Error>;
    /// Replicas to 0 and the pod deleted with grace period 0.
    async fn scale_to_zero(&self, ns: &str, sts: &str) -> Result<(), Error>;
    /// The pod's current and previous container logs (tails), keyed `current.log`/`previous.log`.
    async fn logs(&self, ns: &str, pod: &str) -> Result<Vec<(String, String)>, Error>;
    async fn apply_configmap(&self, ns: &str, cm: &ConfigMap) -> Result<(), Error>;
    /// Sets a StatefulSet container's image.
    async fn set_image(
        &self,
        ns: &str,
        sts: &str,
        container: &str,
        image: &str,
    ) -> Result<(), Error>;
    async fn leader_status(&self, host: &str) -> Option<LeaderStatus>;
    async fn promote(&self, host: &str) -> Result<PromoteAnswer, String>;
    async fn skip_catchup(&self, host: &str) -> Result<bool, String>;
    /// Runs statements as `materialize` (`system: false`) or `mz_system`, in order, in one session.
    async fn execute_sql(
        &self,
        host: &str,
        system: bool,
        statements: &[&str],
    ) -> Result<(), String>;
    async fn mz_version(&self, host: &str) -> Result<String, String>;
    async fn configmap(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, Error>;
    /// ConfigMaps matching a label selector (string form).
    async fn configmaps(&self, ns: &str, selector: &str) -> Result<Vec<ConfigMap>, Error>;
    /// Writes the run's whole status now (a write-ahead record before an unrepeatable act).
    async fn save_status(&self, run: &ScenarioRun, status: &ScenarioRunStatus)
    -> Result<(), Error>;
}

/// How check commands reach environmentd.
#[allow(async_fn_in_trait)]
pub trait CheckSql {
    /// One check command as `materialize` in the check's own session (kept between passes).
    async fn check_sql(&self, session: &str, host: &str, sql: &str) -> Result<Rows, SqlFailure>;
    /// testdrive's `$ postgres-execute`: a fresh connection, statements in order.
    async fn postgres_execute(&self, url: &str, statements: &[String]) -> Result<(), SqlFailure>;
    /// Closes a check's session.
    async fn end_session(&self, session: &str);
}

impl Cluster for Context {
    fn pod_ip_addresses(&self) -> bool {
        self.settings.pod_ip_addresses
    }

    async fn apply_start(
        &self,
        ns: &str,
        cm: &ConfigMap,
        svc: &Service,
        sts: &StatefulSet,
    ) -> Result<(), Error> {
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let name = |m: &kube::core::ObjectMeta| m.name.clone().unwrap_or_default();
        Api::<ConfigMap>::namespaced(self.client.clone(), ns)
            .patch(&name(&cm.metadata), &pp, &Patch::Apply(cm))
            .await?;
        Api::<Service>::namespaced(self.client.clone(), ns)
            .patch(&name(&svc.metadata), &pp, &Patch::Apply(svc))
            .await?;
        Api::<StatefulSet>::namespaced(self.client.clone(), ns)
            .patch(&name(&sts.metadata), &pp, &Patch::Apply(sts))
            .await?;
        Ok(())
    }

    async fn statefulset(&self, ns: &str, name: &str) -> Result<Option<StatefulSet>, Error> {
        Ok(Api::<StatefulSet>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await?)
    }

    async fn pod(&self, ns: &str, name: &str) -> Result<Option<Pod>, Error> {
        Ok(Api::<Pod>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await?)
    }

    async fn scale_to_zero(&self, ns: &str, sts: &str) -> Result<(), Error> {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), ns);
        api.patch(
            sts,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 0}})),
        )
        .await?;
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        match Api::<Pod>::namespaced(self.client.clone(), ns)
            .delete(&format!("{sts}-0"), &dp)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn logs(&self, ns: &str, pod: &str) -> Result<Vec<(String, String)>, Error> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut out = Vec::new();
        for (key, previous) in [("current.log", false), ("previous.log", true)] {
            let lp = LogParams {
                previous,
                limit_bytes: Some(LOG_TAIL_BYTES),
                ..Default::default()
            };
            // A container that never restarted has no previous log: that is not an error.
            if let Ok(text) = pods.logs(pod, &lp).await {
                out.push((key.to_string(), text));
            }
        }
        Ok(out)
    }

    async fn apply_configmap(&self, ns: &str, cm: &ConfigMap) -> Result<(), Error> {
        let name = cm.metadata.name.clone().unwrap_or_default();
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        Api::<ConfigMap>::namespaced(self.client.clone(), ns)
            .patch(&name, &pp, &Patch::Apply(cm))
            .await?;
        Ok(())
    }

    async fn set_image(
        &self,
        ns: &str,
        sts: &str,
        container: &str,
        image: &str,
    ) -> Result<(), Error> {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}});
        Api::<StatefulSet>::namespaced(self.client.clone(), ns)
            .patch(sts, &PatchParams::default(), &Patch::Strategic(&patch))
            .await?;
        Ok(())
    }

    async fn leader_status(&self, host: &str) -> Option<LeaderStatus> {
        clients::leader_status(&self.http, host).await
    }

    async fn promote(&self, host: &str) -> Result<PromoteAnswer, String> {
        clients::promote(&self.http, host).await
    }

    async fn skip_catchup(&self, host: &str) -> Result<bool, String> {
        clients::skip_catchup(&self.http, host).await
    }

    async fn execute_sql(
        &self,
        host: &str,
        system: bool,
        statements: &[&str],
    ) -> Result<(), String> {
        let client = clients::sql(host, system).await?;
        for s in statements {
            clients::execute(&client, s).await?;
        }
        Ok(())
    }

    async fn mz_version(&self, host: &str) -> Result<String, String> {
        clients::mz_version(host).await
    }

    async fn configmap(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, Error> {
        Ok(Api::<ConfigMap>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await?)
    }

    async fn configmaps(&self, ns: &str, selector: &str) -> Result<Vec<ConfigMap>, Error> {
        let lp = ListParams::default().labels(selector);
        Ok(Api::<ConfigMap>::namespaced(self.client.clone(), ns)
            .list(&lp)
            .await?
            .items)
    }

    async fn save_status(
        &self,
        run: &ScenarioRun,
        status: &ScenarioRunStatus,
    ) -> Result<(), Error> {
        super::write_status(self, run, status).await
    }
}

impl CheckSql for Context {
    async fn check_sql(&self, session: &str, host: &str, sql: &str) -> Result<Rows, SqlFailure> {
        self.sessions.check_sql(session, host, sql).await
    }

    async fn postgres_execute(&self, url: &str, statements: &[String]) -> Result<(), SqlFailure> {
        self.sessions.postgres_execute(url, statements).await
    }

    async fn end_session(&self, session: &str) {
        self.sessions.end_session(session).await
    }
}
