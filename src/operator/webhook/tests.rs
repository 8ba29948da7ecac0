//! The webhook's verdicts, and a real TLS round trip with a generated certificate.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn admission(operation: &str, spec: Value) -> AdmissionReview<ScenarioRun> {
    serde_json::from_value(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "mzcheck.dev", "version": "v1alpha1", "kind": "ScenarioRun"},
            "resource": {"group": "mzcheck.dev", "version": "v1alpha1", "resource": "scenarioruns"},
            "name": "r", "namespace": "ns", "operation": operation,
            "userInfo": {"username": "someone"},
            "object": {
                "apiVersion": "mzcheck.dev/v1alpha1", "kind": "ScenarioRun",
                "metadata": {"name": "r", "namespace": "ns"},
                "spec": spec,
            },
            "dryRun": false,
        },
    }))
    .unwrap()
}

fn spec(actions: Value) -> Value {
    json!({
        "versions": {"current": "v26.2.0", "previous": ["v26.1.0"]},
        "environment": {"backendSecretName": "backend"},
        "actions": actions,
    })
}

fn verdict(review: &AdmissionReview<DynamicObject>) -> (bool, String) {
    let r = review.response.as_ref().unwrap();
    (r.allowed, r.result.message.clone())
}

#[test]
fn a_run_the_planner_refuses_is_denied_with_its_message_and_field_path() {
    let bad = spec(
        json!([{"action": "StartMz", "mzService": "a"}, {"action": "PromoteMz", "mzService": "a"}]),
    );
    let (allowed, message) = verdict(&review(admission("CREATE", bad.clone())));
    assert!(!allowed);
    assert!(
        message.starts_with("the plan was refused: spec.actions[1]"),
        "{message}"
    );
    assert!(message.contains("PromoteMz"), "{message}");
    // The response answers the request it was given.
    let r = review(admission("CREATE", bad.clone()));
    assert_eq!(
        r.response.unwrap().uid,
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    // Only creation is judged: updates (status, finalizers) always pass.
    assert!(verdict(&review(admission("UPDATE", bad))).0);
    let good = spec(json!([{"action": "StartMz", "mzService": "a"}]));
    assert!(verdict(&review(admission("CREATE", good.clone()))).0);
    // The issue's other example: a previous version above the current one.
    let mut upside_down = good;
    upside_down["versions"]["previous"] = json!(["v27.0.0"]);
    let (allowed, message) = verdict(&review(admission("CREATE", upside_down)));
    assert!(!allowed);
    assert_eq!(
        message,
        "the plan was refused: spec.versions.previous[0]: v27.0.0 is not below versions.current \
         v26.2.0"
    );
}

#[tokio::test]
async fn the_webhook_answers_over_tls_with_a_certificate_its_ca_verifies() {
    // Two replicas issue their own certificates from the one CA they share...
    let ca = CaPem::generate().unwrap();
    let hosts = ["127.0.0.1".to_string()];
    let (a, b) = (
        Tls::issue(&ca, &hosts).unwrap(),
        Tls::issue(&ca, &hosts).unwrap(),
    );
    assert_eq!(a.ca_pem, b.ca_pem);
    let addr_a = serve("127.0.0.1:0".parse().unwrap(), &a).await.unwrap();
    let addr_b = serve("127.0.0.1:0".parse().unwrap(), &b).await.unwrap();
    // ...and a client that trusts only that CA, as the apiserver does with caBundle, verifies
    // either.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert.as_bytes()).unwrap())
        .unwrap();
    let roots = Arc::new(roots);
    for addr in [addr_a, addr_b] {
        let answer = post_review(roots.clone(), addr).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(json["response"]["allowed"], false, "{json}");
        let message = json["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains("the plan was refused"), "{message}");
    }
    // A CA that did not sign the certificate is refused.
    let other = CaPem::generate().unwrap();
    let mut wrong = rustls::RootCertStore::empty();
    wrong
        .add(CertificateDer::from_pem_slice(other.cert.as_bytes()).unwrap())
        .unwrap();
    let refused = connect(Arc::new(wrong), addr_a).await;
    assert!(refused.is_err());
}

/// A TLS connection to `addr` from a client trusting only `roots` (as the apiserver trusts
/// `caBundle`).
async fn connect(
    roots: Arc<rustls::RootCertStore>,
    addr: std::net::SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// POSTs an AdmissionReview of a refused run to `/validate` over TLS; the raw HTTP answer.
async fn post_review(roots: Arc<rustls::RootCertStore>, addr: std::net::SocketAddr) -> String {
    let mut stream = connect(roots, addr).await.unwrap();
    let body = serde_json::to_vec(&admission(
        "CREATE",
        spec(json!([{"action": "PromoteMz", "mzService": "a"}])),
    ))
    .unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8(answer).unwrap()
}

/// A serving certificate for 127.0.0.1 signed by `ca`, as PEM (certificate, key): what a
/// cert-manager Certificate's Secret holds.
fn leaf_pem(ca: &CaPem) -> (String, String) {
    let issuer = rcgen::Issuer::new(
        ca_params().unwrap(),
        rcgen::KeyPair::from_pem(&ca.key).unwrap(),
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn roots_of(ca: &CaPem) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert.as_bytes()).unwrap())
        .unwrap();
    Arc::new(roots)
}

/// Whether a TLS handshake with `addr` succeeds for a client trusting only `roots`.
async fn handshake(roots: Arc<rustls::RootCertStore>, addr: std::net::SocketAddr) -> bool {
    connect(roots, addr).await.is_ok()
}

#[tokio::test]
async fn a_renewed_certificate_in_the_directory_is_served_without_a_restart() {
    let dir = std::env::temp_dir().join(format!("so-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |(crt, key): (String, String)| {
        std::fs::write(dir.join("tls.crt"), crt).unwrap();
        std::fs::write(dir.join("tls.key"), key).unwrap();
    };
    let (old_ca, new_ca) = (CaPem::generate().unwrap(), CaPem::generate().unwrap());
    write(leaf_pem(&old_ca));
    let tls = Tls::from_dir(&dir).unwrap();
    assert_eq!(tls.ca_pem, None);
    let addr = serve("127.0.0.1:0".parse().unwrap(), &tls).await.unwrap();
    assert!(handshake(roots_of(&old_ca), addr).await);
    assert_eq!(tls.reload(), Ok(false), "nothing changed yet");
    // cert-manager renews (here from another CA, so the two are told apart).
    write(leaf_pem(&new_ca));
    assert_eq!(tls.reload(), Ok(true));
    assert!(handshake(roots_of(&new_ca), addr).await);
    assert!(!handshake(roots_of(&old_ca), addr).await);
    let answer = post_review(roots_of(&new_ca), addr).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A pair that does not load (a key from another certificate: read mid-rotation) is
    // refused, and the current certificate stays.
    let (crt, _) = leaf_pem(&new_ca);
    let (_, other_key) = leaf_pem(&new_ca);
    write((crt, other_key));
    let refused = tls.reload().unwrap_err();
    assert!(refused.contains("webhook certificate"), "{refused}");
    assert!(handshake(roots_of(&new_ca), addr).await);
    std::fs::remove_dir_all(&dir).unwrap();
}
