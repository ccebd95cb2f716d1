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
    /// Adapt a bundle to a site without labels: re-estimate its batch-norm statistics on the site's patches (AdaBN);
    /// reports the domain-shift score first.
    Adapt {
        #[arg(long)]
        site: String,
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Passes over the target's patches.
        #[arg(long, default_value_t = 10)]
        passes: usize,
        #[command(flatten)]
        opts: TrainOpts,
    },
    /// Score a bundle on a site's events of the held-back winters, with slope-only and PRA baselines.
    Eval {
        #[arg(long)]
        bundle: PathBuf,
        #[arg(long)]
        site: String,
        /// First held-back winter (the year of its October).
        #[arg(long, default_value_t = 2018)]
        from_winter: i32,
        /// Also write a report here: report.md, eval.json, reliability.png (and learning_curve.png).
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
        #[arg(long, default_value_t = 5)]
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
    /// Run a pipeline (`pipelines/<NAME>.toml`) on the configured sites.
    Run {
        /// Pipeline name.
        pipeline: String,
        /// Comma-separated site ids (default: all sites).
        #[arg(long, value_delimiter = ',')]
        sites: Vec<String>,
        #[command(flatten)]
        when: When,
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

/// The day a run is for, and how weather may be fetched.
#[derive(Debug, Clone, clap::Args)]
pub struct When {
    /// The day (site-local, YYYY-MM-DD). Default: today.
    #[arg(long)]
    pub date: Option<NaiveDate>,
    /// First day of weather to ingest. Default: 14 days before `--date` (the history weather features need).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// No network: answer weather requests from the cache and the sites' recorded answers only.
    #[arg(long)]
    pub offline: bool,
}

impl When {
    fn context(&self) -> RunContext {
        RunContext {
            date: self.date.unwrap_or_else(|| chrono::Utc::now().date_naive()),
            from: self.from,
            offline: self.offline,
        }
    }
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
        Command::Run { pipeline, sites, when } => run(&cli.project, pipeline, sites, &store, &when.context()),
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
                "full" => train::fit::Mode::Full { encoder_lr_factor: 0.1 },
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
        Command::Adapt { site, from, out, passes, opts } => {
            let plan = config::load(&cli.project)?;
            let spec = train::run::Spec { sites: vec![site.clone()], ..opts.spec(&plan)? };
            let shift = train::run::adapt(&plan, &store, site, from, &spec, out, *passes)?;
            let warn = if shift > train::run::DOMAIN_SHIFT_WARNING { " (large: expect a weaker transfer)" } else { "" };
            println!("domain shift {shift:.2}{warn}; adapted bundle: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { bundle, site, from_winter, report } => {
            let plan = config::load(&cli.project)?;
            let e = train::run::evaluate(&plan, &store, site, bundle, *from_winter, &Default::default())?;
            println!("site {} from winter {}: {} events", e.site, e.from_winter, e.events);
            println!("  model      {}  ROC-AUC 95% CI {:?}", e.model, e.model_roc_auc_ci95);
            println!("  slope-only {}", e.slope_only);
            println!("  PRA        {}", e.pra);
            if let Some(dir) = report {
                println!("report: {}", train::report::write(&e, bundle, dir)?.display());
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
            };
            fs_err::create_dir_all(out)?;
            let report = train::experiment::transfer(&plan, &store, &design, out)?;
            print!("{}", train::experiment::markdown(&report, &design));
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

fn run(project: &Path, name: &str, sites: &[String], store: &Store, ctx: &RunContext) -> anyhow::Result<ExitCode> {
    let plan = config::load(project)?;
    let Some(pipeline) = plan.pipelines.get(name) else {
        let names: Vec<&str> = plan.pipelines.keys().map(String::as_str).collect();
        bail!(ConfigReport {
            errors: vec![config::ConfigError::new(
                "pipelines",
                "",
                format!("no pipeline `{name}`; available: {}", names.join(", "))
            )]
        });
    };
    let unknown: Vec<&String> = sites.iter().filter(|s| plan.site(s).is_none()).collect();
    if !unknown.is_empty() {
        bail!(ConfigReport {
            errors: vec![config::ConfigError::new("sites", "", format!("unknown site(s): {unknown:?}"))]
        });
    }
    let summary = pipeline::run(&plan, pipeline, sites, store, ctx);
    for u in &summary.units {
        match &u.outcome {
            // One line per unit; the single-stage commands print the full report.
            Ok(msg) => println!(
                "ok    {:<14} {:<16} {:>6.1}s  {}",
                u.site,
                u.stage,
                u.seconds,
                msg.lines().next().unwrap_or_default()
            ),
            Err(e) => println!("FAIL  {:<14} {:<16} {:>6.1}s  {e}", u.site, u.stage, u.seconds),
        }
    }
    let failed = summary.failures().count();
    println!("outputs under {}", store.root().join("sites").display());
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
