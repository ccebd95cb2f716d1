//! `avarisk train | finetune | adapt | dataset export | experiment`: the network's training runs, each starting from
//! a pipeline's `train` stage with single values overridden on the command line.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::Ctx;
use crate::config::Plan;
use crate::train::{Overrides, Spec};
use crate::{experiments, train};

/// Seed of the first experiment repetition when `--seed` is not given; repetition i uses seed + i.
const EXPERIMENT_SEED: u64 = 7;

/// Options of a training run. Every run starts from the `train` stage of `--pipeline` (sites, splits, sampling,
/// optimisation); the other flags override single values of it for this run.
#[derive(Debug, Clone, Args)]
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
    /// The run's training spec: the pipeline's `train` stage (or the defaults), with this run's overrides; `sites`
    /// replaces the sites when given.
    fn spec(&self, plan: &Plan, sites: Option<&str>) -> anyhow::Result<Spec> {
        let overrides = Overrides {
            sites: sites.map(|s| vec![s.to_owned()]).unwrap_or_else(|| self.sites.clone()),
            held_back_from: self.held_back_from,
            epochs: self.epochs,
            seed: self.seed,
            lr: self.lr,
        };
        Ok(Spec::from_plan(plan, &self.pipeline, &overrides)?)
    }
}

#[derive(Debug, Args)]
pub struct Train {
    /// Bundle directory to write (checkpointed after every epoch).
    #[arg(long)]
    out: PathBuf,
    /// Continue from the checkpoint at `--out` for the epochs it had left.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    opts: TrainOpts,
}

impl Train {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let plan = ctx.plan()?;
        let r = train::pretrain(&plan, &ctx.store, &self.opts.spec(&plan, None)?, &self.out, self.resume)?;
        print_fit(&r, &self.out);
        Ok(ExitCode::SUCCESS)
    }
}

/// Which weights fine-tuning trains.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum FinetuneMode {
    /// The encoder frozen by name, the decoder trained.
    Freeze,
    /// Everything trained, the encoder at a tenth of the rate.
    Full,
}

#[derive(Debug, Args)]
pub struct Finetune {
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
    #[arg(long, value_enum, default_value_t = FinetuneMode::Freeze)]
    mode: FinetuneMode,
    #[command(flatten)]
    opts: TrainOpts,
}

impl Finetune {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let mode = match self.mode {
            FinetuneMode::Freeze => train::fit::Mode::FreezeEncoder,
            FinetuneMode::Full => train::fit::Mode::Full { encoder_lr_factor: train::fit::ENCODER_LR_FACTOR },
        };
        let plan = ctx.plan()?;
        let spec = self.opts.spec(&plan, Some(&self.site))?;
        let job = train::FinetuneJob { site: self.site.clone(), from: self.from.clone(), events: self.events, mode };
        let r = train::finetune(&plan, &ctx.store, &job, &spec, &self.out)?;
        print_fit(&r, &self.out);
        Ok(ExitCode::SUCCESS)
    }
}

fn print_fit(r: &train::fit::FitReport, out: &std::path::Path) {
    println!(
        "best epoch {} of {}, validation ROC-AUC {:?}: {}",
        r.best_epoch,
        r.history.len(),
        r.best_val_roc_auc,
        out.display()
    );
}

/// How a bundle adapts to a site without its labels.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AdaptMethod {
    /// Re-estimate batch-norm statistics on the site's patches (no weight changes, target data only).
    Adabn,
    /// First train on the bundle's labelled source patches with cross-entropy + lambda x CORAL between source and
    /// target bottleneck features (needs the source site onboarded), then AdaBN.
    Coral,
}

#[derive(Debug, Args)]
pub struct Adapt {
    #[arg(long)]
    site: String,
    #[arg(long)]
    from: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value_t = AdaptMethod::Adabn)]
    method: AdaptMethod,
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
}

impl Adapt {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let method = match self.method {
            AdaptMethod::Adabn => train::AdaptMethod::AdaBn,
            AdaptMethod::Coral => train::AdaptMethod::Coral,
        };
        let plan = ctx.plan()?;
        let spec = self.opts.spec(&plan, Some(&self.site))?;
        let job = train::AdaptJob {
            site: self.site.clone(),
            from: self.from.clone(),
            method,
            passes: self.passes,
            source: self.source.clone(),
            coral: train::CoralParams { epochs: self.coral_epochs, lr: self.coral_lr, lambda: self.coral_lambda },
        };
        let shift = train::adapt_with(&plan, &ctx.store, &job, &spec, &self.out)?;
        let warn = if shift > train::DOMAIN_SHIFT_WARNING { " (large: expect a weaker transfer)" } else { "" };
        println!("domain shift {shift:.2}{warn}; adapted bundle: {}", self.out.display());
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, Subcommand)]
pub enum Dataset {
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

impl Dataset {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let Dataset::Export { out, opts } = self;
        let plan = ctx.plan()?;
        let e = train::export::export(&plan, &ctx.store, &opts.spec(&plan, None)?, out)?;
        println!("{} training and {} validation patches: {}", e.train, e.val, out.display());
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, Args)]
pub struct Experiment {
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
}

impl Experiment {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let plan = ctx.plan()?;
        let first = self.opts.seed.unwrap_or(EXPERIMENT_SEED);
        let design = experiments::transfer::Design {
            source: self.source.clone(),
            target: self.target.clone(),
            events: self.events.clone(),
            seeds: (0..self.seeds).map(|i| first + i).collect(),
            spec: self.opts.spec(&plan, Some(&self.source))?,
            finetune_epochs: self.finetune_epochs,
            map: Default::default(),
        };
        fs_err::create_dir_all(&self.out)?;
        let report = experiments::transfer::transfer(&plan, &ctx.store, &design, &self.out)?;
        print!("{}", experiments::transfer::markdown(&report, &design));
        Ok(ExitCode::SUCCESS)
    }
}
