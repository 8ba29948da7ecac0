//! What environmentd's Kubernetes orchestrator does at boot, with the pod's own ServiceAccount
//! (strict mode, `--orchestrator=kubernetes`): it GETs its own pod by `HOSTNAME` and copies the
//! pod's ownerReferences onto what it creates (src/orchestrator-kubernetes/src/lib.rs), the
//! coordinator lists VpcEndpoints (src/adapter/src/coord.rs, `list_vpc_endpoints`), and it
//! creates a clusterd StatefulSet and Service per replica, named under
//! `--orchestrator-kubernetes-name-prefix` and labelled with every
//! `--orchestrator-kubernetes-service-label`. mzsim does the same for the default replica, so a
//! missing permission or CRD fails where a real image would.
//!
//! After boot it keeps the client for CREATE SECRET and DROP SECRET, which environmentd turns
//! into Secrets `<prefix>user-managed-<id>` (src/orchestrator-kubernetes/src/secrets.rs): no
//! labels and no owner, so only their name ties them to the run.
//!
//! Where environmentd retries forever (its own pod, ensuring a replica) a missing permission
//! leaves it never ready; mzsim retries the first like it, and stops with the error on the
//! second, which says more than a timeout.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::api::{
    apps::v1::{StatefulSet, StatefulSetSpec},
    core::v1::{
        Container, Pod, PodSecurityContext, PodSpec, PodTemplateSpec, Secret, Service, ServiceSpec,
    },
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::{
    Api, Client, Config,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
};
use tracing::{info, warn};

use crate::strict::{Invocation, Refusal};

/// environmentd's field manager for what it applies.
const FIELD_MANAGER: &str = "environmentd";

/// The orchestrator options environmentd was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Orchestrator {
    pub prefix: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: Option<String>,
    pub image: String,
    pub pull_policy: String,
    pub fs_group: Option<i64>,
    pub generation: u64,
}

impl Orchestrator {
    /// The options, when the orchestrator is Kubernetes.
    pub fn of(inv: &Invocation) -> Option<Orchestrator> {
        if inv.value("orchestrator").as_deref() != Some("kubernetes") {
            return None;
        }
        let labels = inv
            .values("orchestrator-kubernetes-service-label")
            .iter()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let pull_policy = match inv
            .value("orchestrator-kubernetes-image-pull-policy")
            .as_deref()
        {
            Some("if-not-present") => "IfNotPresent",
            Some("never") => "Never",
            _ => "Always",
        };
        Some(Orchestrator {
            prefix: inv
                .value("orchestrator-kubernetes-name-prefix")
                .unwrap_or_default(),
            labels,
            service_account: inv.value("orchestrator-kubernetes-service-account"),
            image: inv.value("clusterd-image").unwrap_or_default(),
            pull_policy: pull_policy.into(),
            fs_group: inv
                .value("orchestrator-kubernetes-service-fs-group")
                .and_then(|g| g.parse().ok()),
            generation: inv
                .value("deploy-generation")
                .and_then(|g| g.parse().ok())
                .unwrap_or(0),
        })
    }

    /// The default replica's StatefulSet and Service name.
    pub fn replica_name(&self) -> String {
        format!(
            "{}cluster-u1-replica-u1-gen-{}",
            self.prefix, self.generation
        )
    }
}

/// The Secrets controller environmentd's Kubernetes orchestrator is.
#[derive(Clone)]
pub struct Secrets {
    api: Api<Secret>,
    prefix: String,
}

/// What environmentd puts between the name prefix and a secret's catalog id.
const SECRET_NAME_PREFIX: &str = "user-managed-";

impl Secrets {
    fn name(&self, id: &str) -> String {
        format!("{}{SECRET_NAME_PREFIX}{id}", self.prefix)
    }

    /// Applies the Secret of catalog item `id` (key `contents`, as environmentd writes it).
    pub async fn ensure(&self, id: &str, contents: &[u8]) -> Result<(), kube::Error> {
        let name = self.name(id);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "contents".to_string(),
                k8s_openapi::ByteString(contents.to_vec()),
            )])),
            ..Default::default()
        };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api
            .patch(&name, &params, &Patch::Apply(&secret))
            .await?;
        Ok(())
    }

    /// Deletes it; one already gone is fine, as in environmentd.
    pub async fn delete(&self, id: &str) -> Result<(), kube::Error> {
        match self
            .api
            .delete(&self.name(id), &DeleteParams::default())
            .await
        {
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            r => r.map(|_| ()),
        }
    }
}

/// The orchestrator's boot; an error is fatal. Returns its Secrets controller.
pub async fn boot(o: &Orchestrator) -> Result<Secrets, Refusal> {
    let config = Config::incluster()
        .map_err(|e| Refusal::fatal(format!("creating the Kubernetes client: {e}")))?;
    let ns = config.default_namespace.clone();
    let client = Client::try_from(config)
        .map_err(|e| Refusal::fatal(format!("creating the Kubernetes client: {e}")))?;
    let hostname = std::env::var("HOSTNAME").map_err(|_| {
        Refusal::fatal("HOSTNAME environment variable missing or invalid; required for Kubernetes orchestrator")
    })?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let me = loop {
        match pods.get(&hostname).await {
            Ok(p) => break p,
            Err(e) => {
                warn!("orchestrator: cannot get own pod {ns}/{hostname}: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let resource = ApiResource {
        group: "materialize.cloud".into(),
        version: "v1".into(),
        api_version: "materialize.cloud/v1".into(),
        kind: "VpcEndpoint".into(),
        plural: "vpcendpoints".into(),
    };
    Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &resource)
        .list(&ListParams::default())
        .await
        .map_err(|e| Refusal::fatal(format!("booting server: listing VPC endpoints: {e}")))?;
    let owners = me.metadata.owner_references.clone();
    let name = o.replica_name();
    let (service, sts) = replica(o, &name, &ns, owners);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let fail = |what: &str, e: kube::Error| {
        Refusal::fatal(format!(
            "ensuring clusterd {what} {ns}/{name}: {e} (environmentd retries this forever; mzsim stops)"
        ))
    };
    Api::<Service>::namespaced(client.clone(), &ns)
        .patch(&name, &params, &Patch::Apply(&service))
        .await
        .map_err(|e| fail("Service", e))?;
    Api::<StatefulSet>::namespaced(client.clone(), &ns)
        .patch(&name, &params, &Patch::Apply(&sts))
        .await
        .map_err(|e| fail("StatefulSet", e))?;
    info!("orchestrator: ensured clusterd {ns}/{name} ({})", o.image);
    Ok(Secrets {
        api: Api::namespaced(client, &ns),
        prefix: o.prefix.clone(),
    })
}

/// The default replica's Service and StatefulSet, owned by what owns environmentd's pod.
fn replica(
    o: &Orchestrator,
    name: &str,
    ns: &str,
    owners: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
) -> (Service, StatefulSet) {
    let mut labels = o.labels.clone();
    labels.insert(
        "cluster.environmentd.materialize.cloud/replica-id".into(),
        "u1".into(),
    );
    labels.insert(
        "environmentd.materialize.cloud/service-id".into(),
        name.into(),
    );
    let selector = BTreeMap::from([(
        "environmentd.materialize.cloud/service-id".to_string(),
        name.to_string(),
    )]);
    let meta = ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        labels: Some(labels.clone()),
        owner_references: owners,
        ..Default::default()
    };
    let service = Service {
        metadata: meta.clone(),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector.clone()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let security = o.fs_group.map(|g| PodSecurityContext {
        fs_group: Some(g),
        run_as_user: Some(g),
        run_as_group: Some(g),
        ..Default::default()
    });
    let sts = StatefulSet {
        metadata: meta,
        spec: StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(name.into()),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: o.service_account.clone(),
                    security_context: security,
                    termination_grace_period_seconds: Some(0),
                    containers: vec![Container {
                        name: "clusterd".into(),
                        image: Some(o.image.clone()),
                        image_pull_policy: Some(o.pull_policy.clone()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    };
    (service, sts)
}
