//! The command line and environment as clap sees them: every flag may come from the command
//! line or from `MZ_<FLAG>`; a value from the environment counts as given ("explicit") for
//! clap's `requires` and `conflicts_with` (clap-rs/clap#5591), a default does not.

use std::collections::BTreeMap;

/// Flags environmentd treats as switches (no value).
const SWITCHES: &[&str] = &["unsafe-mode", "disable-license-key-checks"];

pub struct Invocation {
    /// `(flag, value)` in order, without the leading `--`.
    cli: Vec<(String, Option<String>)>,
    env: BTreeMap<String, String>,
}

fn env_name(flag: &str) -> String {
    format!("MZ_{}", flag.to_uppercase().replace('-', "_"))
}

impl Invocation {
    pub fn new(args: &[String], env: &BTreeMap<String, String>) -> Invocation {
        let mut cli = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let Some(flag) = args[i].strip_prefix("--") else {
                // A stray positional: clap refuses it; keep it so the check can say so.
                cli.push((String::new(), Some(args[i].clone())));
                i += 1;
                continue;
            };
            match flag.split_once('=') {
                Some((name, value)) => cli.push((name.to_string(), Some(value.to_string()))),
                None if SWITCHES.contains(&flag) => cli.push((flag.to_string(), None)),
                None => {
                    let value = args.get(i + 1).filter(|v| !v.starts_with("--")).cloned();
                    if value.is_some() {
                        i += 1;
                    }
                    cli.push((flag.to_string(), value));
                }
            }
            i += 1;
        }
        Invocation {
            cli,
            env: env.clone(),
        }
    }

    /// The flag's value: the last on the command line, else its environment variable.
    pub fn value(&self, flag: &str) -> Option<String> {
        self.cli
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .or_else(|| {
                self.env
                    .get(&env_name(flag))
                    .filter(|v| !v.is_empty())
                    .cloned()
            })
    }

    /// Every value of a repeatable flag from the command line, else its environment variable.
    pub fn values(&self, flag: &str) -> Vec<String> {
        let cli: Vec<String> = self
            .cli
            .iter()
            .filter(|(f, _)| f == flag)
            .filter_map(|(_, v)| v.clone())
            .collect();
        if !cli.is_empty() {
            return cli;
        }
        self.env.get(&env_name(flag)).cloned().into_iter().collect()
    }

    /// Whether the flag was given at all (command line or environment).
    pub fn explicit(&self, flag: &str) -> bool {
        self.value(flag).is_some()
    }

    /// Flags given on the command line, in order.
    pub fn cli_flags(&self) -> impl Iterator<Item = &str> {
        self.cli.iter().map(|(f, _)| f.as_str())
    }

    /// A stray positional argument, if any.
    pub fn positional(&self) -> Option<&str> {
        self.cli
            .iter()
            .find(|(f, _)| f.is_empty())
            .and_then(|(_, v)| v.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_wins_over_the_environment_and_both_count_as_given() {
        let env = BTreeMap::from([
            ("MZ_ORCHESTRATOR".to_string(), "process".to_string()),
            (
                "MZ_PERSIST_CONSENSUS_URL".to_string(),
                "postgres://x".to_string(),
            ),
        ]);
        let args: Vec<String> = ["--orchestrator", "kubernetes", "--unsafe-mode", "--a=b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let inv = Invocation::new(&args, &env);
        assert_eq!(inv.value("orchestrator").as_deref(), Some("kubernetes"));
        assert!(inv.explicit("persist-consensus-url"));
        assert!(inv.explicit("unsafe-mode"));
        assert_eq!(inv.value("a").as_deref(), Some("b"));
        assert!(!inv.explicit("timestamp-oracle-url"));
    }
}
