//! Executing a pipeline: units of work (stage x site x date) in dependency order, each decided against the run
//! ledger (skip when done with the same inputs and its outputs are unchanged, retry failures up to a limit), under
//! the run lock, with sites in parallel up to `--jobs`, and a graceful stop at the next unit boundary on
//! SIGTERM/SIGINT.
//!
//! Order: dates in order; within a date, stages by [`super::rank`]; within a stage, sites in parallel. Undated stages
//! (DEM, terrain, observations, model) are units once per site, not once per date. A site whose unit fails or gives
//! up skips its later stages (of that date; of every date when the unit is undated); other sites go on.
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDate;
use tracing::{error, info, info_span, warn, Span};

use super::fingerprint::{self, FingerprintError};
use super::ledger::{Ledger, LedgerError, UnitKey, UNDATED};
use super::lock::{LockError, RunLock};
pub use super::shard::{ledger_path, ledgers_in, lock_path, read_ledgers, select_dates, select_sites, Shard, ShardBy};
use super::{io, rank, run_stage, run_weather, ErrorKind, RunContext, StageError, StageReport, UnitIo};
use crate::config::{Pipeline, Plan, Site, Stage};
use crate::store::Store;

/// Failed attempts on unchanged inputs after which a unit is no longer retried (until its inputs change).
pub const DEFAULT_MAX_ATTEMPTS: i64 = 3;

/// How to run: flags, not data.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Site ids to run (empty: every site of the plan).
    pub sites: Vec<String>,
    /// Run dates, in order (one for a daily run, a range for a backfill).
    pub dates: Vec<NaiveDate>,
    /// First day of weather to ingest for a single date (default: the history the weather features need).
    pub weather_from: Option<NaiveDate>,
    pub offline: bool,
    /// Sites run in parallel within a stage (at least 1).
    pub jobs: usize,
    pub dry_run: bool,
    pub shard: Option<Shard>,
    /// Wait for the lock instead of failing with [`LockError::Held`].
    pub wait: bool,
    pub max_attempts: i64,
    /// Ledger file (default: [`ledger_path`]).
    pub ledger: Option<PathBuf>,
    /// Set (by a signal handler) to stop at the next unit boundary.
    pub stop: Arc<AtomicBool>,
}

impl RunOptions {
    pub fn new(dates: Vec<NaiveDate>) -> RunOptions {
        RunOptions {
            sites: Vec::new(),
            dates,
            weather_from: None,
            offline: false,
            jobs: 1,
            dry_run: false,
            shard: None,
            wait: false,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            ledger: None,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(
        "pipeline `{pipeline}` has undated stages ({stages}) that every date shard would run at once: shard it by \
         site (--shard-by round-robin or hash), or run those stages first and date-shard a pipeline of dated stages"
    )]
    UndatedInDateShard { pipeline: String, stages: String },
}

/// What happened to one unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Ran and succeeded: what was written.
    Done(String),
    /// Not run: done before with the same inputs, outputs unchanged.
    Skipped(String),
    Failed(StageError),
    /// Failed `max_attempts` times on these inputs: not retried until they change.
    GaveUp(String),
    /// Not run: an earlier stage of the site failed.
    Blocked(String),
    /// `--dry-run`: would run, and why.
    WouldRun(String),
}

impl Outcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::GaveUp(_) | Outcome::Blocked(_))
    }
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done(_) => "ok",
            Outcome::Skipped(_) => "skip",
            Outcome::Failed(_) => "FAIL",
            Outcome::GaveUp(_) => "GAVE-UP",
            Outcome::Blocked(_) => "BLOCKED",
            Outcome::WouldRun(_) => "run",
        }
    }
    pub fn text(&self) -> &str {
        match self {
            Outcome::Failed(e) => &e.message,
            Outcome::Done(s)
            | Outcome::Skipped(s)
            | Outcome::GaveUp(s)
            | Outcome::Blocked(s)
            | Outcome::WouldRun(s) => s,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UnitResult {
    pub key: UnitKey,
    pub outcome: Outcome,
    pub seconds: f64,
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub run_id: String,
    pub ledger: PathBuf,
    pub units: Vec<UnitResult>,
    /// Stopped early by a signal.
    pub stopped: bool,
}

impl RunSummary {
    pub fn failures(&self) -> impl Iterator<Item = &UnitResult> {
        self.units.iter().filter(|u| u.outcome.is_failure())
    }
    /// 0 all done (or skipped); 1 some units failed on their input, 70 a unit failed inside avarisk or its machine
    /// (the rest was done in both cases); 130 stopped by a signal before the end.
    pub fn exit_code(&self) -> u8 {
        let internal = |u: &&UnitResult| matches!(&u.outcome, Outcome::Failed(e) if e.kind == ErrorKind::Internal);
        if self.stopped {
            130
        } else if self.units.iter().any(|u| internal(&u)) {
            ErrorKind::Internal.exit_code()
        } else if self.failures().next().is_some() {
            ErrorKind::Input.exit_code()
        } else {
            0
        }
    }
}

/// A unit about to be decided: its key, what it reads and writes, and its input hash.
struct Prepared<'a> {
    site: &'a Site,
    key: UnitKey,
    io: UnitIo,
    input_hash: Result<String, FingerprintError>,
}

enum Decision {
    Run(String),
    Skip(String),
    GiveUp(String),
}

/// Runs `pipeline` as `opts` say, writing into `store`.
pub fn execute(plan: &Plan, pipeline: &Pipeline, store: &Store, opts: &RunOptions) -> Result<RunSummary, RunError> {
    if opts.shard.is_some_and(|sh| sh.by == ShardBy::Date) {
        let undated: Vec<&str> = pipeline.stages.iter().filter(|s| !super::dated(s)).map(|s| s.name()).collect();
        if !undated.is_empty() {
            let (pipeline, stages) = (pipeline.name.clone(), undated.join(", "));
            return Err(RunError::UndatedInDateShard { pipeline, stages });
        }
    }
    let run_id = format!("{}-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), std::process::id());
    let ledger_file = opts.ledger.clone().unwrap_or_else(|| ledger_path(store, opts.shard));
    let run_span = info_span!("run", run_id = %run_id, pipeline = %pipeline.name);
    let _entered = run_span.enter();
    let mut summary = RunSummary { run_id: run_id.clone(), ledger: ledger_file.clone(), ..Default::default() };

    let (_lock, ledger) = if opts.dry_run {
        let ledger = if ledger_file.exists() { Some(Ledger::open_read_only(&ledger_file)?) } else { None };
        (None, ledger)
    } else {
        let lock = RunLock::acquire(&lock_path(store, opts.shard), opts.wait, &run_id)?;
        let ledger = Ledger::open(&ledger_file)?;
        let recovered = ledger.recover()?;
        if recovered > 0 {
            warn!(units = recovered, "a killed run left units running: they run again");
        }
        ledger.begin_run(&run_id, &pipeline.name, &std::env::args().collect::<Vec<_>>().join(" "))?;
        (Some(lock), Some(ledger))
    };

    let mut stages: Vec<&Stage> = pipeline.stages.iter().collect();
    stages.sort_by_key(|s| rank(s));
    let sites = select_sites(plan, opts);
    let dates = select_dates(opts);
    info!(sites = sites.len(), dates = dates.len(), stages = stages.len(), "run starts");
    // Sites blocked for every later date (an undated unit failed), and units already handled in this run.
    let mut blocked_for_good: BTreeMap<String, String> = BTreeMap::new();
    let mut handled: BTreeSet<UnitKey> = BTreeSet::new();

    'dates: for date in &dates {
        let ctx = RunContext {
            date: *date,
            from: if opts.dates.len() == 1 { opts.weather_from } else { None },
            offline: opts.offline,
        };
        let mut blocked: BTreeMap<String, String> = blocked_for_good.clone();
        // Sites with a unit of this date that runs (dry run): their later stages' inputs will change.
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        for stage in &stages {
            if opts.stop.load(Ordering::SeqCst) {
                summary.stopped = true;
                break 'dates;
            }
            // A target site's model starts from its source's bundle: source sites run first, and target units are
            // prepared after them, so their input hashes see the new source bundle.
            let waves: Vec<Vec<&Site>> = match stage {
                Stage::Model(_) | Stage::Hazard => {
                    let (sources, targets) = sites
                        .iter()
                        .copied()
                        .partition(|s: &&Site| s.model.as_ref().and_then(|m| m.from.as_ref()).is_none());
                    vec![sources, targets]
                }
                _ => vec![sites.to_vec()],
            };
            let mut results = Vec::new();
            for wave in waves {
                let mut units = Vec::new();
                for site in &wave {
                    let key = unit_key(&pipeline.name, stage, &site.id, *date);
                    if !handled.insert(key.clone()) {
                        continue;
                    }
                    if let Some(why) = blocked.get(&site.id) {
                        summary.units.push(UnitResult { key, outcome: Outcome::Blocked(why.clone()), seconds: 0.0 });
                        continue;
                    }
                    let io = io(site, stage, store, &ctx);
                    let config = site_config_for(site, stage);
                    let input_hash = fingerprint::inputs(&format!("{stage:?}\n{config:?}\n{}", io.key), &io.inputs);
                    units.push(Prepared { site, key, io, input_hash });
                }
                let wave_results = if opts.dry_run {
                    units.iter().map(|u| plan_unit(u, ledger.as_ref(), opts, &dirty)).collect::<Vec<_>>()
                } else {
                    let ledger = ledger.as_ref().expect("a ledger outside dry runs");
                    if let Stage::Weather(_) = stage {
                        weather_units(&units, stage, store, &ctx, ledger, opts, &run_id)
                    } else {
                        parallel_units(plan, &units, stage, store, &ctx, ledger, opts, &run_id)
                    }
                };
                results.extend(wave_results);
            }
            for r in results {
                if r.outcome.is_failure() {
                    let why = format!("stage `{}` failed for this site", r.key.stage);
                    if r.key.date == UNDATED {
                        blocked_for_good.insert(r.key.site.clone(), why.clone());
                    }
                    blocked.insert(r.key.site.clone(), why);
                }
                if matches!(r.outcome, Outcome::WouldRun(_)) {
                    dirty.insert(r.key.site.clone());
                }
                summary.units.push(r);
            }
        }
    }
    if opts.stop.load(Ordering::SeqCst) {
        summary.stopped = true;
    }
    if let (Some(ledger), false) = (&ledger, opts.dry_run) {
        ledger.end_run(&run_id, summary.exit_code())?;
    }
    if summary.stopped {
        warn!("stopped by a signal at a unit boundary; run again to finish");
    }
    info!(units = summary.units.len(), failed = summary.failures().count(), "run ends");
    Ok(summary)
}

fn unit_key(pipeline: &str, stage: &Stage, site: &str, date: NaiveDate) -> UnitKey {
    UnitKey {
        pipeline: pipeline.to_owned(),
        stage: stage.name().to_owned(),
        site: site.to_owned(),
        date: if super::dated(stage) { date.to_string() } else { UNDATED.to_owned() },
    }
}

fn decide(u: &Prepared, ledger: Option<&Ledger>, opts: &RunOptions) -> Result<Decision, String> {
    let input_hash = u.input_hash.as_ref().map_err(|e| e.to_string())?;
    let Some(row) = ledger.map(|l| l.get(&u.key)).transpose().map_err(|e| e.to_string())?.flatten() else {
        return Ok(Decision::Run("never ran".into()));
    };
    if row.input_hash.as_deref() != Some(input_hash.as_str()) {
        return Ok(Decision::Run(format!("inputs changed since the last run ({})", row.status)));
    }
    match row.status.as_str() {
        "done" => {
            let now = fingerprint::outputs(&u.io.outputs).map_err(|e| e.to_string())?;
            if now.is_none() || u.io.shared.iter().any(|p| !p.exists()) {
                Ok(Decision::Run("an output is missing".into()))
            } else if now != row.output_hash {
                Ok(Decision::Run("an output changed since it was written".into()))
            } else {
                Ok(Decision::Skip(format!("done {}", row.finished_at.unwrap_or_default())))
            }
        }
        "failed" if row.attempts >= opts.max_attempts => Ok(Decision::GiveUp(format!(
            "failed {} times on these inputs; not retried until they change: {}",
            row.attempts,
            row.error.unwrap_or_default()
        ))),
        status => Ok(Decision::Run(format!("{status} before (attempt {})", row.attempts + 1))),
    }
}

fn plan_unit(u: &Prepared, ledger: Option<&Ledger>, opts: &RunOptions, dirty: &BTreeSet<String>) -> UnitResult {
    let outcome = if dirty.contains(&u.site.id) {
        Outcome::WouldRun("an earlier stage of the site runs first".into())
    } else {
        match decide(u, ledger, opts) {
            Ok(Decision::Run(why)) => Outcome::WouldRun(why),
            Ok(Decision::Skip(why)) => Outcome::Skipped(why),
            Ok(Decision::GiveUp(why)) => Outcome::GaveUp(why),
            Err(e) => Outcome::WouldRun(format!("cannot check: {e}")),
        }
    };
    UnitResult { key: u.key.clone(), outcome, seconds: 0.0 }
}

/// Removes staged files (`.<name>.<pid>.tmp`) that a killed run left next to `outputs`.
fn sweep_staged(outputs: &[PathBuf]) {
    for out in outputs {
        let (Some(dir), Some(name)) = (out.parent(), out.file_name()) else { continue };
        let prefix = format!(".{}.", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) && n.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Decides a unit and, when it must run, records the start in the ledger. `Err` is the finished result.
fn begin(u: &Prepared, ledger: &Ledger, opts: &RunOptions, run_id: &str) -> Result<(), Outcome> {
    match decide(u, Some(ledger), opts) {
        Err(e) => {
            let e = format!("cannot check the unit's inputs or outputs: {e}");
            Err(Outcome::Failed(StageError::internal(e)))
        }
        Ok(Decision::Skip(why)) => Err(Outcome::Skipped(why)),
        Ok(Decision::GiveUp(why)) => Err(Outcome::GaveUp(why)),
        Ok(Decision::Run(why)) => {
            let input_hash = u.input_hash.as_ref().expect("decided on a hash");
            sweep_staged(&u.io.outputs);
            sweep_staged(&u.io.shared);
            let attempt = ledger
                .start(&u.key, input_hash, run_id)
                .map_err(|e| Outcome::Failed(StageError::internal(e.to_string())))?;
            info!(attempt, "runs: {why}");
            Ok(())
        }
    }
}

/// Records how a unit that ran ended.
fn finish(u: &Prepared, ledger: &Ledger, result: Result<StageReport, StageError>) -> Outcome {
    let failed = |e: StageError| ledger.failed(&u.key, &e).map(|_| Outcome::Failed(e));
    let recorded = match result {
        Ok(report) => {
            let msg = report.to_string();
            match fingerprint::outputs(&u.io.outputs) {
                Ok(Some(h)) => ledger.done(&u.key, &h, &msg).map(|_| Outcome::Done(msg)),
                Ok(None) => failed(StageError::internal(format!(
                    "the stage reported success but did not write {:?}",
                    u.io.outputs
                ))),
                Err(e) => failed(StageError::of(&e)),
            }
        }
        Err(e) => failed(e),
    };
    let outcome = recorded.unwrap_or_else(|e| Outcome::Failed(StageError::internal(e.to_string())));
    match &outcome {
        Outcome::Done(msg) => info!("{}", msg.lines().next().unwrap_or_default()),
        other => error!("{}", other.text()),
    }
    outcome
}

/// The part of a site's configuration a stage's result depends on (hashed into its input hash): the danger levels
/// and the publish target shape only what is published, the model section only the model and what runs it, so
/// recalibrating thresholds republishes without re-deriving terrain or retraining, and a new target uploads.
fn site_config_for(site: &Site, stage: &Stage) -> Site {
    let mut s = site.clone();
    if !matches!(stage, Stage::Publish(_)) {
        s.danger = None;
        s.publish = None;
    }
    if !matches!(stage, Stage::Model(_) | Stage::Hazard | Stage::Predict(_) | Stage::Publish(_)) {
        s.model = None;
    }
    s
}

fn unit_span(u: &Prepared) -> Span {
    info_span!("unit", site = %u.key.site, stage = %u.key.stage, date = %u.key.date)
}

/// Runs the units of one (non-weather) stage, `opts.jobs` sites at a time.
#[allow(clippy::too_many_arguments)]
fn parallel_units(
    plan: &Plan,
    units: &[Prepared],
    stage: &Stage,
    store: &Store,
    ctx: &RunContext,
    ledger: &Ledger,
    opts: &RunOptions,
    run_id: &str,
) -> Vec<UnitResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, UnitResult)>> = Mutex::new(Vec::new());
    let parent = Span::current();
    let worker = || loop {
        if opts.stop.load(Ordering::SeqCst) {
            break;
        }
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(u) = units.get(i) else { break };
        let span = info_span!(parent: &parent, "unit", site = %u.key.site, stage = %u.key.stage, date = %u.key.date);
        let _g = span.enter();
        let t = Instant::now();
        let outcome = match begin(u, ledger, opts, run_id) {
            Err(outcome) => outcome,
            Ok(()) => {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_stage(plan, u.site, stage, store, ctx)
                }))
                .unwrap_or_else(|p| Err(StageError::panic(p.as_ref())));
                finish(u, ledger, r)
            }
        };
        if let Outcome::Skipped(why) = &outcome {
            info!("skipped: {why}");
        }
        let r = UnitResult { key: u.key.clone(), outcome, seconds: t.elapsed().as_secs_f64() };
        results.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
    };
    let jobs = opts.jobs.clamp(1, units.len().max(1));
    if jobs == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(worker);
            }
        });
    }
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The weather stage: the units that must run fetch together (one HTTP client, one concurrency limit).
fn weather_units(
    units: &[Prepared],
    stage: &Stage,
    store: &Store,
    ctx: &RunContext,
    ledger: &Ledger,
    opts: &RunOptions,
    run_id: &str,
) -> Vec<UnitResult> {
    let Stage::Weather(params) = stage else { unreachable!("weather_units runs the weather stage") };
    let mut results: Vec<Option<UnitResult>> = vec![None; units.len()];
    let mut to_run = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let _g = unit_span(u).entered();
        match begin(u, ledger, opts, run_id) {
            Err(outcome) => {
                if let Outcome::Skipped(why) = &outcome {
                    info!("skipped: {why}");
                }
                results[i] = Some(UnitResult { key: u.key.clone(), outcome, seconds: 0.0 })
            }
            Ok(()) => to_run.push(i),
        }
    }
    if !to_run.is_empty() && !opts.stop.load(Ordering::SeqCst) {
        let sites: Vec<&Site> = to_run.iter().map(|&i| units[i].site).collect();
        let fetched =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_weather(&sites, params, store, ctx)))
                .unwrap_or_else(|p| {
                    let e = StageError::panic(p.as_ref());
                    sites.iter().map(|s| (s.id.clone(), Err(e.clone()), 0.0)).collect()
                });
        for (&i, (_, result, seconds)) in to_run.iter().zip(fetched) {
            let u = &units[i];
            let _g = unit_span(u).entered();
            let outcome = finish(u, ledger, result);
            results[i] = Some(UnitResult { key: u.key.clone(), outcome, seconds });
        }
    } else {
        // Stopped before the fetch: the started units are left to the next run.
        for &i in &to_run {
            let u = &units[i];
            let _ = ledger.failed(&u.key, &StageError::internal("stopped by a signal before it ran"));
        }
    }
    results.into_iter().flatten().collect()
}

/// Sets `flag` on SIGTERM or SIGINT (the run stops at the next unit boundary); a second signal ends the process at
/// once (exit 130), leaving the ledger for the next run to recover.
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&flag));
        let _ = signal_hook::flag::register(sig, Arc::clone(&flag));
    }
    flag
}
