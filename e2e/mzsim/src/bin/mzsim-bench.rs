//! `mzsim-bench [N] [--metadata-backend-url URL]`: boot time and idle memory of mzsim.
//!
//! Starts N mzsim processes, one environment each, and prints for every one the time from
//! spawn to `/api/readyz` answering 200, for a first boot (creating the environment) and for a
//! restart of the same environment; then, with all N still running and idle for a second, each
//! one's resident memory (VmRSS). Ends with median and maximum of each figure.
//! The URL defaults to `$SO_PG_URL` (set inside `e2e/cluster exec`).

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut count = 20usize;
    let mut url = std::env::var("SO_PG_URL").ok();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--metadata-backend-url" => url = args.next(),
            n => {
                count = n
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("not a count: {n}")))
            }
        }
    }
    let url = url.unwrap_or_else(|| {
        usage("no PostgreSQL URL: pass --metadata-backend-url or set SO_PG_URL")
    });
    let mzsim = std::env::current_exe().unwrap().with_file_name("mzsim");
    let run = std::process::id();

    let mut first = Vec::new();
    let mut restart = Vec::new();
    let mut running = Vec::new();
    for i in 0..count {
        let env = format!("bench-{run}-{i}");
        let port = 30000 + (i as u16) * 4;
        let (child, ms) = boot(&mzsim, &url, &env, port);
        first.push(ms);
        stop(child);
        let (child, ms) = boot(&mzsim, &url, &env, port);
        restart.push(ms);
        running.push(child);
    }
    std::thread::sleep(Duration::from_secs(1));
    let rss: Vec<f64> = running.iter().map(|c| rss_mib(c.id())).collect();
    for (i, ((f, r), m)) in first.iter().zip(&restart).zip(&rss).enumerate() {
        println!("mzsim #{i:<3} first boot {f:6.1} ms   restart {r:6.1} ms   idle RSS {m:5.1} MiB");
    }
    for c in running {
        stop(c);
    }
    println!();
    println!("{count} processes");
    summary("boot, new environment (ms)", &mut first);
    summary("boot, existing environment (ms)", &mut restart);
    summary("idle RSS with all running (MiB)", &mut rss.clone());
}

fn usage(msg: &str) -> ! {
    eprintln!("mzsim-bench: {msg}\nusage: mzsim-bench [N] [--metadata-backend-url URL]");
    std::process::exit(2);
}

fn summary(what: &str, values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    let max = values[values.len() - 1];
    println!("{what:<34} median {median:7.1}   max {max:7.1}");
}

/// Spawns one mzsim and waits until it is ready; the child and the milliseconds it took.
fn boot(mzsim: &std::path::Path, url: &str, env: &str, port: u16) -> (Child, f64) {
    let start = Instant::now();
    let child = Command::new(mzsim)
        .args(["--metadata-backend-url", url, "--environment-id", env])
        .arg(format!("--sql-listen-addr=127.0.0.1:{port}"))
        .arg(format!("--http-listen-addr=127.0.0.1:{}", port + 1))
        .arg(format!("--internal-sql-listen-addr=127.0.0.1:{}", port + 2))
        .arg(format!(
            "--internal-http-listen-addr=127.0.0.1:{}",
            port + 3
        ))
        .env("MZSIM_VERSION", "v26.1.0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mzsim next to mzsim-bench");
    let deadline = start + Duration::from_secs(30);
    while !ready(port + 3) {
        assert!(
            Instant::now() < deadline,
            "mzsim {env} not ready after 30 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    (child, start.elapsed().as_secs_f64() * 1000.0)
}

/// `GET /api/readyz` answered 200.
fn ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /api/readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}
