//! A model of the environment's life through a plan, to refuse what Materialize would refuse.
//!
//! It tracks, per `mzService`, whether environmentd runs (as leader or as a read-only new
//! generation), and for the shared catalog its deploy generation and the newest version that
//! opened it — the facts environmentd's preflight, fencing and version checks decide on.

use std::collections::BTreeMap;

use super::{
    action::{Action, StartMz},
    resolve::Defaults,
    resolve::VersionTable,
};
use crate::{
    api::{DEFAULT_MZ_SERVICE, v1alpha1::ScenarioRunSpec},
    version::{MzVersion, check_upgrade},
};

#[derive(Clone, Debug)]
enum Service {
    Running {
        /// `None` while a read-only generation waits for promotion; `Some(ready)` tracks
        /// whether WaitReadyMz/SkipCatchup saw it ready.
        read_only: Option<bool>,
        generation: u64,
        /// `None` for an adopted StatefulSet of unknown version.
        version: Option<MzVersion>,
        since: usize,
    },
    Stopped {
        why: String,
        /// Killed explicitly (a second KillMz is a mistake); fenced or refused pods may still
        /// be crash-looping, so KillMz is how a scenario cleans them up.
        killed: bool,
    },
}

pub struct Sim {
    services: BTreeMap<String, Service>,
    catalog_generation: u64,
    /// When the catalog generation last changed (for messages).
    generation_step: Option<usize>,
    catalog_version: Option<MzVersion>,
    leader: Option<String>,
    lifecycle_default: String,
    adopted: Option<String>,
    initialized: Option<usize>,
    manipulated: [usize; 2],
    repeats_manipulate: bool,
    base: Option<MzVersion>,
    current: MzVersion,
    /// The oldest version a check phase runs on.
    check_floor: Option<MzVersion>,
}

impl Sim {
    pub fn new(spec: &ScenarioRunSpec, versions: &VersionTable) -> Sim {
        let mut services = BTreeMap::new();
        let adopt = spec.environment.adopt.as_ref();
        let adopted = adopt.map(|a| {
            a.mz_service
                .clone()
                .unwrap_or_else(|| DEFAULT_MZ_SERVICE.to_string())
        });
        let adopted_version = adopt.and_then(|a| a.version.as_ref()?.parse().ok());
        if let Some(name) = &adopted {
            // An adopted environmentd is a running leader; like cloudtest's, it runs generation 0.
            let running = Service::Running {
                read_only: None,
                generation: 0,
                version: adopted_version.clone(),
                since: 0,
            };
            services.insert(name.clone(), running);
        }
        Sim {
            services,
            catalog_generation: 0,
            generation_step: None,
            catalog_version: adopted_version.clone(),
            leader: adopted.clone(),
            lifecycle_default: adopted
                .clone()
                .unwrap_or_else(|| DEFAULT_MZ_SERVICE.to_string()),
            adopted,
            initialized: None,
            manipulated: [0, 0],
            repeats_manipulate: false,
            base: adopted_version,
            current: versions.current.clone(),
            check_floor: None,
        }
    }

    pub fn defaults(&self) -> Defaults {
        Defaults {
            lifecycle: self.lifecycle_default.clone(),
            leader: self
                .leader
                .clone()
                .unwrap_or_else(|| self.lifecycle_default.clone()),
        }
    }

    pub fn base_version(&self) -> MzVersion {
        self.base.clone().unwrap_or_else(|| self.current.clone())
    }

    /// The oldest version any Initialize / Manipulate / Validate runs on, which gates checks'
    /// `minCurrentVersion` once for every phase.
    pub fn check_floor(&self) -> Option<MzVersion> {
        self.check_floor.clone()
    }

    fn see_check_phase(&mut self, mz_service: &str) {
        let version = match self.services.get(mz_service) {
            Some(Service::Running { version, .. }) => version.clone(),
            _ => None,
        };
        if let Some(v) = version
            && self.check_floor.as_ref().is_none_or(|f| &v < f)
        {
            self.check_floor = Some(v);
        }
    }

    /// The service clients reach as leader now: the leader, if it still runs as one.
    pub fn serving_leader(&self) -> Option<&str> {
        let leader = self.leader.as_deref()?;
        match self.services.get(leader) {
            Some(Service::Running {
                read_only: None, ..
            }) => Some(leader),
            _ => None,
        }
    }

    pub fn repeats_manipulate(&self) -> bool {
        self.repeats_manipulate
    }

    /// Applies one step (1-based `step`), or says why Materialize or the framework refuses it.
    pub fn apply(&mut self, action: &Action, step: usize) -> Result<(), String> {
        match action {
            Action::StartMz(s) => self.apply_start_mz(s, step),
            Action::ConfigureMz { mz_service }
            | Action::SetupSqlServerTesting { mz_service }
            | Action::SystemVarChange { mz_service, .. } => self.writable(mz_service),
            Action::Initialize { mz_service } => self.apply_initialize(mz_service, step),
            Action::Manipulate { mz_service, phase } => self.apply_manipulate(mz_service, *phase),
            Action::Validate { mz_service } => self.apply_validate(mz_service),
            Action::KillMz { mz_service, .. } => self.apply_kill(mz_service, step),
            Action::WaitReadyMz { mz_service } | Action::SkipCatchup { mz_service } => {
                let ready = self.read_only(mz_service, action)?;
                *ready = true;
                Ok(())
            }
            Action::PromoteMz { mz_service } => self.apply_promote(mz_service, action, step),
            Action::ReplaceEnvironmentdStatefulSet {
                mz_service,
                new_tag,
                expect_failure,
            } => self.apply_replace(mz_service, new_tag, *expect_failure, step),
            Action::Sleep { .. } => Ok(()),
        }
    }

    /// A start either boots (as leader or as a read-only generation, by deploy generation) or
    /// is refused; an expected refusal leaves the service stopped so later steps see it down.
    fn apply_start_mz(&mut self, s: &StartMz, step: usize) -> Result<(), String> {
        let generation = s.deploy_generation.unwrap_or(0);
        if let Some(Service::Running { since, .. }) = self.services.get(&s.mz_service) {
            return Err(format!(
                "{} is already running (started at step {since}); KillMz it first",
                s.mz_service
            ));
        }
        let refusal = self.refusal(generation, &s.tag);
        if s.expect_failure {
            let why = format!("refused to start at step {step} (expected)");
            self.services.insert(
                s.mz_service.clone(),
                Service::Stopped { why, killed: false },
            );
            return Ok(());
        }
        if let Some(refusal) = refusal {
            return Err(format!(
                "{refusal}; set expectFailure: true on this action to rehearse the refusal"
            ));
        }
        self.see_version(&s.tag);
        if generation > self.catalog_generation {
            self.start_read_only(&s.mz_service, generation, &s.tag, step)
        } else {
            self.start_leader(&s.mz_service, generation, &s.tag, step);
            Ok(())
        }
    }

    /// Checks create their objects once per run, so a second Initialize is a scenario mistake.
    fn apply_initialize(&mut self, mz_service: &str, step: usize) -> Result<(), String> {
        self.writable(mz_service)?;
        self.see_check_phase(mz_service);
        if let Some(at) = self.initialized {
            return Err(format!(
                "Initialize already ran at step {at}; checks initialize once"
            ));
        }
        self.initialized = Some(step);
        Ok(())
    }

    /// Manipulate phases build on Initialize and on each other, so they must come in order;
    /// repeats are allowed but remembered, since checks that are not externally idempotent
    /// must then be left out.
    fn apply_manipulate(&mut self, mz_service: &str, phase: u8) -> Result<(), String> {
        self.writable(mz_service)?;
        self.see_check_phase(mz_service);
        if self.initialized.is_none() {
            return Err(
                "Manipulate before Initialize: the checks have nothing to manipulate".into(),
            );
        }
        if phase == 2 && self.manipulated[0] == 0 {
            return Err("Manipulate phase 2 before phase 1".into());
        }
        let count = &mut self.manipulated[usize::from(phase) - 1];
        *count += 1;
        self.repeats_manipulate |= *count > 1;
        Ok(())
    }

    /// Validate asserts the effects of Initialize and both Manipulate phases, so all of them
    /// must have run before it.
    fn apply_validate(&mut self, mz_service: &str) -> Result<(), String> {
        self.writable(mz_service)?;
        self.see_check_phase(mz_service);
        if self.initialized.is_none() || self.manipulated.contains(&0) {
            return Err(
                "Validate before Initialize and both Manipulate phases: validate \
                                checks the effects of all of them"
                    .into(),
            );
        }
        Ok(())
    }

    /// KillMz also cleans up fenced or refused pods, so only a service that was never started
    /// or was already killed is a mistake.
    fn apply_kill(&mut self, mz_service: &str, step: usize) -> Result<(), String> {
        match self.services.get(mz_service) {
            None => Err(self.never_started(mz_service)),
            Some(Service::Stopped { why, killed: true }) => {
                Err(format!("{mz_service} is not running: {why}"))
            }
            Some(_) => {
                let why = format!("killed at step {step}");
                self.services.insert(
                    mz_service.to_string(),
                    Service::Stopped { why, killed: true },
                );
                Ok(())
            }
        }
    }

    /// environmentd refuses to promote a generation that is still catching up, so promotion
    /// needs a WaitReadyMz or SkipCatchup first.
    fn apply_promote(
        &mut self,
        mz_service: &str,
        action: &Action,
        step: usize,
    ) -> Result<(), String> {
        let ready = *self.read_only(mz_service, action)?;
        if !ready {
            return Err(format!(
                "{mz_service} was not seen ready (no WaitReadyMz or SkipCatchup since it \
                 started): environmentd answers \"cannot promote leader while initializing\""
            ));
        }
        self.promote(mz_service, step);
        Ok(())
    }

    /// Replacing the leader's StatefulSet restarts it in place on a new version, keeping its
    /// generation, so it is subject to the same upgrade refusals as a start.
    fn apply_replace(
        &mut self,
        mz_service: &str,
        new_tag: &MzVersion,
        expect_failure: bool,
        step: usize,
    ) -> Result<(), String> {
        let (generation, since) = match self.services.get(mz_service) {
            Some(Service::Running {
                read_only: None,
                generation,
                since,
                ..
            }) => (*generation, *since),
            Some(Service::Running { .. }) => {
                return Err(format!(
                    "{mz_service} is a read-only generation; replace the leader's StatefulSet"
                ));
            }
            Some(Service::Stopped { why, .. }) => {
                return Err(format!("{mz_service} is not running: {why}"));
            }
            None => return Err(self.never_started(mz_service)),
        };
        let refusal = self.refusal(generation, new_tag);
        if expect_failure {
            let why = format!("refused to start with {new_tag} at step {step} (expected)");
            self.services.insert(
                mz_service.to_string(),
                Service::Stopped { why, killed: false },
            );
            return Ok(());
        }
        if let Some(refusal) = refusal {
            return Err(format!(
                "{refusal}; set expectFailure: true on this action to rehearse the refusal"
            ));
        }
        self.see_version(new_tag);
        self.bump_catalog_version(new_tag);
        let running = Service::Running {
            read_only: None,
            generation,
            version: Some(new_tag.clone()),
            since: since.max(step),
        };
        self.services.insert(mz_service.to_string(), running);
        Ok(())
    }

    /// Why environmentd of `version` with `generation` would not boot, if it would not.
    fn refusal(&self, generation: u64, version: &MzVersion) -> Option<String> {
        if generation < self.catalog_generation {
            let when = self
                .generation_step
                .map(|s| format!(" since step {s}"))
                .unwrap_or_default();
            return Some(format!(
                "deploy generation {generation} is below the catalog's generation {}{when}: \
                 environmentd exits with \"this deployment has been fenced out\"",
                self.catalog_generation
            ));
        }
        let catalog = self.catalog_version.as_ref()?;
        check_upgrade(catalog, version).err().map(|e| e.to_string())
    }

    fn see_version(&mut self, version: &MzVersion) {
        if self.base.as_ref().is_none_or(|b| version < b) {
            self.base = Some(version.clone());
        }
    }

    fn bump_catalog_version(&mut self, version: &MzVersion) {
        if self.catalog_version.as_ref().is_none_or(|c| version > c) {
            self.catalog_version = Some(version.clone());
        }
    }

    fn start_read_only(
        &mut self,
        svc: &str,
        generation: u64,
        version: &MzVersion,
        step: usize,
    ) -> Result<(), String> {
        for (other, state) in &self.services {
            if let Service::Running {
                read_only: Some(_),
                generation: g,
                since,
                ..
            } = state
                && *g >= generation
            {
                return Err(format!(
                    "deploy generation {generation} is not above generation {g}, which {other} \
                     started read-only at step {since}: deploy generations must increase"
                ));
            }
        }
        let running = Service::Running {
            read_only: Some(false),
            generation,
            version: Some(version.clone()),
            since: step,
        };
        self.services.insert(svc.to_string(), running);
        Ok(())
    }

    /// A read-write boot of the catalog's own generation: it becomes the leader and, by bumping
    /// the catalog epoch, fences any other leader process.
    fn start_leader(&mut self, svc: &str, generation: u64, version: &MzVersion, step: usize) {
        self.fence(
            |_, read_only| read_only.is_none(),
            &format!("{svc} started as leader"),
            step,
        );
        self.bump_catalog_version(version);
        let running = Service::Running {
            read_only: None,
            generation,
            version: Some(version.clone()),
            since: step,
        };
        self.services.insert(svc.to_string(), running);
        self.leader = Some(svc.to_string());
    }

    fn promote(&mut self, svc: &str, step: usize) {
        let Some(Service::Running {
            generation,
            version,
            since,
            ..
        }) = self.services.get(svc).cloned()
        else {
            return;
        };
        let cause = format!("{svc} was promoted");
        self.fence(|g, _| g < generation, &cause, step);
        self.catalog_generation = generation;
        self.generation_step = Some(step);
        if let Some(v) = &version {
            self.bump_catalog_version(v);
        }
        let running = Service::Running {
            read_only: None,
            generation,
            version,
            since,
        };
        self.services.insert(svc.to_string(), running);
        self.leader = Some(svc.to_string());
    }

    /// Stops every running service that `fenced(generation, read_only)` selects.
    fn fence(&mut self, fenced: impl Fn(u64, &Option<bool>) -> bool, cause: &str, step: usize) {
        for state in self.services.values_mut() {
            if let Service::Running {
                generation,
                read_only,
                ..
            } = state
                && fenced(*generation, read_only)
            {
                let why = format!("fenced out at step {step} when {cause}");
                *state = Service::Stopped { why, killed: false };
            }
        }
    }

    fn never_started(&self, svc: &str) -> String {
        let hint = match &self.adopted {
            Some(adopted) => format!(" (the adopted StatefulSet is addressed as {adopted})"),
            None => "; or set spec.environment.adopt to drive an existing StatefulSet".to_string(),
        };
        format!("{svc} was never started: add a StartMz for it before this step{hint}")
    }

    /// The service must run as leader: read-only generations reject writes and DDL.
    fn writable(&self, svc: &str) -> Result<(), String> {
        match self.services.get(svc) {
            Some(Service::Running {
                read_only: None, ..
            }) => Ok(()),
            Some(Service::Running { since, .. }) => {
                let leader = self.leader.as_deref().unwrap_or("none");
                Err(format!(
                    "{svc} is a read-only generation (started at step {since}, not promoted): it \
                     rejects writes and DDL; target the leader ({leader})"
                ))
            }
            Some(Service::Stopped { why, .. }) => Err(format!("{svc} is not running: {why}")),
            None => Err(self.never_started(svc)),
        }
    }

    /// The readiness flag of a running read-only generation.
    fn read_only(&mut self, svc: &str, action: &Action) -> Result<&mut bool, String> {
        let never = self.never_started(svc);
        match self.services.get_mut(svc) {
            Some(Service::Running {
                read_only: Some(ready),
                ..
            }) => Ok(ready),
            Some(Service::Running { since, .. }) => Err(format!(
                "{} needs a read-only generation, but {svc} runs as leader (started without \
                 deployGeneration at step {since})",
                action.kind()
            )),
            Some(Service::Stopped { why, .. }) => Err(format!("{svc} is not running: {why}")),
            None => Err(never),
        }
    }
}
