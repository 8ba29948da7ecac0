//! Test harness: real mzsim processes on a real PostgreSQL (`SO_PG_URL`, provided by
//! `e2e/cluster exec`), each test in its own environment id.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU16, Ordering},
    time::{Duration, Instant},
};

use tokio_postgres::{Client, NoTls};

pub fn pg_url() -> String {
    std::env::var("SO_PG_URL").expect("SO_PG_URL is set: run inside `e2e/cluster exec`")
}

/// A fresh environment id per test (and per run), so tests never share state.
pub fn environment(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test-{test}-{}-{nanos}", std::process::id())
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// Four free-by-construction ports: each test binary gets its own range by process id.
fn ports() -> [u16; 4] {
    // Below the ephemeral range (32768+), where outgoing connections take their source ports.
    let base = 20000 + (std::process::id() % 120) as u16 * 100;
    let n = NEXT_PORT.fetch_add(4, Ordering::SeqCst);
    assert!(n < 96, "port range exhausted");
    [base + n, base + n + 1, base + n + 2, base + n + 3]
}

/// One mzsim process.
pub struct Mz {
    child: Option<Child>,
    pub ip: String,
    pub sql: u16,
    pub http: u16,
    pub internal_sql: u16,
    pub internal_http: u16,
    pub log: PathBuf,
    pub started: Instant,
}

pub struct Spec<'a> {
    pub environment: &'a str,
    pub generation: u64,
    pub version: &'a str,
    pub failpoints: &'a str,
    pub catchup: &'a str,
    /// Listen on environmentd's own ports (6875-6878) at this loopback address instead of
    /// allocated ports on 127.0.0.1, for clients that assume them (the checks runner).
    pub host: Option<String>,
}

impl<'a> Spec<'a> {
    pub fn new(environment: &'a str, generation: u64, version: &'a str) -> Self {
        Spec {
            environment,
            generation,
            version,
            failpoints: "",
            catchup: "500ms",
            host: None,
        }
    }
}

impl Mz {
    pub fn start(spec: Spec) -> Mz {
        let [sql, http, internal_sql, internal_http] = match spec.host {
            Some(_) => [6875, 6876, 6877, 6878],
            None => ports(),
        };
        let ip = spec.host.clone().unwrap_or_else(|| "127.0.0.1".into());
        let log = std::env::temp_dir().join(format!("mzsim-{}-{sql}.log", spec.environment));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mzsim"))
            .arg(format!("--deploy-generation={}", spec.generation))
            .args(["--metadata-backend-url", &pg_url()])
            .arg(format!("--environment-id={}", spec.environment))
            .arg(format!("--sql-listen-addr={ip}:{sql}"))
            .arg(format!("--http-listen-addr={ip}:{http}"))
            .arg(format!("--internal-sql-listen-addr={ip}:{internal_sql}"))
            .arg(format!("--internal-http-listen-addr={ip}:{internal_http}"))
            .args(["--orchestrator=kubernetes", "--unsafe-mode"])
            .env("MZSIM_VERSION", spec.version)
            .env("MZSIM_FAILPOINTS", spec.failpoints)
            .env("MZSIM_CATCHUP", spec.catchup)
            .env("MZSIM_DDL_CHECK_INTERVAL", "100ms")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Mz {
            child: Some(child),
            ip,
            sql,
            http,
            internal_sql,
            internal_http,
            log,
            started: Instant::now(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.internal_http)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits for the process to exit; its exit code.
    pub async fn exit_code(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "mzsim still running after {within:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().unwrap().try_wait().unwrap().is_none()
    }

    /// `GET /api/leader/status` → `status`, or `None` while unreachable.
    pub async fn status(&self) -> Option<String> {
        let r = reqwest::get(self.url("/api/leader/status")).await.ok()?;
        let body: serde_json::Value = r.json().await.ok()?;
        body["status"].as_str().map(str::to_string)
    }

    /// Polls the leader status until it is `want`.
    pub async fn wait_status(&self, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.status().await;
            if got.as_deref() == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "status {got:?}, wanted {want}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `/api/readyz` until it answers 200.
    pub async fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = reqwest::get(self.url("/api/readyz")).await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready after {within:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn post(&self, path: &str) -> (u16, String) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// A tokio-postgres client as `materialize` on 6875 (or `mz_system` on 6877).
    pub async fn client(&self, system: bool) -> Client {
        let (port, user) = if system {
            (self.internal_sql, "mz_system")
        } else {
            (self.sql, "materialize")
        };
        connect(port, user)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}; log:\n{}", self.log()))
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Mz {
    fn drop(&mut self) {
        self.kill();
        // Keep the log only when the test failed (its assertion message shows it too).
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

pub async fn connect(port: u16, user: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={user} dbname=materialize"),
        NoTls,
    )
    .await?;
    tokio::spawn(connection);
    Ok(client)
}

pub const SECOND: Duration = Duration::from_secs(1);

/// A loopback address of its own per test (by process and call), so each mzsim can listen on
/// environmentd's own ports.
pub fn loopback_host() -> String {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);
    format!(
        "127.{}.{}.{}",
        100 + std::process::id() % 100,
        (std::process::id() / 100) % 250,
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// The server's message of a database error.
pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}
