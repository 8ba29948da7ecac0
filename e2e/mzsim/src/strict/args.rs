//! environmentd's argument parsing (clap, src/environmentd/src/environmentd/main.rs): the
//! flags its version does not have, the required ones, values its parsers reject, `requires`
//! and `conflicts_with`. clap reports these before `run()` and exits 2.

use scenario_operator::{
    environmentd::{
        environment_id,
        versions::{self, License, ListenerSchema, Needs},
    },
    version::MzVersion,
};

use super::{Invocation, Refusal};

/// `(flag, value name)` as clap prints them.
fn usage(flag: &str) -> String {
    let value = match flag {
        "environment-id" => "<CLOUD>-<REGION>-<ORG-ID>-<ORDINAL>".to_string(),
        "listeners-config-path" => "PATH".to_string(),
        other => other.to_uppercase().replace('-', "_"),
    };
    format!("--{flag} <{value}>")
}

pub fn check(inv: &Invocation, version: &MzVersion) -> Result<(), Refusal> {
    if let Some(p) = inv.positional() {
        return Err(Refusal::usage(format!("unexpected argument '{p}' found")));
    }
    unexpected(inv, version)?;
    required(inv, version)?;
    values(inv)?;
    relations(inv)
}

/// Flags this version does not have.
fn unexpected(inv: &Invocation, version: &MzVersion) -> Result<(), Refusal> {
    let needs = Needs::of(version);
    for flag in inv.cli_flags() {
        let gone = match flag {
            "listeners-config-path" => needs.listeners == ListenerSchema::Flags,
            "disable-license-key-checks" => needs.license != License::Disableable,
            _ => false,
        };
        if gone {
            return Err(Refusal::usage(format!(
                "unexpected argument '--{flag}' found (not in environmentd {version})"
            )));
        }
    }
    Ok(())
}

/// Required arguments, all missing ones in one message as clap lists them.
fn required(inv: &Invocation, version: &MzVersion) -> Result<(), Refusal> {
    let needs = Needs::of(version);
    let mut missing = Vec::new();
    for flag in ["environment-id", "orchestrator", "persist-blob-url"] {
        if !inv.explicit(flag) {
            missing.push(flag);
        }
    }
    if inv.value("orchestrator").as_deref() == Some("kubernetes") && !inv.explicit("clusterd-image")
    {
        missing.push("clusterd-image");
    }
    if inv.value("orchestrator").as_deref() == Some("process")
        && !inv.explicit("orchestrator-process-secrets-directory")
    {
        missing.push("orchestrator-process-secrets-directory");
    }
    if versions::REPLICA_SIZES_REQUIRED.admits(version) && !inv.explicit("cluster-replica-sizes") {
        missing.push("cluster-replica-sizes");
    }
    if needs.listeners != ListenerSchema::Flags && !inv.explicit("listeners-config-path") {
        missing.push("listeners-config-path");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(|f| format!("  {}", usage(f))).collect();
    Err(Refusal::usage(format!(
        "the following required arguments were not provided:\n{}",
        list.join("\n")
    )))
}

fn invalid(flag: &str, value: &str, why: &str) -> Refusal {
    Refusal::usage(format!(
        "invalid value '{value}' for '{}': {why}",
        usage(flag)
    ))
}

/// Values the arguments' parsers reject.
fn values(inv: &Invocation) -> Result<(), Refusal> {
    if let Some(id) = inv.value("environment-id")
        && let Err(why) = environment_id::parse(&id, true)
    {
        // environmentd says only "invalid environment ID"; mzsim adds which part.
        return Err(invalid(
            "environment-id",
            &id,
            &format!("invalid environment ID ({why})"),
        ));
    }
    let choices: [(&str, &[&str]); 2] = [
        ("orchestrator", &["kubernetes", "process"]),
        (
            "orchestrator-kubernetes-image-pull-policy",
            &["always", "if-not-present", "never"],
        ),
    ];
    for (flag, allowed) in choices {
        if let Some(v) = inv.value(flag)
            && !allowed.contains(&v.as_str())
        {
            let why = format!("possible values: {}", allowed.join(", "));
            return Err(invalid(flag, &v, &why));
        }
    }
    if let Some(g) = inv.value("deploy-generation")
        && g.parse::<u64>().is_err()
    {
        return Err(invalid(
            "deploy-generation",
            &g,
            "invalid digit found in string",
        ));
    }
    Ok(())
}

/// `requires` and `conflicts_with`.
fn relations(inv: &Invocation) -> Result<(), Refusal> {
    if inv.explicit("metadata-backend-url") {
        for other in ["persist-consensus-url", "timestamp-oracle-url"] {
            if inv.explicit(other) {
                return Err(Refusal::usage(format!(
                    "the argument '{}' cannot be used with '{}'",
                    usage("metadata-backend-url"),
                    usage(other)
                )));
            }
        }
    }
    let requires = [
        (
            "cluster-replica-sizes",
            "bootstrap-default-cluster-replica-size",
        ),
        ("unsafe-builtin-table-fingerprint-whitespace", "unsafe-mode"),
        ("unsafe-force-builtin-schema-migration", "unsafe-mode"),
    ];
    for (flag, needed) in requires {
        if inv.explicit(flag) && !inv.explicit(needed) {
            return Err(Refusal::usage(format!(
                "the following required arguments were not provided:\n  {}",
                usage(needed)
            )));
        }
    }
    Ok(())
}
