//! The pipeline runner: the only code that knows the order of the stages.
//!
//! Stages run in dependency order (`dem` -> `terrain` -> `observations` -> `weather` -> `weather_features`) whatever
//! their order in the pipeline file. The `weather` stage runs for all selected sites at once (one HTTP client, one concurrency
//! limit); the others site by site. A site that fails a stage skips its later stages; the other sites go on, and the
//! summary lists each unit's outcome. A stage that is not in the pipeline reads what an earlier run left in the store.
use std::time::Instant;

use chrono::NaiveDate;
use tracing::{error, info};

use crate::config::{Pipeline, Plan, Site, Stage};
use crate::features::{terrain, weather as weather_features};
use crate::ingest::weather::{self, fetch::Fetcher};
use crate::ingest::{dem, observations};
use crate::store::Store;

/// Days of weather before the run date that a daily run ingests (the history weather features need).
pub const WEATHER_HISTORY_DAYS: i64 = 14;

/// What a run is about: its date, and how weather may be fetched.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The day the run is for (site-local).
    pub date: NaiveDate,
    /// First day of weather to ingest (default: `date` minus [`WEATHER_HISTORY_DAYS`]).
    pub from: Option<NaiveDate>,
    /// Use the HTTP cache and recorded answers only.
    pub offline: bool,
}

impl RunContext {
    pub fn weather_window(&self) -> (NaiveDate, NaiveDate) {
        (self.from.unwrap_or(self.date - chrono::Duration::days(WEATHER_HISTORY_DAYS)), self.date)
    }
}

/// Outcome of one stage on one site: a message saying what was written (or why nothing was needed), or the error.
#[derive(Debug)]
pub struct UnitResult {
    pub site: String,
    pub stage: &'static str,
    pub outcome: Result<String, String>,
    pub seconds: f64,
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub units: Vec<UnitResult>,
}

impl RunSummary {
    pub fn failures(&self) -> impl Iterator<Item = &UnitResult> {
        self.units.iter().filter(|u| u.outcome.is_err())
    }
}

/// Position of a stage in the dependency order.
fn rank(stage: &Stage) -> usize {
    match stage {
        Stage::Dem(_) => 0,
        Stage::Terrain(_) => 1,
        Stage::Observations(_) => 2,
        Stage::Weather(_) => 3,
        Stage::WeatherFeatures(_) => 4,
        Stage::Train(_) => 5,
    }
}

/// Runs `pipeline` on `sites` (all sites of the plan when empty), writing into `store`.
pub fn run(plan: &Plan, pipeline: &Pipeline, sites: &[String], store: &Store, ctx: &RunContext) -> RunSummary {
    let mut stages: Vec<&Stage> = pipeline.stages.iter().collect();
    stages.sort_by_key(|s| rank(s));
    let mut summary = RunSummary::default();
    let selected: Vec<&Site> = plan.sites.iter().filter(|s| sites.is_empty() || sites.contains(&s.id)).collect();
    for stage in stages {
        let failed: Vec<String> = summary.failures().map(|u| u.site.clone()).collect();
        let targets: Vec<&Site> = selected.iter().copied().filter(|s| !failed.contains(&s.id)).collect();
        let results = match stage {
            Stage::Weather(params) => run_weather(&targets, params, store, ctx),
            _ => targets
                .iter()
                .map(|site| {
                    let t = Instant::now();
                    let outcome = run_stage(site, stage, store, ctx);
                    (site.id.clone(), outcome, t.elapsed().as_secs_f64())
                })
                .collect(),
        };
        for (site, outcome, seconds) in results {
            match &outcome {
                Ok(msg) => {
                    let first = msg.lines().next().unwrap_or_default();
                    info!(site = %site, stage = stage.name(), seconds = format!("{seconds:.1}"), "{first}")
                }
                Err(e) => error!(site = %site, stage = stage.name(), "{e}"),
            }
            summary.units.push(UnitResult { site, stage: stage.name(), outcome, seconds });
        }
    }
    summary
}

/// The weather stage for many sites at once on one runtime and one HTTP client.
fn run_weather(
    sites: &[&Site],
    params: &weather::fetch::FetchParams,
    store: &Store,
    ctx: &RunContext,
) -> Vec<(String, Result<String, String>, f64)> {
    let t = Instant::now();
    let fail_all = |e: String| sites.iter().map(|s| (s.id.clone(), Err(e.clone()), 0.0)).collect();
    let fetcher = match Fetcher::new(params.clone(), &store.http_cache(), ctx.offline) {
        Ok(f) => f,
        Err(e) => return fail_all(e.to_string()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail_all(format!("cannot start the async runtime: {e}")),
    };
    let (from, to) = ctx.weather_window();
    runtime.block_on(async {
        let tasks = sites.iter().map(|site| {
            let fetcher = fetcher.clone();
            async move {
                if site.weather.is_none() {
                    return (site.id.clone(), Ok("skipped: no [weather] source".to_owned()), 0.0);
                }
                let r = weather::ingest(site, &store.weather(&site.id), from, to, &fetcher).await;
                (site.id.clone(), r.map(|w| w.to_string()).map_err(|e| e.to_string()), t.elapsed().as_secs_f64())
            }
        });
        futures_util::future::join_all(tasks).await
    })
}

/// Runs one stage for one site; the message says what was written.
pub fn run_stage(site: &Site, stage: &Stage, store: &Store, ctx: &RunContext) -> Result<String, String> {
    match stage {
        Stage::Dem(p) => {
            let d = dem::ingest(site, p, &store.dem(&site.id)).map_err(|e| e.to_string())?;
            Ok(format!(
                "DEM on grid {}x{} at {} m: {} ({:.1}% valid, {:.0}..{:.0} m)",
                d.grid.width,
                d.grid.height,
                d.grid.res_x(),
                d.path.display(),
                100.0 * d.valid_cells as f64 / d.grid.cells() as f64,
                d.min_m,
                d.max_m
            ))
        }
        Stage::Terrain(p) => {
            let dem_path = require(&store.dem(&site.id), "dem", &site.id)?;
            let t = terrain::derive(&dem_path, &store.terrain(&site.id), p).map_err(|e| e.to_string())?;
            let names: Vec<&str> = t.bands.iter().map(|b| b.feature.name()).collect();
            Ok(format!("{} bands ({}) in {}", names.len(), names.join(", "), t.path.display()))
        }
        Stage::Observations(_) => {
            if site.observations.is_empty() {
                return Ok("skipped: no [[observations]]".into());
            }
            let summary = observations::ingest(site, store).map_err(|e| e.to_string())?;
            Ok(summary.to_string().trim_end().to_owned())
        }
        Stage::Weather(p) => run_weather(&[site], p, store, ctx).pop().expect("one site").1,
        // Training spans sites and writes a bundle, not a site output.
        Stage::Train(_) => Err("train stages run with `avarisk train --pipeline NAME --out DIR`".into()),
        Stage::WeatherFeatures(p) => {
            if site.weather.is_none() {
                return Ok("skipped: no [weather] source".into());
            }
            let dem_path = require(&store.dem(&site.id), "dem", &site.id)?;
            let rows = weather::store::load(&store.weather(&site.id)).map_err(|e| e.to_string())?;
            let f = weather_features::daily_features(&site.id, &rows, ctx.date, p).map_err(|e| e.to_string())?;
            let path = weather_features::write_channels(&dem_path, &f, p, &store.weather_channels(&site.id, ctx.date))
                .map_err(|e| e.to_string())?;
            let unavailable: Vec<&str> = f.unavailable.iter().map(|c| c.name()).collect();
            Ok(format!(
                "weather channels for {} from {} point(s) in {}{}",
                ctx.date,
                f.points.len(),
                path.display(),
                if unavailable.is_empty() {
                    String::new()
                } else {
                    format!(" (unavailable from this source: {})", unavailable.join(", "))
                }
            ))
        }
    }
}

fn require(path: &std::path::Path, stage: &str, site: &str) -> Result<std::path::PathBuf, String> {
    if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(format!(
            "{} is missing: run the {stage} stage first (`avarisk run onboard --sites {site}`)",
            path.display()
        ))
    }
}
