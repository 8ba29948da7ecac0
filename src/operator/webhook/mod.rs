//! The validating admission webhook: `POST /validate` over TLS runs the planner (with inline
//! check compilation, as `scenario-operator plan` does) on every ScenarioRun created, so
//! `kubectl apply` of a run the planner refuses fails at once with its message and field path,
//! and nothing is stored.
//!
//! Certificates: either issued here at start for the `--webhook-host` names from a CA every
//! replica shares (kept in one named Secret, made by the first replica) and written into the
//! ValidatingWebhookConfiguration's `caBundle` — so whichever replica the Service picks, the
//! apiserver verifies it — or read from a directory (`tls.crt`, `tls.key`: a cert-manager
//! Certificate's Secret, whose CA cert-manager injects itself), and read again every
//! [`RELOAD_INTERVAL`] so a renewed certificate is served without a restart.

use std::{
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use k8s_openapi::{
    ByteString,
    api::{admissionregistration::v1::ValidatingWebhookConfiguration, core::v1::Secret},
};
use kube::{
    Api, Client,
    api::PostParams,
    core::{
        DynamicObject,
        admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation},
    },
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::{api::v1alpha1::ScenarioRun, plan};

/// Longest a connection may take to finish its TLS handshake, and then its request headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest AdmissionReview accepted (the apiserver's own request limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The planner's verdict on one AdmissionReview: allowed, or denied with the message the run's
/// status would have shown. Only CREATE is judged: the spec is immutable afterwards (CEL), and
/// status and finalizer updates must never be blocked.
pub fn review(review: AdmissionReview<ScenarioRun>) -> AdmissionReview<DynamicObject> {
    let request: AdmissionRequest<ScenarioRun> = match review.try_into() {
        Ok(r) => r,
        Err(e) => return AdmissionResponse::invalid(e).into_review(),
    };
    let response = AdmissionResponse::from(&request);
    if request.operation != Operation::Create {
        return response.into_review();
    }
    let Some(run) = &request.object else {
        return response.deny("no object in the request").into_review();
    };
    match plan::plan(&run.spec) {
        Ok(_) => response.into_review(),
        Err(errors) => response
            .deny(format!("the plan was refused: {errors}"))
            .into_review(),
    }
}

/// The serving certificate and, when generated here, the CA that signed it. Clones share the
/// certificate: a reload ([`Tls::reload`]) is seen by every connection accepted after it.
#[derive(Clone)]
pub struct Tls {
    config: Arc<RwLock<Arc<rustls::ServerConfig>>>,
    /// PEM of the CA for `caBundle`; `None` when the certificate came from a directory.
    pub ca_pem: Option<String>,
    /// The directory it was read from, and the files' bytes as last loaded.
    dir: Option<Arc<(PathBuf, Mutex<Vec<u8>>)>>,
}

impl Tls {
    /// A serving certificate for `hosts` (DNS names or IP addresses) signed by `ca`. Every
    /// replica issues its own from the one CA they share, so one `caBundle` verifies them all.
    pub fn issue(ca: &CaPem, hosts: &[String]) -> Result<Tls, String> {
        use rcgen::{CertificateParams, DnType, Issuer, KeyPair};
        let err = |e: rcgen::Error| format!("issuing the webhook certificate: {e}");
        let ca_key = KeyPair::from_pem(&ca.key).map_err(err)?;
        // The issuer is named by the CA's parameters, which ca_params() rebuilds exactly.
        let issuer = Issuer::new(ca_params().map_err(err)?, ca_key);
        let key = KeyPair::generate().map_err(err)?;
        let mut leaf = CertificateParams::new(hosts.to_vec()).map_err(err)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "scenario-operator webhook");
        let cert = leaf.signed_by(&key, &issuer).map_err(err)?;
        let chain = vec![cert.der().clone()];
        let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| e.to_string())?;
        Ok(Tls {
            config: Arc::new(RwLock::new(server_config(chain, key)?)),
            ca_pem: Some(ca.cert.clone()),
            dir: None,
        })
    }

    /// `tls.crt` and `tls.key` from `dir` (a mounted cert-manager Secret).
    pub fn from_dir(dir: &Path) -> Result<Tls, String> {
        let (bytes, config) = read_dir(dir)?;
        Ok(Tls {
            config: Arc::new(RwLock::new(config)),
            ca_pem: None,
            dir: Some(Arc::new((dir.to_path_buf(), Mutex::new(bytes)))),
        })
    }

    /// Reads the directory again (a certificate from one): `Ok(true)` when its files changed
    /// and the new certificate is now served. A pair that does not load (e.g. read in the
    /// middle of a rotation) leaves the current one in place and is an error.
    pub fn reload(&self) -> Result<bool, String> {
        let Some(source) = &self.dir else {
            return Ok(false);
        };
        let (dir, loaded) = source.as_ref();
        let (bytes, config) = read_dir(dir)?;
        let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded == bytes {
            return Ok(false);
        }
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        *loaded = bytes;
        Ok(true)
    }

    /// The certificate new connections get.
    fn current(&self) -> Arc<rustls::ServerConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// How often a certificate from a directory is read again. cert-manager renews well before
/// expiry and the kubelet takes up to a minute or so to update a mounted Secret; reading two
/// small files this often costs nothing.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Serves a renewed certificate from `tls`'s directory without a restart: reads it every
/// `interval` for as long as the process runs.
pub async fn keep_reloading(tls: Tls, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match tls.reload() {
            Ok(true) => info!("webhook: serving the renewed certificate"),
            Ok(false) => {}
            Err(e) => warn!(error = %e, "webhook: keeping the current certificate"),
        }
    }
}

/// `tls.crt` and `tls.key` of `dir`: their bytes together, and the server configuration.
fn read_dir(dir: &Path) -> Result<(Vec<u8>, Arc<rustls::ServerConfig>), String> {
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let (crt_pem, key_pem) = (read(&crt)?, read(&key)?);
    let chain = CertificateDer::pem_slice_iter(&crt_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {}: {e}", crt.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("reading {}: {e}", key.display()))?;
    let config = server_config(chain, key)?;
    Ok(([crt_pem, key_pem].concat(), config))
}

/// The webhook CA: its certificate (for `caBundle`) and key, PEM.
#[derive(Clone)]
pub struct CaPem {
    pub cert: String,
    pub key: String,
}

/// The CA's parameters: fixed, so a stored key and these rebuild the same issuer.
fn ca_params() -> Result<rcgen::CertificateParams, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa};
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "scenario-operator webhook CA");
    Ok(ca)
}

impl CaPem {
    /// A new CA.
    pub fn generate() -> Result<CaPem, String> {
        let err = |e: rcgen::Error| format!("generating the webhook CA: {e}");
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let cert = ca_params().map_err(err)?.self_signed(&key).map_err(err)?;
        Ok(CaPem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

/// Keys of the shared CA's Secret.
const CA_CERT_KEY: &str = "ca.crt";
const CA_KEY_KEY: &str = "ca.key";

/// The CA every replica shares, from Secret `namespace/name`, made there by the first replica
/// that finds none (a replica that loses that race reads the winner's).
pub async fn shared_ca(client: Client, namespace: &str, name: &str) -> Result<CaPem, String> {
    let api: Api<Secret> = Api::namespaced(client, namespace);
    let what = format!("the webhook CA Secret {namespace}/{name}");
    let read = |s: Secret| -> Result<CaPem, String> {
        let data = s.data.unwrap_or_default();
        let get = |k: &str| {
            data.get(k)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .ok_or_else(|| format!("{what} has no key {k}"))
        };
        Ok(CaPem {
            cert: get(CA_CERT_KEY)?,
            key: get(CA_KEY_KEY)?,
        })
    };
    if let Some(s) = api
        .get_opt(name)
        .await
        .map_err(|e| format!("reading {what}: {e}"))?
    {
        return read(s);
    }
    let ca = CaPem::generate()?;
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            [(CA_CERT_KEY, &ca.cert), (CA_KEY_KEY, &ca.key)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(ca),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = api
                .get(name)
                .await
                .map_err(|e| format!("reading {what}: {e}"))?;
            read(s)
        }
        Err(e) => Err(format!("creating {what}: {e}")),
    }
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| format!("the webhook certificate: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Binds `addr` (an error names it) and serves `/validate` until the process ends.
pub async fn serve(addr: SocketAddr, tls: &Tls) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on --webhook-addr {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let tls = tls.clone();
    info!(addr = %local, "serving the admission webhook (/validate)");
    tokio::spawn(async move {
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    warn!(error = %e, "webhook: accept failed");
                    continue;
                }
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
            tokio::spawn(async move {
                // A client that never finishes its handshake or its request headers does not
                // hold a connection forever.
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        warn!(error = %e, "webhook: TLS handshake failed (is caBundle this CA?)");
                        return;
                    }
                    Err(_) => {
                        warn!("webhook: TLS handshake timed out");
                        return;
                    }
                };
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HANDSHAKE_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service_fn(handle));
                if let Err(e) = conn.await {
                    warn!(error = %e, "webhook: connection failed");
                }
            });
        }
    });
    Ok(local)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |code: StatusCode, body: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = code;
        r
    };
    if req.method() != Method::POST || req.uri().path() != "/validate" {
        return Ok(reply(StatusCode::NOT_FOUND, b"not found\n".to_vec()));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(reply(StatusCode::BAD_REQUEST, e.to_string().into_bytes())),
    };
    let parsed: AdmissionReview<ScenarioRun> = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("not an AdmissionReview of a ScenarioRun: {e}\n");
            return Ok(reply(StatusCode::BAD_REQUEST, msg.into_bytes()));
        }
    };
    let out = serde_json::to_vec(&review(parsed)).expect("an AdmissionReview serializes");
    let mut r = reply(StatusCode::OK, out);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

/// Keeps `ca_pem` in every webhook of the ValidatingWebhookConfiguration `name` for as long as
/// the process lives: written at start (retrying while the configuration does not exist yet or
/// a write conflicts), then checked every [`CA_CHECK`], so a configuration that Helm or a person
/// re-created or reset is repaired. `installed` is called once it is first in place.
pub async fn keep_ca(client: Client, name: &str, ca_pem: &str, installed: impl Fn()) {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
    let bundle = ByteString(ca_pem.as_bytes().to_vec());
    let mut told = false;
    loop {
        let result = match api.get_opt(name).await {
            Ok(Some(mut config)) => {
                let hooks = config.webhooks.iter_mut().flatten();
                let stale: Vec<_> = hooks
                    .filter(|w| w.client_config.ca_bundle.as_ref() != Some(&bundle))
                    .collect();
                if stale.is_empty() {
                    Ok(())
                } else {
                    for w in stale {
                        w.client_config.ca_bundle = Some(bundle.clone());
                    }
                    // The resourceVersion from the GET makes this a compare-and-swap.
                    api.replace(name, &PostParams::default(), &config)
                        .await
                        .map(|_| info!(name, "wrote the webhook CA into caBundle"))
                        .map_err(|e| e.to_string())
                }
            }
            Ok(None) => Err(format!(
                "ValidatingWebhookConfiguration {name} does not exist"
            )),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => {
                if !told {
                    installed();
                    told = true;
                }
                tokio::time::sleep(CA_CHECK).await;
            }
            Err(e) => {
                warn!(name, error = %e, "cannot put the webhook CA into caBundle; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// How often the webhook's CA is checked in its configuration.
const CA_CHECK: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests;
