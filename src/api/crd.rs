//! Rendering the CRDs this operator defines (and `vpcendpoints.materialize.cloud`, which
//! environmentd needs), for `scenario-operator crd` and `crds/`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{v1alpha1::ScenarioRun, vpc_endpoint::VpcEndpoint};

/// Every CRD, sorted by name.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds: Vec<_> = [ScenarioRun::crd(), VpcEndpoint::crd()]
        .into_iter()
        .map(kubernetes_formats)
        .collect();
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    crds
}

/// schemars names Rust's unsigned integers `uint8`…`uint64`, formats the apiserver does not
/// know (it warns on every apply); Kubernetes spells them `int32`/`int64`.
fn kubernetes_formats(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(f)) = map.get_mut("format") {
                    match f.as_str() {
                        "uint8" | "uint16" | "uint32" => *f = "int32".into(),
                        "uint64" | "uint" => *f = "int64".into(),
                        _ => {}
                    }
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut json = serde_json::to_value(&crd).expect("CRD serializes");
    walk(&mut json);
    serde_json::from_value(json).expect("CRD deserializes")
}

/// The file name a CRD has under `crds/`: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// One CRD as a YAML document (with a leading `---`).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::SerializeError> {
    Ok(format!("---\n{}", serde_saphyr::to_string(crd)?))
}
