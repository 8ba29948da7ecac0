//! What environmentd may do with the Kubernetes orchestrator: a ServiceAccount per run, bound
//! in the run's namespace to the chart's ClusterRole [`names::ENVIRONMENTD_CLUSTER_ROLE`],
//! which holds exactly the rules orchestratord's Role grants environmentd (clusterd
//! StatefulSets, Services, PVCs, Secrets and pods; VpcEndpoints; pod metrics). Both owned by
//! the run, so deleting it removes them.
//!
//! A RoleBinding to a shared ClusterRole rather than a Role per run: Kubernetes lets a subject
//! create a binding only to a role whose every permission it holds, or one it may `bind`. The
//! operator may `bind` that one ClusterRole by name and holds none of its rules itself — above
//! all not Secrets — whereas creating a Role per run would need those rules or `escalate`.

use k8s_openapi::api::{
    core::v1::ServiceAccount,
    rbac::v1::{RoleBinding, RoleRef, Subject},
};

use super::{RunRef, owned_meta};
use crate::api::names;

pub fn service_account(run: &RunRef) -> ServiceAccount {
    ServiceAccount {
        metadata: owned_meta(
            run,
            names::environmentd_account(run.name),
            names::run_labels(run.name),
        ),
        ..Default::default()
    }
}

pub fn role_binding(run: &RunRef) -> RoleBinding {
    let name = names::environmentd_account(run.name);
    RoleBinding {
        metadata: owned_meta(run, name.clone(), names::run_labels(run.name)),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: names::ENVIRONMENTD_CLUSTER_ROLE.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name,
            namespace: Some(run.namespace.to_string()),
            ..Default::default()
        }]),
    }
}
