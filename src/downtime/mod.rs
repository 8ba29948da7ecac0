//! Client downtime, pure: a run's probe answers tallied per step ([`RunTally`]), the run's
//! total from its steps' records ([`run_downtime`]), and `spec.budgets` judged against them
//! ([`judge_step`], [`judge_run`], [`duration_overrun`]). The probe itself is IO
//! (`operator::probe`); nothing here reads a clock: every time is an input.
//!
//! A window of downtime runs from the first unanswered probe to the next answered one, so its
//! resolution is the probe interval. A window still open when a step ends is cut there and
//! goes on in the next step's record (`continues`); the run's longest window joins the parts.

use std::{fmt, time::Duration};

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::MicroTime, jiff::Timestamp};

use crate::api::v1alpha1::{
    ActionKind, Budgets, DowntimeWindow, RunDowntime, ScenarioRunStatus, StepProbes, StepRecord,
};

/// Latencies kept per step for its percentiles (at 100 ms, almost three hours of answers).
const MAX_LATENCIES: usize = 100_000;

/// One probe: its latency when answered, or why it was not.
pub type ProbeResult = Result<Duration, String>;

fn between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or_default()
}

/// Seconds to the microsecond, as status records them.
fn seconds(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// The answers of one step so far.
#[derive(Debug, Clone)]
struct Tally {
    since: Timestamp,
    sent: u32,
    failed: u32,
    latencies: Vec<Duration>,
    windows: Vec<DowntimeWindow>,
    omitted: u32,
    downtime: Duration,
    longest: Duration,
    /// The window open now: when it began and the first error.
    open: Option<(Timestamp, String)>,
}

impl Tally {
    fn new(since: Timestamp, open: Option<(Timestamp, String)>) -> Self {
        Tally {
            since,
            sent: 0,
            failed: 0,
            latencies: Vec::new(),
            windows: Vec::new(),
            omitted: 0,
            downtime: Duration::ZERO,
            longest: Duration::ZERO,
            open,
        }
    }

    fn close(&mut self, end: Timestamp, continues: bool) {
        let Some((start, error)) = self.open.take() else {
            return;
        };
        let length = between(start, end);
        self.downtime += length;
        self.longest = self.longest.max(length);
        if self.windows.len() < StepProbes::MAX_WINDOWS {
            self.windows.push(DowntimeWindow {
                start: MicroTime(start),
                end: MicroTime(end),
                error,
                continues,
            });
        } else {
            self.omitted += 1;
        }
    }

    fn summary(mut self) -> StepProbes {
        self.latencies.sort();
        let pct = |p: f64| {
            let n = self.latencies.len();
            // Nearest rank: the smallest latency at or above p of the answers.
            (n > 0)
                .then(|| seconds(self.latencies[((p * n as f64).ceil() as usize).clamp(1, n) - 1]))
        };
        StepProbes {
            since: Some(MicroTime(self.since)),
            sent: self.sent,
            failed: self.failed,
            downtime_seconds: seconds(self.downtime),
            longest_window_seconds: seconds(self.longest),
            latency_p50_seconds: pct(0.5),
            latency_p99_seconds: pct(0.99),
            windows: self.windows,
            windows_omitted: self.omitted,
        }
    }
}

/// A run's probe answers, attributed to the step they came in.
#[derive(Debug, Clone)]
pub struct RunTally {
    /// The step answers are attributed to now.
    pub index: usize,
    /// The environment answered once: from then on an unanswered probe is downtime (before,
    /// there was no environment to be down).
    answered: bool,
    step: Tally,
}

impl RunTally {
    pub fn new(index: usize, now: Timestamp) -> Self {
        RunTally {
            index,
            answered: false,
            step: Tally::new(now, None),
        }
    }

    /// One probe, sent at `at`.
    pub fn record(&mut self, at: Timestamp, result: ProbeResult) {
        match result {
            Ok(latency) => {
                self.answered = true;
                let step = &mut self.step;
                step.sent += 1;
                if step.latencies.len() < MAX_LATENCIES {
                    step.latencies.push(latency);
                }
                step.close(at, false);
            }
            Err(_) if !self.answered => {}
            Err(error) => {
                let step = &mut self.step;
                step.sent += 1;
                step.failed += 1;
                if step.open.is_none() {
                    step.open = Some((at, error));
                }
            }
        }
    }

    /// The current step ended at `at`: its record; answers from now on belong to the next.
    pub fn end_step(&mut self, at: Timestamp) -> StepProbes {
        let carried = self.step.open.as_ref().map(|(_, e)| (at, e.clone()));
        self.step.close(at, true);
        let ended = std::mem::replace(&mut self.step, Tally::new(at, carried));
        self.index += 1;
        ended.summary()
    }
}

/// The run's downtime from its steps' records (`None` while no step has one).
pub fn run_downtime(steps: &[StepRecord]) -> Option<RunDowntime> {
    let mut total = RunDowntime::default();
    let mut any = false;
    let mut windows = 0u32;
    // The window being joined across step boundaries: its length so far and where it ends.
    let mut chain: Option<(f64, MicroTime)> = None;
    for p in steps.iter().filter_map(|s| s.probes.as_ref()) {
        any = true;
        total.sent += p.sent;
        total.failed += p.failed;
        total.downtime_seconds += p.downtime_seconds;
        total.longest_window_seconds = total.longest_window_seconds.max(p.longest_window_seconds);
        windows += p.windows_omitted;
        for w in &p.windows {
            let length = seconds(between(w.start.0, w.end.0));
            let joined = match chain.take() {
                Some((so_far, end)) if end == w.start => so_far + length,
                _ => {
                    windows += 1;
                    length
                }
            };
            total.longest_window_seconds = total.longest_window_seconds.max(joined);
            chain = w.continues.then(|| (joined, w.end.clone()));
        }
    }
    if !any {
        return None;
    }
    total.downtime_seconds = (total.downtime_seconds * 1e6).round() / 1e6;
    total.summary = match windows {
        0 => format!("0s ({} probes)", total.sent),
        1 => format!("{:.3}s (1 window)", total.downtime_seconds),
        n => format!("{:.3}s ({n} windows)", total.downtime_seconds),
    };
    Some(total)
}

/// What a budget measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    StepDowntime,
    StepDuration,
    RunDowntime,
    RunDuration,
}

/// An exceeded budget: which (its field path), its limit, and what was measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overrun {
    pub budget: String,
    pub measure: Measure,
    pub limit: Duration,
    pub measured: Duration,
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.measure {
            Measure::StepDowntime => "client downtime in this step",
            Measure::StepDuration => "this step has taken",
            Measure::RunDowntime => "client downtime in the run so far",
            Measure::RunDuration => "the run has taken",
        };
        write!(
            f,
            "budget {} ({:?}) exceeded: {what} {:.3}s",
            self.budget,
            self.limit,
            self.measured.as_secs_f64()
        )
    }
}

fn over(budget: String, measure: Measure, limit: Duration, measured: Duration) -> Option<Overrun> {
    (measured > limit).then_some(Overrun {
        budget,
        measure,
        limit,
        measured,
    })
}

/// The budget of `kind`'s steps for one measure: the action's own, else the general one.
fn step_budget(
    budgets: &Budgets,
    kind: ActionKind,
    measure: Measure,
) -> Option<(String, Duration)> {
    let own = budgets
        .actions
        .get(kind.name())
        .and_then(|b| match measure {
            Measure::StepDowntime => b.downtime,
            _ => b.duration,
        });
    if let Some(d) = own {
        let field = if measure == Measure::StepDowntime {
            "downtime"
        } else {
            "duration"
        };
        return Some((format!("spec.budgets.actions.{kind}.{field}"), d.into()));
    }
    let (field, general) = match measure {
        Measure::StepDowntime => ("stepDowntime", budgets.step_downtime),
        _ => ("stepDuration", budgets.step_duration),
    };
    general.map(|d| (format!("spec.budgets.{field}"), d.into()))
}

fn from_seconds(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// A step that ended: its downtime and its duration against their budgets.
pub fn judge_step(budgets: &Budgets, kind: ActionKind, record: &StepRecord) -> Option<Overrun> {
    let downtime = record
        .probes
        .as_ref()
        .map(|p| from_seconds(p.downtime_seconds));
    let down = step_budget(budgets, kind, Measure::StepDowntime)
        .zip(downtime)
        .and_then(|((b, l), m)| over(b, Measure::StepDowntime, l, m));
    let took = match (&record.started_at, &record.finished_at) {
        (Some(s), Some(e)) => Some(between(s.0, e.0)),
        _ => None,
    };
    down.or_else(|| {
        let (b, l) = step_budget(budgets, kind, Measure::StepDuration)?;
        over(b, Measure::StepDuration, l, took?)
    })
}

/// The run's downtime so far against its budget.
pub fn judge_run(budgets: &Budgets, status: &ScenarioRunStatus) -> Option<Overrun> {
    let limit = budgets.downtime?;
    let measured = from_seconds(status.downtime.as_ref()?.downtime_seconds);
    over(
        "spec.budgets.downtime".into(),
        Measure::RunDowntime,
        limit.into(),
        measured,
    )
}

/// A running step (of `kind`, started at `step_start`) or the run (started at `run_start`) past
/// its duration budget at `now`.
pub fn duration_overrun(
    budgets: &Budgets,
    kind: ActionKind,
    step_start: Option<Timestamp>,
    run_start: Option<Timestamp>,
    now: Timestamp,
) -> Option<Overrun> {
    let run = budgets.run_duration.zip(run_start).and_then(|(l, s)| {
        over(
            "spec.budgets.runDuration".into(),
            Measure::RunDuration,
            l.into(),
            between(s, now),
        )
    });
    run.or_else(|| {
        let (b, l) = step_budget(budgets, kind, Measure::StepDuration)?;
        over(b, Measure::StepDuration, l, between(step_start?, now))
    })
}

/// One line for a step's Event: what clients saw.
pub fn describe(p: &StepProbes) -> String {
    let ms = |s: f64| format!("{:.1}ms", s * 1000.0);
    let mut line = format!("clients: {:.3}s down", p.downtime_seconds);
    if p.downtime_seconds > 0.0 {
        line.push_str(&format!(" (longest {:.3}s)", p.longest_window_seconds));
    }
    line.push_str(&format!(", {}/{} probes failed", p.failed, p.sent));
    if let (Some(p50), Some(p99)) = (p.latency_p50_seconds, p.latency_p99_seconds) {
        line.push_str(&format!(", latency p50 {} p99 {}", ms(p50), ms(p99)));
    }
    line
}

#[cfg(test)]
mod tests;
