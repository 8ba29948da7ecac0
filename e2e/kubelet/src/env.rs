//! A container's environment and volumes, resolved the way the kubelet does: literal values,
//! `fieldRef`, `secretKeyRef`, `configMapKeyRef`, `envFrom`; configMap, secret, emptyDir and
//! projected volumes (the service account token the apiserver's admission adds to every pod,
//! with the cluster CA and the namespace) written under the pod's directory.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, anyhow};
use k8s_openapi::{
    ByteString,
    api::{
        authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec},
        core::v1::{ConfigMap, Container, Pod, ProjectedVolumeSource, Secret, ServiceAccount},
    },
};
use kube::{Api, Client, api::PostParams};

/// Resolves `container`'s environment for `pod`, which runs at `pod_ip` on `node_ip`.
pub async fn resolve(
    client: &Client,
    pod: &Pod,
    container: &Container,
    pod_ip: &str,
    node_ip: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("HOSTNAME".into(), name.clone());
    env.insert("KUBERNETES_SERVICE_HOST".into(), node_ip.to_string());
    env.insert("KUBERNETES_SERVICE_PORT".into(), "6443".into());
    env.insert(
        "PATH".into(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
    );
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.secret_ref {
            let s = secrets
                .get(&r.name)
                .await
                .with_context(|| format!("secret {}", r.name))?;
            for (k, v) in s.data.unwrap_or_default() {
                env.insert(
                    format!("{prefix}{k}"),
                    String::from_utf8_lossy(&v.0).into_owned(),
                );
            }
        }
        if let Some(r) = &from.config_map_ref {
            let c = config_maps
                .get(&r.name)
                .await
                .with_context(|| format!("configmap {}", r.name))?;
            for (k, v) in c.data.unwrap_or_default() {
                env.insert(format!("{prefix}{k}"), v);
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) => expand(v, &env),
            (None, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    field(pod, &f.field_path, pod_ip, node_ip)?
                } else if let Some(s) = &from.secret_key_ref {
                    let secret = secrets
                        .get(&s.name)
                        .await
                        .with_context(|| format!("secret {}", s.name))?;
                    let data: BTreeMap<String, ByteString> = secret.data.unwrap_or_default();
                    let v = data
                        .get(&s.key)
                        .ok_or_else(|| anyhow!("secret {} has no key {}", s.name, s.key))?;
                    String::from_utf8_lossy(&v.0).into_owned()
                } else if let Some(c) = &from.config_map_key_ref {
                    let cm = config_maps
                        .get(&c.name)
                        .await
                        .with_context(|| format!("configmap {}", c.name))?;
                    cm.data
                        .unwrap_or_default()
                        .get(&c.key)
                        .cloned()
                        .ok_or_else(|| anyhow!("configmap {} has no key {}", c.name, c.key))?
                } else {
                    String::new()
                }
            }
            (None, None) => String::new(),
        };
        env.insert(var.name.clone(), value);
    }
    Ok(env.into_iter().collect())
}

/// `$(VAR)` references to earlier variables, as Kubernetes expands them.
pub fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find(')') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                match env.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &rest[start + 3 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn field(pod: &Pod, path: &str, pod_ip: &str, node_ip: &str) -> anyhow::Result<String> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let label = |map: &Option<BTreeMap<String, String>>, key: &str| {
        map.as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let bracket = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => node_ip.to_string(),
        _ => {
            if let Some(k) = bracket("metadata.labels") {
                label(&meta.labels, &k)
            } else if let Some(k) = bracket("metadata.annotations") {
                label(&meta.annotations, &k)
            } else {
                anyhow::bail!("unsupported fieldRef {path}")
            }
        }
    })
}

/// Writes the pod's volumes under `dir/volumes/<name>`; returns (volume name → host path).
pub async fn volumes(
    client: &Client,
    pod: &Pod,
    dir: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = BTreeMap::new();
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default()
    {
        let target = dir.join("volumes").join(&v.name);
        std::fs::create_dir_all(&target)?;
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let pick = |key: &str,
                    items: &Option<Vec<k8s_openapi::api::core::v1::KeyToPath>>|
         -> Option<String> {
            match items {
                None => Some(key.to_string()),
                Some(items) => items.iter().find(|i| i.key == key).map(|i| i.path.clone()),
            }
        };
        if let Some(c) = &v.config_map {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
            let cm = api
                .get(&c.name)
                .await
                .with_context(|| format!("configmap volume {}", c.name))?;
            for (k, val) in cm.data.unwrap_or_default() {
                if let Some(p) = pick(&k, &c.items) {
                    files.insert(p, val.into_bytes());
                }
            }
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let api: Api<Secret> = Api::namespaced(client.clone(), ns);
            let secret = api
                .get(&name)
                .await
                .with_context(|| format!("secret volume {name}"))?;
            for (k, val) in secret.data.unwrap_or_default() {
                if let Some(p) = pick(&k, &s.items) {
                    files.insert(p, val.0);
                }
            }
        }
        if let Some(projected) = &v.projected {
            files.extend(projected_files(client, pod, projected).await?);
        }
        for (p, bytes) in files {
            let file = target.join(&p);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(file, bytes)?;
        }
        out.insert(v.name.clone(), target.to_string_lossy().into_owned());
    }
    Ok(out)
}

/// A projected volume's files: a token of the pod's service account (bound to the pod, as the
/// kubelet requests it), ConfigMap items (the cluster CA), and the namespace or name.
async fn projected_files(
    client: &Client,
    pod: &Pod,
    projected: &ProjectedVolumeSource,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut files = BTreeMap::new();
    for source in projected.sources.iter().flatten() {
        if let Some(t) = &source.service_account_token {
            let sa = pod
                .spec
                .as_ref()
                .and_then(|s| s.service_account_name.clone())
                .unwrap_or_else(|| "default".into());
            let request = TokenRequest {
                spec: Some(TokenRequestSpec {
                    audiences: Some(t.audience.clone().into_iter().collect()),
                    expiration_seconds: t.expiration_seconds,
                    bound_object_ref: Some(BoundObjectReference {
                        api_version: Some("v1".into()),
                        kind: Some("Pod".into()),
                        name: Some(name.clone()),
                        uid: pod.metadata.uid.clone(),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let answer = Api::<ServiceAccount>::namespaced(client.clone(), ns)
                .create_token_request(&sa, &PostParams::default(), &request)
                .await
                .with_context(|| format!("token of service account {ns}/{sa}"))?;
            let token = answer.status.and_then(|s| s.token).unwrap_or_default();
            files.insert(t.path.clone(), token.into_bytes());
        }
        if let Some(c) = &source.config_map {
            let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
                .get(&c.name)
                .await
                .with_context(|| format!("projected configmap {}", c.name))?;
            let data = cm.data.unwrap_or_default();
            for item in c.items.iter().flatten() {
                if let Some(value) = data.get(&item.key) {
                    files.insert(item.path.clone(), value.clone().into_bytes());
                }
            }
        }
        for item in source
            .downward_api
            .iter()
            .flat_map(|d| d.items.iter().flatten())
        {
            let value = match item.field_ref.as_ref().map(|f| f.field_path.as_str()) {
                Some("metadata.namespace") => ns.to_string(),
                Some("metadata.name") => name.clone(),
                _ => continue,
            };
            files.insert(item.path.clone(), value.into_bytes());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_references_only() {
        let env: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        assert_eq!(expand("x$(A)y$(B)z", &env), "x1y$(B)z");
        assert_eq!(expand("$(A", &env), "$(A");
    }
}
