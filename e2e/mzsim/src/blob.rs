//! The persist blob store, as strict mode sees it. Every pod of an environment — clusterd
//! replicas, each generation of environmentd — reads and writes the same blobs, so the store
//! must be shared: a `file://` URL names the pod's own disk (real environmentd boots on it, and
//! the next generation finds the catalog's blobs missing). mzsim refuses one, takes an
//! S3-compatible URL in persist's form
//! (`s3://<key>:<secret>@<bucket>/<prefix>?endpoint=<url>&region=<region>`), and checks at boot
//! that the bucket answers a signed request, as persist's first write would.

use hmac::{Hmac, KeyInit, Mac};
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};

use crate::strict::Refusal;

/// An S3 blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

fn refuse(url: &str, why: &str) -> Refusal {
    Refusal::fatal(format!("mzsim: persist blob URL {}: {why}", redact(url)))
}

/// The URL without its secret, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The store a blob URL names, or why mzsim will not boot on it.
pub fn parse(url: &str) -> Result<S3, Refusal> {
    let u = url::Url::parse(url).map_err(|e| refuse(url, &format!("not a URL: {e}")))?;
    match u.scheme() {
        "s3" => {}
        "file" => {
            return Err(refuse(
                url,
                "a file:// store is this pod's own disk: clusterd and the next generation \
                 cannot read it; use an S3-compatible store every pod shares",
            ));
        }
        other => {
            return Err(refuse(
                url,
                &format!("mzsim checks S3-compatible stores only, not {other}://"),
            ));
        }
    }
    let query = |k: &str| {
        u.query_pairs()
            .find(|(q, _)| q == k)
            .map(|(_, v)| v.into_owned())
    };
    let endpoint = query("endpoint")
        .ok_or_else(|| refuse(url, "no endpoint= (mzsim reaches no AWS region)"))?;
    let bucket = u.host_str().unwrap_or_default().to_string();
    if bucket.is_empty() {
        return Err(refuse(url, "no bucket"));
    }
    Ok(S3 {
        endpoint: endpoint.trim_end_matches('/').to_string(),
        bucket,
        region: query("region").unwrap_or_else(|| "us-east-1".into()),
        access_key: u.username().to_string(),
        secret_key: u.password().unwrap_or_default().to_string(),
    })
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// SigV4's signing key: the secret HMAC-chained through date, region, service.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date);
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    key
}

/// The `Authorization` header of an AWS Signature Version 4 request without a body.
fn sign(s3: &S3, method: &str, host: &str, path: &str, amz_date: &str) -> String {
    let date = &amz_date[..8];
    let payload = sha256_hex(b"");
    let headers = format!("host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n");
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!("{method}\n{path}\n\n{headers}\n{signed}\n{payload}");
    let scope = format!("{date}/{}/s3/aws4_request", s3.region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let key = signing_key(&s3.secret_key, date, &s3.region, "s3");
    let signature = hex::encode(hmac(&key, &to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        s3.access_key
    )
}

/// Whether the bucket answers a signed HEAD: 200 yes; 404 no such bucket; 403 the
/// credentials are refused; no answer, the store is unreachable.
pub async fn reach(s3: &S3) -> Result<(), Refusal> {
    let url = format!("{}/{}", s3.endpoint, s3.bucket);
    let parsed = url::Url::parse(&url).map_err(|e| refuse(&url, &e.to_string()))?;
    let host = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap_or_default()),
        None => parsed.host_str().unwrap_or_default().to_string(),
    };
    let amz_date = Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let auth = sign(s3, "HEAD", &host, parsed.path(), &amz_date);
    let answer = reqwest::Client::new()
        .head(&url)
        .header("x-amz-date", &amz_date)
        .header("x-amz-content-sha256", sha256_hex(b""))
        .header("authorization", auth)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| Refusal::fatal(format!("mzsim: the blob store {url} is unreachable: {e}")))?;
    match answer.status().as_u16() {
        200 => Ok(()),
        404 => Err(Refusal::fatal(format!(
            "mzsim: the blob store has no bucket {:?} ({url})",
            s3.bucket
        ))),
        code => Err(Refusal::fatal(format!(
            "mzsim: the blob store refused bucket {:?} with HTTP {code} (credentials?)",
            s3.bucket
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_s3_urls_parse_and_file_urls_are_refused() {
        let s3 = parse("s3://key:secret@persist/db1?endpoint=http://10.0.0.1:9000/&region=minio")
            .unwrap();
        assert_eq!(
            s3,
            S3 {
                endpoint: "http://10.0.0.1:9000".into(),
                bucket: "persist".into(),
                region: "minio".into(),
                access_key: "key".into(),
                secret_key: "secret".into(),
            }
        );
        let r = parse("file:///tmp/mzsim-blob").unwrap_err();
        assert!(r.message.contains("this pod's own disk"), "{}", r.message);
        let r = parse("s3://key:secret@persist/db1").unwrap_err();
        assert!(r.message.contains("no endpoint="), "{}", r.message);
        assert!(
            !r.message.contains("secret@"),
            "the secret is redacted: {}",
            r.message
        );
    }

    /// AWS's published example of deriving a signing key (secret
    /// `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, 20150830, us-east-1, iam).
    #[test]
    fn the_signing_key_is_sigv4s() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }
}
