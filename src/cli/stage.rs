//! `avarisk ingest ...` and `avarisk features ...`: one stage of a pipeline for one site, outside the runner (no
//! ledger), with the parameters that pipeline gives the stage.
use std::process::ExitCode;

use anyhow::bail;
use chrono::NaiveDate;
use clap::Subcommand;

use super::{find_site, Ctx};
use crate::config::{Plan, Stage};
use crate::ingest::observations::{self, ObservationParams};
use crate::pipeline::{self, RunContext, StageError, StageReport};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum Ingest {
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
pub enum Features {
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

/// A run context for stages that do not depend on the day.
fn undated() -> RunContext {
    RunContext { date: chrono::Utc::now().date_naive(), from: None, offline: false }
}

impl Ingest {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match self {
            Ingest::Dem { site, pipeline } => {
                one_stage(ctx, pipeline, site, Stage::Dem(Default::default()), &undated())
            }
            Ingest::Observations { site, pipeline } => {
                one_stage(ctx, pipeline, site, Stage::Observations(Default::default()), &undated())
            }
            Ingest::Weather { site, from, to, offline, pipeline } => {
                let when = RunContext { date: *to, from: Some(*from), offline: *offline };
                one_stage(ctx, pipeline, site, Stage::Weather(Default::default()), &when)
            }
        }
    }
}

impl Features {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        match self {
            Features::Terrain { site, pipeline } => {
                one_stage(ctx, pipeline, site, Stage::Terrain(Default::default()), &undated())
            }
            Features::Labels { site, date, pipeline } => labels(ctx, pipeline, site, *date),
            Features::Weather { site, date, pipeline } => {
                let when = RunContext { date: *date, from: None, offline: true };
                one_stage(ctx, pipeline, site, Stage::WeatherFeatures(Default::default()), &when)
            }
        }
    }
}

/// Runs one stage for one site, with the parameters of that stage in `pipeline` (or `default`'s when the pipeline
/// lacks it), and prints its report; a failure exits with its kind's code.
fn one_stage(ctx: &Ctx, pipeline: &str, site: &str, default: Stage, when: &RunContext) -> anyhow::Result<ExitCode> {
    let (site, stage, result) = stage_result(&ctx.plan()?, &ctx.store, pipeline, site, default, when)?;
    match result {
        Ok(report) => {
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: site `{site}`, stage `{stage}`\n  caused by: {e}");
            Ok(ExitCode::from(e.kind.exit_code()))
        }
    }
}

/// [`one_stage`]'s work: the site, the stage's name and what the stage returned.
pub(super) fn stage_result(
    plan: &Plan,
    store: &Store,
    pipeline: &str,
    site: &str,
    default: Stage,
    when: &RunContext,
) -> anyhow::Result<(String, &'static str, Result<StageReport, StageError>)> {
    let stage = plan
        .pipelines
        .get(pipeline)
        .and_then(|p| p.stages.iter().find(|s| s.name() == default.name()).cloned())
        .unwrap_or(default);
    let site = find_site(plan, site)?;
    Ok((site.id.clone(), stage.name(), pipeline::run_stage(plan, site, &stage, store, when)))
}

fn labels(ctx: &Ctx, pipeline: &str, site: &str, date: NaiveDate) -> anyhow::Result<ExitCode> {
    let plan = ctx.plan()?;
    let site = find_site(&plan, site)?;
    let params = plan.stage::<ObservationParams>(pipeline).cloned().unwrap_or_default();
    let events_path = ctx.store.events(&site.id);
    if !events_path.exists() {
        bail!("{} is missing: run `avarisk ingest observations --site {}` first", events_path.display(), site.id);
    }
    let events = observations::load_events(&events_path)?;
    let radius = params.label_radius(&site.grid);
    let dest = ctx.store.labels(&site.id, date);
    let stats = observations::write_labels(&events, &site.grid, date, radius, &dest)?;
    println!(
        "{} event(s) on {date}, {} positive cell(s) within {radius} m: {}",
        stats.events,
        stats.positive_cells,
        dest.display()
    );
    Ok(ExitCode::SUCCESS)
}
