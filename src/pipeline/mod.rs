//! The pipeline runner: the only code that knows the order of the stages, and what each unit of work reads and writes.
//!
//! Stages run in dependency order ([`rank`]: `dem` -> `terrain` -> `observations` -> `model` -> `hazard` -> `weather`
//! -> `weather_features` -> `predict` -> `publish`) whatever their order in the pipeline file. [`runner`] executes a pipeline as units (stage x site x date) against
//! the run [`ledger`] under the run [`lock`]; [`io`] declares each unit's inputs and outputs, whose
//! [`fingerprint`]s decide what is skipped; [`run_stage`] does one unit and returns a typed [`outcome`] (a report, or an error of the input or of avarisk). The `weather` stage runs for all its sites at
//! once (one HTTP client, one concurrency limit). A stage that is not in the pipeline reads what an earlier run left
//! in the store. [`scaffold`] writes a new site's `site.toml` from its DEM (`avarisk site add`).
use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use tracing::Instrument;

use crate::config::{Pipeline, Plan, PublishStage, Site, Stage, WeatherSource};
use crate::features::{terrain, weather as weather_features};
use crate::ingest::weather::{self, fetch::Fetcher};
use crate::ingest::{dem, observations};
use crate::model::bundle;
use crate::store::Store;
use crate::{predict, publish};

pub mod fingerprint;
pub mod ledger;
pub mod lock;
pub mod outcome;
pub mod runner;
pub mod scaffold;
pub mod shard;

pub use fingerprint::Input;
pub use outcome::{classify, ErrorKind, StageError, StageReport};
pub use runner::{execute, RunOptions, RunSummary, Shard, ShardBy};

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

/// Runs `pipeline` for the day of `ctx` on `sites` (all sites of the plan when empty) with the ledger and lock of
/// `store`: [`execute`] with default options. A lock or ledger error comes back as one failed unit.
pub fn run(plan: &Plan, pipeline: &Pipeline, sites: &[String], store: &Store, ctx: &RunContext) -> RunSummary {
    let mut opts = RunOptions::new(vec![ctx.date]);
    opts.sites = sites.to_vec();
    opts.weather_from = ctx.from;
    opts.offline = ctx.offline;
    execute(plan, pipeline, store, &opts).unwrap_or_else(|e| RunSummary {
        units: vec![runner::UnitResult {
            key: ledger::UnitKey {
                pipeline: pipeline.name.clone(),
                stage: "run".into(),
                site: sites.join(","),
                date: ctx.date.to_string(),
            },
            outcome: runner::Outcome::Failed(StageError::of(&e)),
            seconds: 0.0,
        }],
        ..Default::default()
    })
}

/// Position of a stage in the dependency order.
fn rank(stage: &Stage) -> usize {
    match stage {
        Stage::Dem(_) => 0,
        Stage::Terrain(_) => 1,
        Stage::Observations(_) => 2,
        Stage::Model(_) => 3,
        Stage::Hazard => 4,
        Stage::Weather(_) => 5,
        Stage::WeatherFeatures(_) => 6,
        Stage::Predict(_) => 7,
        Stage::Publish(_) => 8,
        Stage::Train(_) => 9,
    }
}

/// Is a stage's unit one per run date (weather, weather features, prediction, publishing), or one per site?
pub fn dated(stage: &Stage) -> bool {
    match stage {
        Stage::Dem(_)
        | Stage::Terrain(_)
        | Stage::Observations(_)
        | Stage::Model(_)
        | Stage::Hazard
        | Stage::Train(_) => false,
        Stage::Weather(_) | Stage::WeatherFeatures(_) | Stage::Predict(_) | Stage::Publish(_) => true,
    }
}

/// What one unit reads and writes. The runner hashes `key` (with the stage parameters and the site configuration)
/// and `inputs` to decide whether the unit must run again, and `outputs` to check they are still what it wrote.
#[derive(Debug, Clone, Default)]
pub struct UnitIo {
    /// Anything besides parameters and files that shapes the result (e.g. the weather window).
    pub key: String,
    pub inputs: Vec<Input>,
    /// Files (or directories) the unit writes, hashed after it ran.
    pub outputs: Vec<PathBuf>,
    /// Stores the unit upserts and other units also write (the weather store): checked for presence only.
    pub shared: Vec<PathBuf>,
}

/// The inputs and outputs of `stage` on `site` for the run in `ctx`, as paths of the [`Store`] and the site's files.
pub fn io(site: &Site, stage: &Stage, store: &Store, ctx: &RunContext) -> UnitIo {
    let id = site.id.as_str();
    match stage {
        Stage::Dem(_) => UnitIo {
            inputs: site.dem.iter().filter_map(|d| d.local_file.clone()).map(Input::Path).collect(),
            outputs: vec![store.dem(id)],
            ..Default::default()
        },
        Stage::Terrain(_) => {
            UnitIo { inputs: vec![Input::Path(store.dem(id))], outputs: vec![store.terrain(id)], ..Default::default() }
        }
        Stage::Observations(_) if site.observations.is_empty() => UnitIo::default(),
        Stage::Observations(_) => UnitIo {
            inputs: site.observations.iter().map(|o| Input::Path(o.path.clone())).collect(),
            outputs: vec![store.events(id), store.event_weather(id)],
            ..Default::default()
        },
        Stage::Weather(_) => {
            let (from, to) = ctx.weather_window();
            let inputs = match &site.weather {
                None => Vec::new(),
                Some(WeatherSource::OpenMeteo { recorded, .. }) => {
                    recorded.iter().map(|p| Input::Path(p.clone())).collect()
                }
                Some(WeatherSource::StationCsv { stations, .. }) => {
                    stations.iter().map(|s| Input::Path(s.path.clone())).collect()
                }
            };
            let shared = if site.weather.is_some() { vec![store.weather(id)] } else { Vec::new() };
            UnitIo { key: format!("window {from}..{to} offline {}", ctx.offline), inputs, shared, ..Default::default() }
        }
        Stage::WeatherFeatures(_) if site.weather.is_none() => UnitIo::default(),
        Stage::WeatherFeatures(_) => {
            let (from, to) = (ctx.date - chrono::Duration::days(WEATHER_HISTORY_DAYS), ctx.date);
            UnitIo {
                key: format!("date {}", ctx.date),
                inputs: vec![Input::Path(store.dem(id)), Input::WeatherRows { path: store.weather(id), from, to }],
                outputs: vec![store.weather_channels(id, ctx.date)],
                ..Default::default()
            }
        }
        Stage::Model(_) if site.model.is_none() => UnitIo::default(),
        Stage::Model(_) => {
            let mut inputs = vec![Input::Path(store.dem(id)), Input::Path(store.terrain(id))];
            if !site.observations.is_empty() {
                inputs.extend([Input::Path(store.events(id)), Input::Path(store.event_weather(id))]);
            }
            if let Some(from) = site.model.as_ref().and_then(|m| m.from.as_ref()) {
                let source = store.bundle(from);
                inputs.extend([source.join(bundle::WEIGHTS_FILE), source.join(bundle::META_FILE)].map(Input::Path));
            }
            UnitIo { inputs, outputs: vec![store.bundle(id)], ..Default::default() }
        }
        Stage::Hazard if site.model.is_none() => UnitIo::default(),
        Stage::Hazard => {
            let mut inputs = vec![Input::Path(store.events(id))];
            if let Ok(entries) = std::fs::read_dir(site.dir.join(crate::dataset::days::REGIONAL_DIR)) {
                let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                files.sort();
                inputs.extend(files.into_iter().map(Input::Path));
            }
            if let Some(from) = site.model.as_ref().and_then(|m| m.from.as_ref()) {
                inputs.push(Input::Path(store.hazard(from)));
            }
            // The model's inputs and what it carries are code, not files: a release that changes them re-fits it.
            let key = format!(
                "inputs {}; releases per accident day; a target's weekend weight from its records; alerts on {} of \
                 climatology days",
                crate::hazard::input_names().join(","),
                crate::hazard::ALERT_SHARE
            );
            UnitIo { key, inputs, outputs: vec![store.hazard(id)], ..Default::default() }
        }
        Stage::Predict(_) if site.model.is_none() => UnitIo::default(),
        Stage::Predict(_) => {
            let b = store.bundle(id);
            let mut inputs = vec![Input::Path(store.dem(id)), Input::Path(store.terrain(id))];
            inputs.extend([b.join(bundle::WEIGHTS_FILE), b.join(bundle::META_FILE), store.hazard(id)].map(Input::Path));
            if site.weather.is_some() {
                inputs.push(Input::Path(store.weather(id)));
            }
            UnitIo {
                key: format!("date {}", ctx.date),
                inputs,
                outputs: vec![store.prediction(id, ctx.date)],
                ..Default::default()
            }
        }
        Stage::Publish(_) if site.model.is_none() => UnitIo::default(),
        Stage::Publish(_) => UnitIo {
            key: format!("date {}", ctx.date),
            inputs: vec![Input::Path(store.prediction(id, ctx.date)), Input::Path(store.dem(id))],
            outputs: vec![store.published(id, ctx.date)],
            ..Default::default()
        },
        // Not a site unit: `run_stage` refuses it, nothing is read or written.
        Stage::Train(_) => UnitIo::default(),
    }
}

/// The weather stage for many sites at once on one runtime and one HTTP client.
pub(crate) fn run_weather(
    sites: &[&Site],
    params: &weather::fetch::FetchParams,
    store: &Store,
    ctx: &RunContext,
) -> Vec<(String, Result<StageReport, StageError>, f64)> {
    let t = Instant::now();
    let fail_all = |e: StageError| sites.iter().map(|s| (s.id.clone(), Err(e.clone()), 0.0)).collect();
    let fetcher = match Fetcher::new(params.clone(), &store.http_cache(), ctx.offline) {
        Ok(f) => f,
        Err(e) => return fail_all(classify(e)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail_all(StageError::internal(format!("cannot start the async runtime: {e}"))),
    };
    let (from, to) = ctx.weather_window();
    runtime.block_on(async {
        let tasks = sites.iter().map(|site| {
            let fetcher = fetcher.clone();
            let span = tracing::info_span!("unit", site = %site.id, stage = "weather", date = %ctx.date);
            async move {
                if site.weather.is_none() {
                    return (site.id.clone(), Ok(StageReport::NotApplicable("no [weather] source")), 0.0);
                }
                let r = weather::ingest(site, &store.weather(&site.id), from, to, &fetcher).await;
                let r = r.map(|w| StageReport::Done(w.to_string())).map_err(classify);
                (site.id.clone(), r, t.elapsed().as_secs_f64())
            }
            .instrument(span)
        });
        futures_util::future::join_all(tasks).await
    })
}

/// Runs one stage for one site of `plan`; the message says what was written.
pub fn run_stage(
    plan: &Plan,
    site: &Site,
    stage: &Stage,
    store: &Store,
    ctx: &RunContext,
) -> Result<StageReport, StageError> {
    use StageReport::{Done, NotApplicable};
    match stage {
        Stage::Dem(p) => {
            let d = dem::ingest(site, p, &store.dem(&site.id)).map_err(classify)?;
            Ok(Done(format!(
                "DEM on grid {}x{} at {} m: {} ({:.1}% valid, {:.0}..{:.0} m)",
                d.grid.width,
                d.grid.height,
                d.grid.res_x(),
                d.path.display(),
                100.0 * d.valid_cells as f64 / d.grid.cells() as f64,
                d.min_m,
                d.max_m
            )))
        }
        Stage::Terrain(p) => {
            let dem_path = require(&store.dem(&site.id), "dem", &site.id)?;
            let t = terrain::derive(&dem_path, &store.terrain(&site.id), p).map_err(classify)?;
            let names: Vec<&str> = t.bands.iter().map(|b| b.feature.name()).collect();
            Ok(Done(format!("{} bands ({}) in {}", names.len(), names.join(", "), t.path.display())))
        }
        Stage::Observations(_) => {
            if site.observations.is_empty() {
                return Ok(NotApplicable("no [[observations]]"));
            }
            let summary = observations::ingest(site, store).map_err(classify)?;
            Ok(Done(summary.to_string().trim_end().to_owned()))
        }
        Stage::Weather(p) => run_weather(&[site], p, store, ctx).pop().expect("one site").1,
        // Training spans sites and writes a bundle, not a site output.
        Stage::Train(_) => Err(StageError::input("train stages run with `avarisk train --pipeline NAME --out DIR`")),
        Stage::Model(p) => crate::train::onboard::model_unit(site, p, store).map(Done).map_err(classify),
        Stage::Hazard => {
            if site.model.is_none() {
                return Ok(NotApplicable("the site has no [model]"));
            }
            crate::train::onboard::hazard_unit(plan, site, store).map(Done).map_err(classify)
        }
        Stage::Predict(p) => match predict::day::day_map(site, store, ctx.date, p).map_err(classify)? {
            None => Ok(NotApplicable("the site has no [model]")),
            Some(pred) => Ok(Done(pred.to_string())),
        },
        Stage::Publish(p) => publish_site(site, store, ctx.date, p),
        Stage::WeatherFeatures(p) => {
            if site.weather.is_none() {
                return Ok(NotApplicable("no [weather] source"));
            }
            let dem_path = require(&store.dem(&site.id), "dem", &site.id)?;
            let rows = weather::store::load(&store.weather(&site.id)).map_err(classify)?;
            let f = weather_features::daily_features(&site.id, &rows, ctx.date, p).map_err(classify)?;
            let path = weather_features::write_channels(&dem_path, &f, p, &store.weather_channels(&site.id, ctx.date))
                .map_err(classify)?;
            let unavailable: Vec<&str> = f.unavailable.iter().map(|c| c.name()).collect();
            Ok(Done(format!(
                "weather channels for {} from {} point(s) in {}{}",
                ctx.date,
                f.points.len(),
                path.display(),
                if unavailable.is_empty() {
                    String::new()
                } else {
                    format!(" (unavailable from this source: {})", unavailable.join(", "))
                }
            )))
        }
    }
}

fn require(path: &std::path::Path, stage: &str, site: &str) -> Result<std::path::PathBuf, StageError> {
    if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(StageError::input(format!(
            "{} is missing: run the {stage} stage first (`avarisk run onboard --sites {site}`)",
            path.display()
        )))
    }
}

/// The `publish` stage for one site and day: the day's prediction as the published map set.
fn publish_site(
    site: &Site,
    store: &Store,
    date: chrono::NaiveDate,
    stage: &PublishStage,
) -> Result<StageReport, StageError> {
    if site.model.is_none() {
        return Ok(StageReport::NotApplicable("the site has no [model]"));
    }
    let Some(danger) = &site.danger else {
        return Err(StageError::input(format!(
            "{}: no [danger] thresholds; derive them with `avarisk verify --site {}` and paste the table",
            site.file.display(),
            site.id
        )));
    };
    let prediction = require(&store.prediction(&site.id, date), "predict", &site.id)?;
    let dem = require(&store.dem(&site.id), "dem", &site.id)?;
    let bundle_id = bundle::lineage_id(&store.bundle(&site.id)).map_err(classify)?;
    let scale = publish::DangerScale { thresholds: danger.thresholds };
    let input = publish::MapInput {
        site_id: &site.id,
        site_name: &site.name,
        date,
        time_zone: site.timezone,
        prediction: &prediction,
        dem: &dem,
        bundle_id: &bundle_id,
        scale: &scale,
        attribution: site.attribution.iter().map(|a| format!("{}: {} ({})", a.data, a.source, a.licence)).collect(),
        hazard: publish::DayHazard::of_prediction(&prediction),
    };
    let params = publish::PublishParams {
        zone_min_level: danger.zone_min_level,
        alert_level: danger.alert_level.max(danger.zone_min_level),
        alert_min_area_km2: danger.alert_min_area_km2,
        zone_min_area_km2: danger.zone_min_area_km2,
        test: stage.test,
        ..Default::default()
    };
    let p = publish::publish(store, &input, &params).map_err(classify)?;
    // On disk first (the source of truth), then the bucket: a failed upload fails the unit, so the next run
    // publishes and uploads again; the bucket keeps naming the previous day meanwhile.
    let uploaded = match stage.target_for(site) {
        None => String::new(),
        Some(target) => {
            let conn = publish::bucket::Connection::from_env(target);
            let up = publish::bucket::upload_day(&conn, store, &site.id, date, None).map_err(upload_failure)?;
            format!("; uploaded to {target}: {up}")
        }
    };
    Ok(StageReport::Done(format!(
        "published {} (max level {}, {} zone(s){}): {}{uploaded}",
        date,
        p.max_level,
        p.zones,
        p.alert.map(|m| format!(", CAP {m:?}")).unwrap_or_default(),
        p.dir.display()
    )))
}

/// Who is to act on a failed upload: the store refusing the request (a missing bucket, a wrong key or secret) is the
/// configuration's (exit 1); not reaching the store or its failing to answer (network, 5xx, timeouts) is the
/// machine's (exit 70).
fn upload_failure(e: publish::bucket::BucketError) -> StageError {
    use object_store::Error as Store;
    use publish::bucket::BucketError;
    match &e {
        BucketError::Request { source, .. }
            if matches!(
                **source,
                Store::NotFound { .. } | Store::PermissionDenied { .. } | Store::Unauthenticated { .. }
            ) =>
        {
            StageError::input(e.to_string())
        }
        BucketError::Request { .. } | BucketError::Runtime(_) => StageError::internal(e.to_string()),
        _ => classify(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use publish::bucket::BucketError;

    #[test]
    fn a_refused_upload_is_the_configurations_a_failed_one_the_machines() {
        let request = |source| BucketError::Request {
            action: "upload",
            object: "s3://maps/a/latest.json".into(),
            source: Box::new(source),
        };
        let denied = request(object_store::Error::PermissionDenied { path: "a".into(), source: "403".into() });
        assert_eq!(upload_failure(denied).kind, ErrorKind::Input);
        let down = request(object_store::Error::Generic { store: "S3", source: "connection refused".into() });
        assert_eq!(upload_failure(down).kind, ErrorKind::Internal);
        assert_eq!(upload_failure(BucketError::Injected(3)).kind, ErrorKind::Input);
    }
}
