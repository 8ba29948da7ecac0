//! What can be checked of the Dockerfiles without Docker (CI has none): every path a COPY
//! takes from the build context exists and is not ignored by `.dockerignore`, every base image
//! is pinned by tag, the final stage runs as a non-root user, and the binary the entrypoint
//! names is the one the build stage builds — a binary target of this workspace (which
//! `cargo test` builds too).

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Dockerfile {
    path: &'static str,
    /// The `[[bin]]` the entrypoint runs.
    binary: &'static str,
    /// The manifest that declares it.
    manifest: &'static str,
}

const DOCKERFILES: &[Dockerfile] = &[
    Dockerfile {
        path: "Dockerfile",
        binary: "scenario-operator",
        manifest: "Cargo.toml",
    },
    Dockerfile {
        path: "e2e/mzsim/Dockerfile",
        binary: "mzsim",
        manifest: "e2e/mzsim/Cargo.toml",
    },
];

/// Instructions with their arguments, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut line = String::new();
    for l in text.lines() {
        let l = l.trim();
        if l.starts_with('#') || (l.is_empty() && line.is_empty()) {
            continue;
        }
        match l.strip_suffix('\\') {
            Some(part) => line.push_str(part),
            None => {
                line.push_str(l);
                let (op, args) = line.split_once(' ').unwrap_or((&line, ""));
                out.push((op.to_ascii_uppercase(), args.trim().to_string()));
                line.clear();
            }
        }
    }
    out
}

#[test]
fn every_dockerfile_copies_what_exists_pins_its_bases_and_runs_non_root() {
    let ignored: Vec<String> = std::fs::read_to_string(Path::new(ROOT).join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for d in DOCKERFILES {
        let text = std::fs::read_to_string(Path::new(ROOT).join(d.path)).unwrap();
        let steps = instructions(&text);
        let mut user_after_last_from = None;
        for (op, args) in &steps {
            match op.as_str() {
                "FROM" => {
                    let image = args.split_whitespace().next().unwrap();
                    let tag = image.rsplit_once(':').map(|(_, t)| t);
                    assert!(
                        tag.is_some_and(|t| t != "latest" && !t.contains('/')),
                        "{}: base image {image} is not pinned by tag",
                        d.path
                    );
                    user_after_last_from = None;
                }
                "USER" => user_after_last_from = Some(args.clone()),
                "COPY" if !args.starts_with("--from") => {
                    let parts: Vec<&str> = args.split_whitespace().collect();
                    for src in &parts[..parts.len() - 1] {
                        assert!(
                            Path::new(ROOT).join(src).exists(),
                            "{}: COPY {src}: no such path in the build context",
                            d.path
                        );
                        assert!(
                            !ignored.iter().any(|i| src.starts_with(i.as_str())),
                            "{}: COPY {src} is excluded by .dockerignore",
                            d.path
                        );
                    }
                }
                _ => {}
            }
        }
        let user = user_after_last_from.unwrap_or_else(|| panic!("{}: no USER", d.path));
        let uid = user.split(':').next().unwrap();
        assert!(
            uid.parse::<u32>().is_ok_and(|u| u != 0),
            "{}: USER {user} is not a numeric non-root uid",
            d.path
        );
        let (_, entrypoint) = steps.iter().rfind(|(op, _)| op == "ENTRYPOINT").unwrap();
        assert_eq!(
            entrypoint,
            &format!("[\"/usr/local/bin/{}\"]", d.binary),
            "{}",
            d.path
        );
        let build = steps
            .iter()
            .find(|(op, args)| op == "RUN" && args.contains("cargo build"))
            .map(|(_, a)| a.clone())
            .unwrap();
        assert!(
            build.contains(&format!("--bin {}", d.binary)) && build.contains("--locked"),
            "{}: {build}",
            d.path
        );
        let manifest = std::fs::read_to_string(Path::new(ROOT).join(d.manifest)).unwrap();
        assert!(
            manifest.contains(&format!("[[bin]]\nname = \"{}\"", d.binary)),
            "{}: {} declares no binary {}",
            d.path,
            d.manifest,
            d.binary
        );
    }
}
