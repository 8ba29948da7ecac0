//! Fault injection through one variable, like Materialize's `FAILPOINTS`:
//! `MZSIM_FAILPOINTS="slow_boot=2s;crash_during_catchup"`.
//!
//! | failpoint | effect |
//! | --- | --- |
//! | `slow_boot=<duration>` | sleep before binding any listener |
//! | `crash_during_catchup` | a read-only generation exits 1 halfway through catch-up |
//! | `never_ready` | catch-up never ends (only skip-catchup ends it) |
//! | `promote_fail` | `POST /api/leader/promote` answers 400 Failure |
//! | `exit_during_promotion` | after answering promote Success, exit 1 before fencing |
//! | `slow_sql=<duration>` | every SQL statement waits this long first |

use std::time::Duration;

use crate::config::parse_duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failpoints {
    pub slow_boot: Option<Duration>,
    pub crash_during_catchup: bool,
    pub never_ready: bool,
    pub promote_fail: bool,
    pub exit_during_promotion: bool,
    pub slow_sql: Option<Duration>,
}

impl Failpoints {
    pub fn parse(raw: &str) -> Result<Failpoints, String> {
        let mut f = Failpoints::default();
        for item in raw.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            let duration = || -> Result<Duration, String> {
                parse_duration(value.ok_or(format!("{name} needs =<duration>"))?)
            };
            match name {
                "slow_boot" => f.slow_boot = Some(duration()?),
                "slow_sql" => f.slow_sql = Some(duration()?),
                "crash_during_catchup" => f.crash_during_catchup = true,
                "never_ready" => f.never_ready = true,
                "promote_fail" => f.promote_fail = true,
                "exit_during_promotion" => f.exit_during_promotion = true,
                other => {
                    return Err(format!(
                        "unknown failpoint {other:?}; known: slow_boot, crash_during_catchup, \
                         never_ready, promote_fail, exit_during_promotion, slow_sql"
                    ));
                }
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_failpoint() {
        let f = Failpoints::parse(
            "slow_boot=1s; crash_during_catchup;never_ready;promote_fail;exit_during_promotion;slow_sql=20ms",
        )
        .unwrap();
        assert_eq!(f.slow_boot, Some(Duration::from_secs(1)));
        assert_eq!(f.slow_sql, Some(Duration::from_millis(20)));
        assert!(
            f.crash_during_catchup && f.never_ready && f.promote_fail && f.exit_during_promotion
        );
        assert_eq!(Failpoints::parse("").unwrap(), Failpoints::default());
    }

    #[test]
    fn rejects_unknown_names_and_missing_values() {
        assert!(Failpoints::parse("explode").unwrap_err().contains("known:"));
        assert!(
            Failpoints::parse("slow_boot")
                .unwrap_err()
                .contains("needs")
        );
    }
}
