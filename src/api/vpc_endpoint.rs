//! `vpcendpoints.materialize.cloud`: a CRD environmentd lists at every boot with the
//! Kubernetes orchestrator (the coordinator's `list_vpc_endpoints`), failing the boot when the
//! resource does not exist. orchestratord registers it when it starts; a cluster without
//! orchestratord needs it from us. Defined here from its upstream shape (group
//! `materialize.cloud`, version `v1`, namespaced, kind `VpcEndpoint`, short name `vpce`, a spec
//! of an AWS service name, availability zone ids and a role suffix); environmentd only lists
//! them off-AWS, so nothing here creates one.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An AWS PrivateLink endpoint environmentd asks for a connection (only on AWS).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "materialize.cloud",
    version = "v1",
    kind = "VpcEndpoint",
    namespaced,
    shortname = "vpce",
    status = "VpcEndpointStatus",
    printcolumn = r#"{"name": "AwsServiceName", "type": "string", "priority": 1, "jsonPath": ".spec.awsServiceName"}"#,
    printcolumn = r#"{"name": "AvailabilityZoneIDs", "type": "string", "priority": 1, "jsonPath": ".spec.availabilityZoneIds"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpointSpec {
    /// The AWS service the endpoint connects to.
    pub aws_service_name: String,
    /// Availability zones of the endpoint.
    pub availability_zone_ids: Vec<String>,
    /// Suffix of the IAM role allowed to connect.
    pub role_suffix: String,
}

/// Written by the cloud's controller; kept as it comes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct VpcEndpointStatus {}
