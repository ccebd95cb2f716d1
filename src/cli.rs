//! Command line: clap types, one function per subcommand, and the mapping from outcomes to exit codes.
//!
//! Exit codes: 0 success; 1 some work failed (the rest was done); 2 configuration or usage error.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigReport, Plan, Stage};
use crate::ingest::observations;
use crate::pipeline::{self, RunContext};
use crate::store::Store;
use crate::{dataset, train};

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
    Validate {
        /// Also print the resolved plan (grids, sources, stage parameters).
        #[arg(long)]
        show: bool,
    },
    /// Bring outside data onto a site.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Derive model features for a site.
    #[command(subcommand)]
    Features(FeaturesCommand),
    /// Pretrain the release network on the events of one or several (data-rich) sites; writes a model bundle.
    Train {
        /// Bundle directory to write (checkpointed after every epoch).
        #[arg(long)]
        out: PathBuf,
        /// Continue from the checkpoint at `--out` for the epochs it had left.
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        opts: TrainOpts,
    },
    /// Fine-tune a bundle on a site with few recorded events.
    Finetune {
        #[arg(long)]
        site: String,
        /// The source bundle.
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Use only the first N labelled events of the site (for learning curves).
        #[arg(long)]
        events: Option<usize>,
        /// `freeze`: encoder frozen by name, decoder trained; `full`: all trained, encoder at a tenth of the rate.
        #[arg(long, default_value = "freeze")]
        mode: String,
        #[command(flatten)]
        opts: TrainOpts,
    },
    /// Adapt a bundle to a site without its labels; reports the domain-shift score first (a warning above 0.5).
    Adapt {
        #[arg(long)]
        site: String,
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// `adabn`: re-estimate batch-norm statistics on the site's patches (no weight changes, target data only).
        /// `coral`: first train on the bundle's labelled source patches with cross-entropy + lambda x CORAL between
        /// source and target bottleneck features (needs the source site onboarded), then AdaBN.
        #[arg(long, default_value = "adabn")]
        method: String,
        /// AdaBN passes over the target's patches.
        #[arg(long, default_value_t = 10)]
        passes: usize,
        /// Comma-separated labelled source sites for `coral` (default: the bundle's training sites).
        #[arg(long, value_delimiter = ',')]
        source: Vec<String>,
        /// CORAL: passes over the source patches.
        #[arg(long, default_value_t = 3)]
        coral_epochs: usize,
        /// CORAL: weight of the CORAL loss beside the cross-entropy.
        #[arg(long, default_value_t = 1.0)]
        coral_lambda: f64,
        /// CORAL: learning rate (low, so the source task is kept).
        #[arg(long, default_value_t = 2e-4)]
        coral_lr: f64,
        #[command(flatten)]
        opts: TrainOpts,
    },
    /// Training datasets as files.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Score a bundle's map on a site's events of the held-back winters: the event cells against controls drawn
    /// uniformly within a radius, with elevation, slope, TPI and PRA scored on the same cells.
    Eval {
        /// Controls per event.
        #[arg(long, default_value_t = crate::evaluate::DEFAULT_CONTROLS)]
        controls: usize,
        /// Radius of the disc the controls are drawn from, km.
        #[arg(long, default_value_t = crate::evaluate::DEFAULT_RADIUS_M / 1000.0)]
        radius_km: f64,
        /// Seed of the control draw.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long)]
        site: String,
        /// First held-back winter (the year of its October).
        #[arg(long, default_value_t = 2018)]
        from_winter: i32,
        /// Score the avalanche records of this file instead of the site's own (read with the column mapping of the
        /// site's first `[[observations]]` entry): a new winter is scored without retraining.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Only events from this day on.
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Only events up to this day (inclusive).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Also write a report here: report.md, eval.json, roc.png, reliability.png (and learning_curve.png).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Run a site's bundle over its whole grid for a day (tiled, blended): `<root>/sites/<site>/predictions/<date>.tif`.
    Predict {
        #[arg(long)]
        site: String,
        #[arg(long)]
        date: chrono::NaiveDate,
        /// Bundle to use instead of the site's own (`<root>/bundles/<site>`).
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Write here instead of the store.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Window side in cells (multiple of 4).
        #[arg(long, default_value_t = 256)]
        tile: usize,
        /// Cells shared by neighbouring windows.
        #[arg(long, default_value_t = 64)]
        overlap: usize,
        /// Monte Carlo dropout passes for a spread band (0 = off).
        #[arg(long, default_value_t = 0)]
        mc_passes: usize,
    },
    /// Verify the daily product over held-back winters: the same-cell test (does the map change with the day?),
    /// alerts against recorded accident days, reliability; prints the risk-class table for site.toml. Ingests the
    /// site's weather for those winters first.
    Verify {
        #[arg(long)]
        site: String,
        /// First and last winter (the year of their October).
        #[arg(long, default_value_t = 2018)]
        from_winter: i32,
        #[arg(long, default_value_t = 2020)]
        to_winter: i32,
        /// Read weather from the cache and recorded answers only.
        #[arg(long)]
        offline: bool,
        /// Also write a report here: verify.md, verify.json, reliability.png, season.png.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// The transfer experiment: source model as is, target-only training, fine-tuning (frozen and full) and the
    /// slope/PRA baselines for N labelled target events over several seeds; writes `report.md` and `results.json`.
    Experiment {
        #[arg(long, default_value = "swiss-alps")]
        source: String,
        #[arg(long, default_value = "tyrol-west")]
        target: String,
        /// Numbers of labelled target events.
        #[arg(long, value_delimiter = ',', default_value = "5,10,25,50")]
        events: Vec<usize>,
        /// Number of seeds per N.
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Epochs when fine-tuning or training on the target (early stopping applies).
        #[arg(long, default_value_t = 15)]
        finetune_epochs: usize,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        opts: TrainOpts,
    },
    /// Print the versions and compute devices avarisk runs with (GDAL, libtorch, CUDA, threads).
    Info,
    /// Serve the published maps read-only over HTTP: JSON API (STAC), COG files with ranges, map tiles, a web map.
    Serve {
        /// Address to listen on (port 0: any free port; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Browser origin allowed to call the API (repeatable; `*` for any). Default: no CORS headers.
        #[arg(long)]
        cors_origin: Vec<String>,
        /// Seconds before a request is answered 408.
        #[arg(long, default_value_t = 30)]
        timeout_s: u64,
        /// Tiles rendered at once (default: the number of CPUs).
        #[arg(long)]
        tile_concurrency: Option<usize>,
    },
    /// Run a pipeline (`pipelines/<NAME>.toml`) on the configured sites, recording each unit in the run ledger:
    /// units done with the same inputs are skipped, failed ones retried. Exit codes: 0 all done, 1 some units failed
    /// (the rest are published), 2 configuration or usage error, 75 another run holds the lock, 130 stopped by a signal.
    Run {
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
        #[arg(long, default_value_t = pipeline::runner::DEFAULT_MAX_ATTEMPTS)]
        max_attempts: i64,
        /// Ledger file (default: `<root>/ledger.sqlite`, or `<root>/ledger.shard-I-of-N.sqlite` with --shard).
        #[arg(long)]
        ledger: Option<PathBuf>,
    },
    /// Print the run ledger: one row per unit (pipeline, stage, site, date) with status, attempts and times.
    Status {
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
    },
    /// Manage sites.
    #[command(subcommand)]
    Site(SiteCommand),
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Scaffold `sites/ID/site.toml` from a DEM (CRS, bounds, resolution read from it) and validate it; then
    /// `avarisk run onboard --sites ID` takes the site to its first outputs.
    Add {
        /// Site id: lower-case letters, digits, `-`.
        id: String,
        /// The DEM (any GDAL raster; `/vsizip/ARCHIVE/MEMBER` for a zipped one).
        #[arg(long)]
        dem: String,
        /// Avalanche records (CSV with date and x/y or lon/lat columns, or GeoJSON).
        #[arg(long)]
        events: Option<PathBuf>,
        /// CRS of the records' coordinates.
        #[arg(long, default_value = "EPSG:4326")]
        events_crs: String,
        /// Site CRS (projected, metres), also assumed for a DEM without one. Default: the DEM's.
        #[arg(long)]
        crs: Option<String>,
        /// Cell size in metres. Default: the DEM's.
        #[arg(long)]
        resolution: Option<f64>,
        #[arg(long)]
        name: Option<String>,
        /// IANA time zone of the site (a day of weather and risk is a local day).
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
}

/// Options of a training run. Every run starts from the `train` stage of `--pipeline` (sites, splits, sampling,
/// optimisation); the other flags override single values of it for this run.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainOpts {
    /// Pipeline whose `train` stage holds the parameters.
    #[arg(long, default_value = "pretrain")]
    pub pipeline: String,
    /// Comma-separated source site ids (default: the stage's).
    #[arg(long, value_delimiter = ',')]
    pub sites: Vec<String>,
    /// Winters from this one on are held back (validation when pretraining, test when fine-tuning).
    #[arg(long)]
    pub held_back_from: Option<i32>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
}

impl TrainOpts {
    /// The run's training spec: the pipeline's `train` stage (or the defaults), with this run's overrides.
    fn spec(&self, plan: &Plan) -> anyhow::Result<train::run::Spec> {
        let stage = plan
            .pipelines
            .get(&self.pipeline)
            .and_then(|p| p.stages.iter().find_map(|s| if let Stage::Train(t) = s { Some(t.clone()) } else { None }));
        let base = stage.unwrap_or_else(|| config::TrainStage {
            sites: Vec::new(),
            held_back_from: 2018,
            sampling: Default::default(),
            train: Default::default(),
        });
        let seed = self.seed.unwrap_or(base.train.seed);
        let sites = if self.sites.is_empty() { base.sites.clone() } else { self.sites.clone() };
        if sites.is_empty() {
            bail!("no source sites: give --sites or a `train` stage in pipelines/{}.toml", self.pipeline);
        }
        Ok(train::run::Spec {
            sites,
            held_back_from: self.held_back_from.unwrap_or(base.held_back_from),
            sampling: dataset::SamplingParams { seed, ..base.sampling },
            train: train::fit::TrainParams {
                epochs: self.epochs.unwrap_or(base.train.epochs),
                lr: self.lr.unwrap_or(base.train.lr),
                seed,
                ..base.train
            },
            unet: Default::default(),
        })
    }
}

/// The days a run is for, and how weather may be fetched.
#[derive(Debug, Clone, clap::Args)]
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

/// A usage error (exit 2).
fn usage(message: String) -> ConfigReport {
    ConfigReport { errors: vec![config::ConfigError::new("command line", "", message)] }
}

#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// Warp and mosaic the site's DEM sources onto its grid.
    Dem {
        #[arg(long)]
        site: String,
        /// Take the stage parameters from this pipeline's `dem` stage.
        #[arg(long, default_value = "onboard")]
        pipeline: String,
    },
    /// Read the site's avalanche records onto its grid; reports excluded records by reason.
    Observations {
        #[arg(long)]
        site: String,
        /// Take the stage parameters from this pipeline's `observations` stage.
        #[arg(long, default_value = "onboard")]
        pipeline: String,
    },
    /// Fetch or read the site's daily weather for [--from, --to] into its store (upserted by date).
    Weather {
        #[arg(long)]
        site: String,
        #[arg(long)]
        from: NaiveDate,
        #[arg(long)]
        to: NaiveDate,
        /// No network: the HTTP cache and the site's recorded answers only; says what is missing.
        #[arg(long)]
        offline: bool,
        /// Take the client parameters from this pipeline's `weather` stage.
        #[arg(long, default_value = "daily")]
        pipeline: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Write the training and validation patches of `--pipeline`'s `train` stage (sites, split, sampling) with their
    /// normalisation statistics and channel names to one safetensors file, which `avarisk-train` (libtorch only)
    /// trains from.
    Export {
        /// The file to write (`.safetensors`).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        opts: TrainOpts,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeaturesCommand {
    /// Derive the terrain feature stack from the site DEM.
    Terrain {
        #[arg(long)]
        site: String,
        /// Take the stage parameters from this pipeline's `terrain` stage.
        #[arg(long, default_value = "onboard")]
        pipeline: String,
    },
    /// Write the label raster of a day's recorded avalanches (start zones within the label radius) on the site grid.
    Labels {
        #[arg(long)]
        site: String,
        /// The day (site-local, YYYY-MM-DD).
        #[arg(long)]
        date: NaiveDate,
        /// Take the label radius from this pipeline's `observations` stage.
        #[arg(long, default_value = "onboard")]
        pipeline: String,
    },
    /// Write the day's weather channels on the site grid from the weather store.
    Weather {
        #[arg(long)]
        site: String,
        /// The day (site-local, YYYY-MM-DD).
        #[arg(long)]
        date: NaiveDate,
        /// Take the downscaling parameters from this pipeline's `weather_features` stage.
        #[arg(long, default_value = "daily")]
        pipeline: String,
    },
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    crate::geo::init();
    match dispatch(&cli) {
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

fn dispatch(cli: &Cli) -> anyhow::Result<ExitCode> {
    let store = Store::new(&cli.root);
    match &cli.command {
        Command::Validate { show } => validate(&cli.project, *show),
        Command::Ingest(IngestCommand::Dem { site, pipeline }) => {
            let today = RunContext { date: chrono::Utc::now().date_naive(), from: None, offline: false };
            one_stage(&cli.project, pipeline, site, Stage::Dem(Default::default()), &store, &today)
        }
        Command::Ingest(IngestCommand::Observations { site, pipeline }) => {
            let today = RunContext { date: chrono::Utc::now().date_naive(), from: None, offline: false };
            one_stage(&cli.project, pipeline, site, Stage::Observations(Default::default()), &store, &today)
        }
        Command::Features(FeaturesCommand::Labels { site, date, pipeline }) => {
            labels(&cli.project, pipeline, site, *date, &store)
        }
        Command::Ingest(IngestCommand::Weather { site, from, to, offline, pipeline }) => {
            let ctx = RunContext { date: *to, from: Some(*from), offline: *offline };
            one_stage(&cli.project, pipeline, site, Stage::Weather(Default::default()), &store, &ctx)
        }
        Command::Features(FeaturesCommand::Terrain { site, pipeline }) => {
            let today = RunContext { date: chrono::Utc::now().date_naive(), from: None, offline: false };
            one_stage(&cli.project, pipeline, site, Stage::Terrain(Default::default()), &store, &today)
        }
        Command::Features(FeaturesCommand::Weather { site, date, pipeline }) => {
            let ctx = RunContext { date: *date, from: None, offline: true };
            one_stage(&cli.project, pipeline, site, Stage::WeatherFeatures(Default::default()), &store, &ctx)
        }
        Command::Run { pipeline, sites, when, jobs, dry_run, shard, shard_by, wait, max_attempts, ledger } => {
            let mut opts = pipeline::RunOptions::new(when.dates()?);
            opts.sites = sites.clone();
            opts.weather_from = when.weather_from;
            opts.offline = when.offline;
            opts.jobs = *jobs;
            opts.dry_run = *dry_run;
            opts.shard = shard.map(|s| pipeline::Shard { by: *shard_by, ..s });
            opts.wait = *wait;
            opts.max_attempts = *max_attempts;
            opts.ledger = ledger.clone();
            run(&cli.project, pipeline, &store, opts)
        }
        Command::Status { date, pipeline, ledger, json } => status(&store, *date, pipeline.as_deref(), ledger, *json),
        Command::Site(SiteCommand::Add { id, dem, events, events_crs, crs, resolution, name, timezone }) => {
            let spec = pipeline::scaffold::SiteSpec {
                id: id.clone(),
                dem: dem.clone(),
                events: events.clone(),
                events_crs: Some(events_crs.clone()),
                crs: crs.clone(),
                resolution_m: *resolution,
                name: name.clone(),
                timezone: Some(timezone.clone()),
            };
            match pipeline::scaffold::add(&cli.project, &spec) {
                Ok(s) => {
                    print!("{}", s.text);
                    println!(
                        "wrote {} ({} x {} cells at {} m in {}); next: avarisk run onboard --sites {id}",
                        s.file.display(),
                        s.grid.width,
                        s.grid.height,
                        s.grid.res_x(),
                        s.grid.crs
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Train { out, resume, opts } => {
            let plan = config::load(&cli.project)?;
            let r = train::run::pretrain(&plan, &store, &opts.spec(&plan)?, out, *resume)?;
            println!(
                "best epoch {} of {}, validation ROC-AUC {:?}: {}",
                r.best_epoch,
                r.history.len(),
                r.best_val_roc_auc,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Finetune { site, from, out, events, mode, opts } => {
            let plan = config::load(&cli.project)?;
            let mode = match mode.as_str() {
                "freeze" => train::fit::Mode::FreezeEncoder,
                "full" => train::fit::Mode::Full { encoder_lr_factor: train::fit::ENCODER_LR_FACTOR },
                other => bail!("unknown --mode `{other}`: use freeze or full"),
            };
            let spec = train::run::Spec { sites: vec![site.clone()], ..opts.spec(&plan)? };
            let job = train::run::FinetuneJob { site: site.clone(), from: from.clone(), events: *events, mode };
            let r = train::run::finetune(&plan, &store, &job, &spec, out)?;
            println!(
                "best epoch {} of {}, validation ROC-AUC {:?}: {}",
                r.best_epoch,
                r.history.len(),
                r.best_val_roc_auc,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Adapt { site, from, out, method, passes, source, coral_epochs, coral_lambda, coral_lr, opts } => {
            let plan = config::load(&cli.project)?;
            let method = match method.as_str() {
                "adabn" => train::run::AdaptMethod::AdaBn,
                "coral" => train::run::AdaptMethod::Coral,
                other => bail!("unknown --method `{other}`: use adabn or coral"),
            };
            let spec = train::run::Spec { sites: vec![site.clone()], ..opts.spec(&plan)? };
            let job = train::run::AdaptJob {
                site: site.clone(),
                from: from.clone(),
                method,
                passes: *passes,
                source: source.clone(),
                coral: train::run::CoralParams { epochs: *coral_epochs, lr: *coral_lr, lambda: *coral_lambda },
            };
            let shift = train::run::adapt_with(&plan, &store, &job, &spec, out)?;
            let warn = if shift > train::run::DOMAIN_SHIFT_WARNING { " (large: expect a weaker transfer)" } else { "" };
            println!("domain shift {shift:.2}{warn}; adapted bundle: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataset(DatasetCommand::Export { out, opts }) => {
            let plan = config::load(&cli.project)?;
            let e = train::export::export(&plan, &store, &opts.spec(&plan)?, out)?;
            println!("{} training and {} validation patches: {}", e.train, e.val, out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { bundle, site, from_winter, events, from, to, report, controls, radius_km, seed } => {
            let mut plan = config::load(&cli.project)?;
            let window = (*from_winter, *from, *to);
            let design = crate::evaluate::MapDesign { controls: *controls, radius_m: radius_km * 1000.0, seed: *seed };
            let e = match events {
                None => train::run::evaluate(&plan, &store, site, bundle, window, &design)?,
                Some(file) => {
                    // The file's records go through the site's observation reader into a scratch store that shares
                    // the site's terrain; nothing of the site's own store changes.
                    let s = plan
                        .sites
                        .iter_mut()
                        .find(|s| &s.id == site)
                        .with_context(|| format!("no site `{site}` is configured"))?;
                    let Some(source) = s.observations.first().cloned() else {
                        bail!(
                            "{}: no [[observations]] entry to read {} with; add one (format, CRS, columns)",
                            s.file.display(),
                            file.display()
                        );
                    };
                    s.observations = vec![config::ObservationSource { path: file.clone(), ..source }];
                    let scratch = tempfile::tempdir_in(store.root()).or_else(|_| tempfile::tempdir())?;
                    let scratch_store = crate::store::Store::new(scratch.path());
                    fs_err::create_dir_all(scratch_store.site_dir(site))?;
                    std::os::unix::fs::symlink(
                        std::path::absolute(store.site_dir(site).join("terrain"))?,
                        scratch_store.site_dir(site).join("terrain"),
                    )?;
                    let summary =
                        crate::ingest::observations::ingest(plan.site(site).expect("found above"), &scratch_store)?;
                    println!("{}", summary.to_string().trim_end());
                    train::run::evaluate(&plan, &scratch_store, site, bundle, window, &design)?
                }
            };
            println!(
                "site {} from winter {}: {} events, {} controls each within {:.0} km (map level)",
                e.site,
                e.from_winter,
                e.events,
                e.design.controls,
                e.design.radius_m / 1000.0
            );
            for row in &e.rows {
                let ci = row.roc_auc_ci95.map(|(lo, hi)| format!("[{lo:.3}, {hi:.3}]")).unwrap_or_default();
                let capture: Vec<String> = row.capture.iter().map(|c| format!("{:.0}%", 100.0 * c)).collect();
                println!(
                    "  {:<10} ROC-AUC {} {ci}  events in the top 10/20/30% of release terrain: {}",
                    row.name,
                    row.scores.roc_auc.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into()),
                    capture.join("/")
                );
            }
            if let Some(p) = e.patch_level_roc_auc {
                println!("  (training diagnostic: patch-level ROC-AUC {p:.3} on training-style windows)");
            }
            if let Some(dir) = report {
                println!("report: {}", train::report::write(&e, bundle, dir)?.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Predict { site, date, bundle, out, tile, overlap, mc_passes } => {
            let plan = config::load(&cli.project)?;
            let s = plan.site(site).with_context(|| format!("no site `{site}` is configured"))?;
            let params = crate::predict::PredictParams {
                tile: *tile,
                overlap: *overlap,
                mc_passes: *mc_passes,
                ..Default::default()
            };
            let inputs = crate::predict::Inputs {
                dem: store.dem(site),
                terrain: store.terrain(site),
                weather: s.weather.as_ref().map(|_| store.weather_channels(site, *date)),
            };
            let bundle = bundle.clone().unwrap_or_else(|| store.bundle(site));
            let dest = out.clone().unwrap_or_else(|| store.prediction(site, *date));
            let p = crate::predict::predict(&inputs, &bundle, *date, &params, &dest, crate::model::device())?;
            println!("{p}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { site, from_winter, to_winter, offline, report } => {
            let from = chrono::NaiveDate::from_ymd_opt(*from_winter, 11, 15).context("first winter out of range")?;
            let to = chrono::NaiveDate::from_ymd_opt(*to_winter + 1, 4, 30).context("last winter out of range")?;
            let ctx = RunContext { date: to, from: Some(from), offline: *offline };
            one_stage(&cli.project, "daily", site, Stage::Weather(Default::default()), &store, &ctx)?;
            let plan = config::load(&cli.project)?;
            let s = plan.site(site).with_context(|| format!("no site `{site}` is configured"))?;
            let season =
                crate::evaluate::season::season(s, &store, *from_winter, *to_winter).map_err(anyhow::Error::msg)?;
            let v = crate::evaluate::season::verify(&season);
            print!("{}", crate::evaluate::season::markdown(&v, &s.id, (*from_winter, *to_winter)));
            if let Some(dir) = report {
                println!(
                    "report: {}",
                    train::report::write_season(&v, &s.id, (*from_winter, *to_winter), dir)?.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Experiment { source, target, events, seeds, finetune_epochs, out, opts } => {
            let plan = config::load(&cli.project)?;
            let design = train::experiment::Design {
                source: source.clone(),
                target: target.clone(),
                events: events.clone(),
                seeds: (0..*seeds).map(|i| opts.seed.unwrap_or(7) + i).collect(),
                spec: train::run::Spec { sites: vec![source.clone()], ..opts.spec(&plan)? },
                finetune_epochs: *finetune_epochs,
                map: Default::default(),
            };
            fs_err::create_dir_all(out)?;
            let report = train::experiment::transfer(&plan, &store, &design, out)?;
            print!("{}", train::experiment::markdown(&report, &design));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { addr, cors_origin, timeout_s, tile_concurrency } => {
            let opts = crate::serve::Options {
                root: cli.root.clone(),
                addr: *addr,
                cors_origins: cors_origin.clone(),
                timeout: std::time::Duration::from_secs(*timeout_s),
                tile_concurrency: tile_concurrency
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            };
            crate::serve::run(&opts)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Info => {
            info();
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn info() {
    println!("avarisk  {}", env!("CARGO_PKG_VERSION"));
    println!("gdal     {}", gdal::version::version_info("RELEASE_NAME"));
    let device = tch::Device::cuda_if_available();
    let cuda =
        if tch::Cuda::is_available() { format!("yes, {} device(s)", tch::Cuda::device_count()) } else { "no".into() };
    println!("libtorch device {device:?} (CUDA available: {cuda}; cuDNN: {})", tch::Cuda::cudnn_is_available());
    println!("threads  {} (rayon), {} (libtorch intra-op)", rayon::current_num_threads(), tch::get_num_threads());
}

fn validate(project: &Path, show: bool) -> anyhow::Result<ExitCode> {
    let plan = config::load(project)?;
    if show {
        print_plan(&plan);
    }
    println!("ok: {} site(s), {} pipeline(s) valid", plan.sites.len(), plan.pipelines.len());
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &Plan) {
    for s in &plan.sites {
        let b = s.grid.bounds();
        println!("site {} ({})", s.id, s.name);
        println!("  file       {}", s.file.display());
        println!("  grid       {} x {} cells at {} m in {}", s.grid.width, s.grid.height, s.grid.res_x(), s.grid.crs);
        println!("  bounds     {} {} {} {}", b.xmin, b.ymin, b.xmax, b.ymax);
        println!("  timezone   {}", s.timezone);
        for d in &s.dem {
            let crs = d.crs.as_ref().map(|c| format!(" (assumed {c})")).unwrap_or_default();
            println!("  dem        {}{crs}", d.path);
        }
        for o in &s.observations {
            println!("  records    {} ({:?}, {})", o.path.display(), o.format, o.crs);
        }
        for r in &s.reference {
            println!("  reference  {} ({})", r.path.display(), r.kind);
        }
    }
    for p in plan.pipelines.values() {
        println!("pipeline {}: {}", p.name, p.description);
        for s in &p.stages {
            println!("  stage {s:?}");
        }
    }
}

/// Runs one stage for one site, with the parameters of that stage in `pipeline` (or `default`'s when the pipeline
/// lacks it).
fn one_stage(
    project: &Path,
    pipeline: &str,
    site: &str,
    default: Stage,
    store: &Store,
    ctx: &RunContext,
) -> anyhow::Result<ExitCode> {
    let plan = config::load(project)?;
    let stage = plan
        .pipelines
        .get(pipeline)
        .and_then(|p| p.stages.iter().find(|s| s.name() == default.name()).cloned())
        .unwrap_or(default);
    let Some(site) = plan.site(site) else {
        let ids: Vec<&str> = plan.sites.iter().map(|s| s.id.as_str()).collect();
        bail!(ConfigReport {
            errors: vec![config::ConfigError::new(
                "sites",
                "",
                format!("no site `{site}`; configured: {}", ids.join(", "))
            )]
        });
    };
    let msg = pipeline::run_stage(site, &stage, store, ctx)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("site `{}`, stage `{}`", site.id, stage.name()))?;
    println!("{msg}");
    Ok(ExitCode::SUCCESS)
}

fn labels(project: &Path, pipeline: &str, site: &str, date: NaiveDate, store: &Store) -> anyhow::Result<ExitCode> {
    let plan = config::load(project)?;
    let site = find_site(&plan, site)?;
    let params = plan
        .pipelines
        .get(pipeline)
        .and_then(|p| p.stages.iter().find_map(|s| if let Stage::Observations(o) = s { Some(o.clone()) } else { None }))
        .unwrap_or_default();
    let events_path = store.events(&site.id);
    if !events_path.exists() {
        bail!("{} is missing: run `avarisk ingest observations --site {}` first", events_path.display(), site.id);
    }
    let events = observations::load_events(&events_path)?;
    let radius = params.label_radius(&site.grid);
    let dest = store.labels(&site.id, date);
    let stats = observations::write_labels(&events, &site.grid, date, radius, &dest)?;
    println!(
        "{} event(s) on {date}, {} positive cell(s) within {radius} m: {}",
        stats.events,
        stats.positive_cells,
        dest.display()
    );
    Ok(ExitCode::SUCCESS)
}

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

fn run(project: &Path, name: &str, store: &Store, mut opts: pipeline::RunOptions) -> anyhow::Result<ExitCode> {
    let plan = config::load(project)?;
    let Some(pipeline) = plan.pipelines.get(name) else {
        let names: Vec<&str> = plan.pipelines.keys().map(String::as_str).collect();
        bail!(usage(format!("no pipeline `{name}`; available: {}", names.join(", "))));
    };
    let unknown: Vec<&String> = opts.sites.iter().filter(|s| plan.site(s).is_none()).collect();
    if !unknown.is_empty() {
        bail!(usage(format!("unknown site(s): {unknown:?}")));
    }
    if opts.jobs == 0 {
        bail!(usage("--jobs must be at least 1".into()));
    }
    if !opts.dry_run {
        opts.stop = pipeline::runner::stop_on_signals();
    }
    let summary = match pipeline::execute(&plan, pipeline, store, &opts) {
        Ok(s) => s,
        Err(pipeline::runner::RunError::Lock(e @ pipeline::lock::LockError::Held { .. })) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(75));
        }
        Err(e @ pipeline::runner::RunError::UndatedInDateShard { .. }) => bail!(usage(e.to_string())),
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
        store.root().display()
    );
    if summary.stopped {
        eprintln!("stopped by a signal at a unit boundary: run the same command again to finish");
    }
    if opts.dates.len() > 1 {
        // A range: the season at a glance, per site, from what was published.
        for site in plan.sites.iter().filter(|s| opts.sites.is_empty() || opts.sites.contains(&s.id)) {
            let accidents: Vec<NaiveDate> = crate::ingest::observations::load_events(&store.events(&site.id))
                .map(|e| e.into_iter().map(|e| e.date).collect())
                .unwrap_or_default();
            let days = crate::publish::series::read(store, &site.id, &opts.dates, &accidents)?;
            if let Some((csv, png)) = crate::publish::series::write(store, &site.id, &days)? {
                println!("season of {}: {} and {}", site.id, csv.display(), png.display());
            }
        }
    }
    Ok(ExitCode::from(summary.exit_code()))
}

fn status(
    store: &Store,
    date: Option<NaiveDate>,
    pipeline_name: Option<&str>,
    ledgers: &[PathBuf],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let files = pipeline::runner::ledgers_in(store, ledgers);
    if files.is_empty() {
        bail!(usage(format!("no run ledger in {}: nothing has run there yet", store.root().display())));
    }
    let date = date.map(|d| d.to_string());
    let mut rows = Vec::new();
    for f in &files {
        rows.extend(pipeline::ledger::Ledger::open_read_only(f)?.rows(date.as_deref(), pipeline_name)?);
    }
    rows.sort_by(|a, b| {
        let k = |r: &pipeline::ledger::Row| {
            (r.key.date.clone(), r.key.pipeline.clone(), r.key.site.clone(), r.started_at.clone())
        };
        k(a).cmp(&k(b))
    });
    if json {
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
        let short = |h: &Option<String>| h.as_deref().map(|h| h[..8.min(h.len())].to_owned()).unwrap_or("-".into());
        let note = r.error.as_deref().or(r.message.as_deref()).unwrap_or_default();
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
    Ok(ExitCode::SUCCESS)
}
