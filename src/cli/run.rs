//! `avarisk run | status`: a pipeline over the configured sites and days through the runner and its ledger, and the
//! ledger read back.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use chrono::NaiveDate;
use clap::Args;

use super::{usage, Ctx};
use crate::pipeline::{self, ledger::Row, runner, RunOptions};

/// The days a run is for, and how weather may be fetched.
#[derive(Debug, Clone, Args)]
pub struct When {
    /// The day (site-local, YYYY-MM-DD). Default: today.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub date: Option<NaiveDate>,
    /// Backfill: first day of a date range run day by day, in order (with --to).
    #[arg(long, requires = "to")]
    pub from: Option<NaiveDate>,
    /// Backfill: last day of the range (with --from).
    #[arg(long, requires = "from")]
    pub to: Option<NaiveDate>,
    /// First day of weather to ingest for a single date. Default: 14 days before it (the history weather features need).
    #[arg(long, conflicts_with = "from")]
    pub weather_from: Option<NaiveDate>,
    /// No network: answer weather requests from the cache and the sites' recorded answers only.
    #[arg(long)]
    pub offline: bool,
}

impl When {
    /// The run dates, in order.
    fn dates(&self) -> anyhow::Result<Vec<NaiveDate>> {
        match (self.from, self.to) {
            (Some(from), Some(to)) if from > to => {
                bail!(usage(format!("--from {from} is after --to {to}: give the range oldest first")))
            }
            (Some(from), Some(to)) => Ok(from.iter_days().take_while(|d| *d <= to).collect()),
            _ => Ok(vec![self.date.unwrap_or_else(|| chrono::Utc::now().date_naive())]),
        }
    }
}

#[derive(Debug, Args)]
pub struct Run {
    /// Pipeline name.
    pipeline: String,
    /// Comma-separated site ids (default: all sites).
    #[arg(long, value_delimiter = ',')]
    sites: Vec<String>,
    #[command(flatten)]
    when: When,
    /// Sites run in parallel within a stage.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Print the plan (stages x sites x dates, and what would be skipped); run nothing.
    #[arg(long)]
    dry_run: bool,
    /// Run only shard INDEX of COUNT (0-based) of the work, split as --shard-by says; ledger and lock per shard.
    #[arg(long)]
    shard: Option<pipeline::Shard>,
    /// How --shard splits the work: sites dealt in id order (round-robin), sites by a hash of their id (hash),
    /// or every site on every COUNT-th date of the run (date, for a backfill of few sites).
    #[arg(long, value_enum, default_value_t, requires = "shard")]
    shard_by: pipeline::ShardBy,
    /// Wait for a run in progress to finish instead of exiting 75.
    #[arg(long)]
    wait: bool,
    /// Failed attempts on unchanged inputs after which a unit is no longer retried.
    #[arg(long, default_value_t = runner::DEFAULT_MAX_ATTEMPTS)]
    max_attempts: i64,
    /// Ledger file (default: `<root>/ledger.sqlite`, or `<root>/ledger.shard-I-of-N.sqlite` with --shard).
    #[arg(long)]
    ledger: Option<PathBuf>,
}

impl Run {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let plan = ctx.plan()?;
        let Some(pipeline) = plan.pipelines.get(&self.pipeline) else {
            let names: Vec<&str> = plan.pipelines.keys().map(String::as_str).collect();
            bail!(usage(format!("no pipeline `{}`; available: {}", self.pipeline, names.join(", "))));
        };
        let unknown: Vec<&String> = self.sites.iter().filter(|s| plan.site(s).is_none()).collect();
        if !unknown.is_empty() {
            bail!(usage(format!("unknown site(s): {unknown:?}")));
        }
        if self.jobs == 0 {
            bail!(usage("--jobs must be at least 1".into()));
        }
        let mut opts = RunOptions::new(self.when.dates()?);
        opts.sites = self.sites.clone();
        opts.weather_from = self.when.weather_from;
        opts.offline = self.when.offline;
        opts.jobs = self.jobs;
        opts.dry_run = self.dry_run;
        opts.shard = self.shard.map(|s| pipeline::Shard { by: self.shard_by, ..s });
        opts.wait = self.wait;
        opts.max_attempts = self.max_attempts;
        opts.ledger = self.ledger.clone();
        if !opts.dry_run {
            opts.stop = runner::stop_on_signals();
        }
        let summary = match pipeline::execute(&plan, pipeline, &ctx.store, &opts) {
            Ok(s) => s,
            Err(runner::RunError::Lock(e @ pipeline::lock::LockError::Held { .. })) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(75));
            }
            Err(e @ runner::RunError::UndatedInDateShard { .. }) => bail!(usage(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        for u in &summary.units {
            // One line per unit; the single-stage commands print the full report.
            let k = &u.key;
            println!(
                "{:<5} {:<14} {:<16} {:<10} {:>6.1}s  {}",
                u.outcome.label(),
                k.site,
                k.stage,
                k.date,
                u.seconds,
                u.outcome.text().lines().next().unwrap_or_default()
            );
        }
        let count = |label: &str| summary.units.iter().filter(|u| u.outcome.label() == label).count();
        if opts.dry_run {
            println!(
                "plan: {} unit(s), {} to run, {} to skip (dry run: nothing ran)",
                summary.units.len(),
                count("run"),
                count("skip")
            );
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "run {}: {} done, {} skipped, {} failed; ledger {}; outputs under {}",
            summary.run_id,
            count("ok"),
            count("skip"),
            summary.failures().count(),
            summary.ledger.display(),
            ctx.store.root().display()
        );
        if summary.stopped {
            eprintln!("stopped by a signal at a unit boundary: run the same command again to finish");
        }
        if opts.dates.len() > 1 {
            // A range: the season at a glance, per site, from what was published.
            for site in plan.sites.iter().filter(|s| opts.sites.is_empty() || opts.sites.contains(&s.id)) {
                let publish = pipeline.stage::<crate::config::PublishStage>();
                if let Some((csv, png)) = crate::publish::series::publish_site(&ctx.store, site, publish, &opts.dates)?
                {
                    println!("season of {}: {} and {}", site.id, csv.display(), png.display());
                }
            }
        }
        Ok(ExitCode::from(summary.exit_code()))
    }
}

#[derive(Debug, Args)]
pub struct Status {
    /// Only units of this date (undated units such as the DEM are always shown).
    #[arg(long)]
    date: Option<NaiveDate>,
    #[arg(long)]
    pipeline: Option<String>,
    /// Ledger files to read together (repeatable; default: every `ledger*.sqlite` in the output root).
    #[arg(long)]
    ledger: Vec<PathBuf>,
    /// JSON lines, one object per unit, for machines.
    #[arg(long)]
    json: bool,
}

impl Status {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let files = runner::ledgers_in(&ctx.store, &self.ledger);
        if files.is_empty() {
            bail!(usage(format!("no run ledger in {}: nothing has run there yet", ctx.store.root().display())));
        }
        let date = self.date.map(|d| d.to_string());
        let rows = runner::read_ledgers(&files, date.as_deref(), self.pipeline.as_deref())?;
        if self.json {
            for r in &rows {
                println!("{}", serde_json::to_string(r)?);
            }
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:<10} {:<10} {:<14} {:<16} {:<12} {:>3}  {:<24} {:<8} {:<8} note",
            "date", "pipeline", "site", "stage", "status", "try", "finished", "input", "output"
        );
        for r in &rows {
            print_row(r);
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn print_row(r: &Row) {
    let short = |h: &Option<String>| h.as_deref().map(|h| h[..8.min(h.len())].to_owned()).unwrap_or("-".into());
    let kind = if r.error_kind.as_deref() == Some("internal") { "internal: " } else { "" };
    let note = r.error.as_deref().map(|e| format!("{kind}{e}")).or(r.message.clone()).unwrap_or_default();
    println!(
        "{:<10} {:<10} {:<14} {:<16} {:<12} {:>3}  {:<24} {:<8} {:<8} {}",
        r.key.date,
        r.key.pipeline,
        r.key.site,
        r.key.stage,
        r.status,
        r.attempts,
        r.finished_at.as_deref().unwrap_or("-"),
        short(&r.input_hash),
        short(&r.output_hash),
        note.lines().next().unwrap_or_default()
    );
}
