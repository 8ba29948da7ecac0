//! KillMz, ConfigureMz and SystemVarChange: stopping environmentd (its logs saved first when
//! asked, recorded before killing) and the statements run as `mz_system`.

use std::collections::BTreeMap;

use super::{StepInput, done, host, sql_error, wait, waiting_on};
use crate::{
    api::{names, v1alpha1::StepProgress},
    operator::{error::Error, io::Cluster, outcome::Outcome, render},
};

/// The statements ConfigureMz runs as `mz_system` (platform-checks' list for current versions;
/// the Kafka and schema-registry connections are left out: no Kafka runs here).
pub const CONFIGURE_STATEMENTS: &[&str] = &[
    "ALTER SYSTEM SET max_tables = 1000",
    "ALTER SYSTEM SET max_sinks = 1000",
    "ALTER SYSTEM SET max_sources = 1000",
    "ALTER SYSTEM SET max_materialized_views = 1000",
    "ALTER SYSTEM SET max_objects_per_schema = 1000",
    "ALTER SYSTEM SET max_secrets = 1000",
    "ALTER SYSTEM SET max_clusters = 1000",
    "GRANT ALL PRIVILEGES ON SYSTEM TO materialize",
    "ALTER SYSTEM SET enable_rbac_checks TO false",
    "GRANT CREATE ON DATABASE materialize TO materialize",
    "GRANT CREATE ON SCHEMA materialize.public TO materialize",
    "GRANT CREATE ON CLUSTER quickstart TO materialize",
];

/// KillMz: optionally save logs (recorded before killing), then scale to 0 and delete the pod
/// with grace 0; done once the pod is gone.
pub(super) async fn kill<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
    capture: bool,
) -> Result<Outcome, Error> {
    let ns = input.namespace();
    let sts_name = input.statefulset(svc);
    let pod_name = names::pod_of(&sts_name);
    let saved = match &input.record().progress {
        Some(StepProgress::LogsSaved(cm)) => Some(cm.clone()),
        _ => None,
    };
    if capture && saved.is_none() {
        let data: BTreeMap<String, String> = ctx.logs(ns, &pod_name).await?.into_iter().collect();
        let run = render::RunRef::of(input.run);
        let cm = render::logs_configmap(&run, svc, input.number(), data);
        let cm_name = cm.metadata.name.clone().unwrap_or_default();
        ctx.apply_configmap(ns, &cm).await?;
        return Ok(Outcome::Progress {
            marker: StepProgress::LogsSaved(cm_name.clone()),
            message: format!("saved {pod_name}'s logs in ConfigMap {cm_name}"),
        });
    }
    let logs = saved
        .map(|cm| format!("; logs in ConfigMap {cm}"))
        .unwrap_or_default();
    match ctx.pod(ns, &pod_name).await? {
        Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
            waiting_on(input, svc, format!("waiting for {pod_name} to be gone"))
        }
        Some(_) => {
            ctx.scale_to_zero(ns, &sts_name).await?;
            waiting_on(input, svc, format!("killing {pod_name}"))
        }
        None => {
            // Scaled to zero even if the pod was already gone, so it stays down.
            if let Some(s) = ctx.statefulset(ns, &sts_name).await?
                && s.spec.replicas.unwrap_or(1) != 0
            {
                ctx.scale_to_zero(ns, &sts_name).await?;
                return waiting_on(input, svc, format!("killing {pod_name}"));
            }
            done(format!("killed {pod_name}{logs}"))
        }
    }
}

/// ConfigureMz: each statement not yet applied in this run, one per pass, remembered in status.
pub(super) async fn configure<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
) -> Result<Outcome, Error> {
    let Some(pending) = CONFIGURE_STATEMENTS
        .iter()
        .find(|s| !input.status.applied_statements.iter().any(|a| a == *s))
    else {
        return done(format!("{svc} configured"));
    };
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    // `SELECT 1` as materialize first: it creates the role implicitly, as testdrive does.
    if let Err(e) = ctx.execute_sql(&h, false, &["SELECT 1"]).await {
        return sql_error(svc, e);
    }
    // Every statement here is idempotent, so the short window between running it and
    // recording it can only repeat a harmless statement.
    match ctx.execute_sql(&h, true, &[pending]).await {
        Ok(()) => Ok(Outcome::Applied(pending.to_string())),
        Err(e) => sql_error(svc, e),
    }
}

/// SystemVarChange: `ALTER SYSTEM SET` as `mz_system` (idempotent: sent again after a lost
/// answer). A parameter Materialize does not have fails the step at once with its message.
pub(super) async fn system_var<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
    name: &str,
    value: &str,
) -> Result<Outcome, Error> {
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    let statement = format!("ALTER SYSTEM SET {name} = '{}'", value.replace('\'', "''"));
    match ctx.execute_sql(&h, true, &[&statement]).await {
        Ok(()) => done(format!("{statement} on {svc}")),
        Err(e) => sql_error(svc, e),
    }
}
