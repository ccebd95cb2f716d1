//! Command line: the clap types of each subcommand in its own file, each with a `run` that calls the library and
//! prints; this file parses, sets up logging and maps outcomes to exit codes.
//!
//! Exit codes: 0 success; 1 some work failed on its input (the rest was done); 2 configuration or usage error; 70 some
//! work failed inside avarisk or its machine (a panic, permissions, a full disk); 75 another run holds the lock; 130
//! stopped by a signal.
mod evaluate;
mod run;
mod site;
mod stage;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigReport, Plan};
use crate::store::Store;

/// avarisk: daily avalanche-risk maps from terrain and weather.
#[derive(Debug, Parser)]
#[command(name = "avarisk", version, about, long_about = None)]
pub struct Cli {
    /// Project folder holding `sites/` and `pipelines/`.
    #[arg(long, global = true, env = "AVARISK_PROJECT", default_value = ".")]
    pub project: PathBuf,
    /// Output root where stages write (DEMs, features, maps).
    #[arg(long, global = true, env = "AVARISK_ROOT", default_value = "out")]
    pub root: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every site and pipeline file and report all problems at once.
    Validate(site::Validate),
    /// Bring outside data onto a site.
    #[command(subcommand)]
    Ingest(stage::Ingest),
    /// Derive model features for a site.
    #[command(subcommand)]
    Features(stage::Features),
    /// Pretrain the release network on the events of one or several (data-rich) sites; writes a model bundle.
    Train(train::Train),
    /// Fine-tune a bundle on a site with few recorded events.
    Finetune(train::Finetune),
    /// Adapt a bundle to a site without its labels; reports the domain-shift score first (a warning above 0.5).
    Adapt(train::Adapt),
    /// Training datasets as files.
    #[command(subcommand)]
    Dataset(train::Dataset),
    /// Score a bundle's map on a site's events of the held-back winters: the event cells against controls drawn
    /// uniformly within a radius, with elevation, slope, TPI and PRA scored on the same cells.
    Eval(evaluate::Eval),
    /// Run a site's bundle over its whole grid for a day (tiled, blended): `<root>/sites/<site>/predictions/<date>.tif`.
    Predict(evaluate::Predict),
    /// Verify the daily product over held-back winters: the same-cell test (does the map change with the day?),
    /// alerts against recorded accident days, reliability; prints the risk-class table for site.toml. Ingests the
    /// site's weather for those winters first.
    Verify(evaluate::Verify),
    /// The transfer experiment: source model as is, target-only training, fine-tuning (frozen and full) and the
    /// slope/PRA baselines for N labelled target events over several seeds; writes `report.md` and `results.json`.
    Experiment(train::Experiment),
    /// Print the versions and compute devices avarisk runs with (GDAL, libtorch, CUDA, threads).
    Info,
    /// Serve the published maps read-only over HTTP: JSON API (STAC), COG files with ranges, map tiles, a web map.
    Serve(site::Serve),
    /// Run a pipeline (`pipelines/<NAME>.toml`) on the configured sites, recording each unit in the run ledger:
    /// units done with the same inputs are skipped, failed ones retried. Exit codes: 0 all done, 1 some units failed on
    /// their input (the rest are published), 2 configuration or usage error, 70 a unit failed inside avarisk or its
    /// machine, 75 another run holds the lock, 130 stopped by a signal.
    Run(run::Run),
    /// Print the run ledger: one row per unit (pipeline, stage, site, date) with status, attempts and times.
    Status(run::Status),
    /// Manage sites.
    #[command(subcommand)]
    Site(site::SiteCommand),
}

/// What every subcommand runs with.
pub struct Ctx {
    pub project: PathBuf,
    pub store: Store,
}

impl Ctx {
    /// The validated configuration of the project (a configuration error exits 2).
    fn plan(&self) -> anyhow::Result<Plan> {
        Ok(config::load(&self.project)?)
    }
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    crate::geo::init();
    let ctx = Ctx { project: cli.project.clone(), store: Store::new(&cli.root) };
    match dispatch(&cli.command, &ctx) {
        Ok(code) => code,
        Err(e) => {
            if let Some(report) = e.downcast_ref::<ConfigReport>() {
                eprint!("{report}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AVARISK_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn dispatch(command: &Command, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate(c) => c.run(ctx),
        Command::Ingest(c) => c.run(ctx),
        Command::Features(c) => c.run(ctx),
        Command::Train(c) => c.run(ctx),
        Command::Finetune(c) => c.run(ctx),
        Command::Adapt(c) => c.run(ctx),
        Command::Dataset(c) => c.run(ctx),
        Command::Eval(c) => c.run(ctx),
        Command::Predict(c) => c.run(ctx),
        Command::Verify(c) => c.run(ctx),
        Command::Experiment(c) => c.run(ctx),
        Command::Info => site::info(),
        Command::Serve(c) => c.run(ctx),
        Command::Run(c) => c.run(ctx),
        Command::Status(c) => c.run(ctx),
        Command::Site(c) => c.run(ctx),
    }
}

/// A usage error (exit 2).
fn usage(message: String) -> ConfigReport {
    ConfigReport { errors: vec![config::ConfigError::new("command line", "", message)] }
}

/// The configured site `id`, or a configuration error listing the configured ones (exit 2).
fn find_site<'a>(plan: &'a Plan, id: &str) -> anyhow::Result<&'a config::Site> {
    plan.site(id).ok_or_else(|| {
        let ids: Vec<&str> = plan.sites.iter().map(|s| s.id.as_str()).collect();
        anyhow::Error::new(ConfigReport {
            errors: vec![config::ConfigError::new(
                "sites",
                "",
                format!("no site `{id}`; configured: {}", ids.join(", ")),
            )],
        })
    })
}
