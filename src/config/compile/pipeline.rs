//! `pipelines/*.toml`: stages and their parameters, the training keys shared by the `train` and `model` stages.
use std::collections::BTreeSet;
use std::path::Path;

use crate::config::params::DemParams;
use crate::config::params::FetchParams;
use crate::config::params::ObservationParams;
use crate::config::params::PredictParams;
use crate::config::params::SamplingParams;
use crate::config::params::Target;
use crate::config::params::TrainParams;
use crate::config::params::WeatherFeatureParams;
use crate::config::params::{TerrainParams, WindShelterParams};
use crate::config::raw::{RawPipeline, RawStage, RawTraining};
use crate::geo::Resampling;
use crate::vocab::terrain::Feature;

use super::*;

pub(super) fn compile_train(
    sites: &[String],
    raw: &RawTraining,
    key: &dyn Fn(&str) -> String,
    e: &mut Errors,
) -> TrainStage {
    let (d, ds) = (TrainParams::default(), SamplingParams::default());
    let t = TrainStage {
        sites: sites.to_vec(),
        held_back_from: raw.held_back_from.unwrap_or(HELD_BACK_FROM),
        sampling: SamplingParams {
            patch: raw.patch.unwrap_or(ds.patch),
            context: raw.context.unwrap_or(ds.context),
            seed: raw.seed.unwrap_or(ds.seed),
            ..ds
        },
        train: TrainParams {
            epochs: raw.epochs.unwrap_or(d.epochs),
            batch: raw.batch.unwrap_or(d.batch),
            lr: raw.lr.unwrap_or(d.lr),
            weight_decay: raw.weight_decay.unwrap_or(d.weight_decay),
            patience: raw.patience.unwrap_or(d.patience),
            seed: raw.seed.unwrap_or(d.seed),
        },
    };
    if t.sampling.patch < 8 || t.sampling.patch % 4 != 0 {
        e.push(key("patch"), format!("must be a multiple of 4, at least 8, got {}", t.sampling.patch));
    }
    if 2 * t.sampling.context + 4 > t.sampling.patch {
        e.push(
            key("context"),
            format!(
                "must leave a labelled centre of at least 4 cells: 2 x {} + 4 > patch {}",
                t.sampling.context, t.sampling.patch
            ),
        );
    }
    if t.train.epochs == 0 {
        e.push(key("epochs"), "must be at least 1");
    }
    if t.train.patience == 0 {
        e.push(key("patience"), "must be at least 1 (epochs without a better validation score before training stops)");
    }
    if t.train.batch == 0 {
        e.push(key("batch"), "must be at least 1");
    }
    if !(t.train.lr > 0.0 && t.train.lr < 1.0) {
        e.push(key("lr"), format!("must be in (0, 1), got {}", t.train.lr));
    }
    if !(0.0..1.0).contains(&t.train.weight_decay) {
        e.push(key("weight_decay"), format!("must be in [0, 1), got {}", t.train.weight_decay));
    }
    check_held_back_from(t.held_back_from, key("held_back_from"), e);
    t
}

/// Winters from `year`/`year + 1` on are held back: a year of the records' era (a typo such as 218 holds nothing back).
fn check_held_back_from(year: i32, key: String, e: &mut Errors) {
    if !(1950..=2100).contains(&year) {
        e.push(key, format!("must be a year between 1950 and 2100 (the first held-back winter), got {year}"));
    }
}

pub(super) fn compile_pipeline(
    name: &str,
    file: &Path,
    rp: &RawPipeline,
    site_ids: &BTreeSet<String>,
    e: &mut Errors,
) -> Option<Pipeline> {
    let before = e.count();
    if rp.description.trim().is_empty() {
        e.push("description", "say what the pipeline is for");
    }
    if rp.stages.is_empty() {
        e.push("stages", "a pipeline needs at least one stage");
    }
    let mut seen = BTreeSet::new();
    let mut stages = Vec::new();
    for (i, s) in rp.stages.iter().enumerate() {
        let key = |k: &str| format!("stages[{i}].{k}");
        let stage = match s {
            RawStage::Dem { resampling } => {
                let mut p = DemParams::default();
                if let Some(r) = resampling {
                    match r.parse::<Resampling>() {
                        Ok(r) => p.resampling = r,
                        Err(m) => e.push(key("resampling"), m),
                    }
                }
                Stage::Dem(p)
            }
            RawStage::Train(raw) => {
                let t = compile_train(raw.sites.as_deref().unwrap_or_default(), raw, &key, e);
                if t.sites.is_empty() {
                    e.push(key("sites"), "name at least one source site");
                }
                for id in t.sites.iter().filter(|id| !site_ids.contains(*id)) {
                    e.push(key("sites"), format!("no site `{id}` is configured"));
                }
                Stage::Train(t)
            }
            RawStage::Model(raw) => {
                if raw.sites.is_some() {
                    e.push(
                        key("sites"),
                        "the model stage trains every site with a [model] on its own records: remove `sites` (it \
                         belongs to a `train` stage)",
                    );
                }
                Stage::Model(compile_train(&[], raw, &key, e))
            }
            RawStage::Hazard { held_back_from } => {
                if held_back_from.is_some() {
                    e.push(
                        key("held_back_from"),
                        "the hazard is fitted on every winter the site's records span, and `avarisk verify` scores \
                         each of those winters with a model fitted without it: remove `held_back_from` here",
                    );
                }
                Stage::Hazard
            }
            RawStage::Predict { tile, overlap, batch, mc_passes } => {
                let d = PredictParams::default();
                let p = PredictParams {
                    tile: tile.unwrap_or(d.tile),
                    overlap: overlap.unwrap_or(d.overlap),
                    batch: batch.unwrap_or(d.batch),
                    mc_passes: mc_passes.unwrap_or(d.mc_passes),
                };
                for (field, problem) in p.problems() {
                    e.push(key(field), problem);
                }
                Stage::Predict(p)
            }
            RawStage::Publish { test, target } => {
                let target = target.as_deref().and_then(|t| match Target::parse(t) {
                    Ok(t) => Some(t),
                    Err(m) => {
                        e.push(key("target"), m);
                        None
                    }
                });
                Stage::Publish(PublishStage { test: test.unwrap_or(false), target })
            }
            RawStage::Observations { label_radius_m } => {
                if let Some(r) = label_radius_m {
                    if !(*r >= 0.0 && *r <= 5000.0) {
                        e.push(key("label_radius_m"), format!("must be in [0, 5000] metres, got {r}"));
                    }
                }
                Stage::Observations(ObservationParams { label_radius_m: *label_radius_m })
            }
            RawStage::Weather { concurrency, connect_timeout_s, read_timeout_s, retries, backoff_s } => {
                let mut p = FetchParams::default();
                let secs = |v: Option<f64>, k: &str, d: std::time::Duration, e: &mut Errors| match v {
                    None => d,
                    Some(s) if s > 0.0 && s <= 3600.0 => std::time::Duration::from_secs_f64(s),
                    Some(s) => {
                        e.push(key(k), format!("must be in (0, 3600] seconds, got {s}"));
                        d
                    }
                };
                p.connect_timeout = secs(*connect_timeout_s, "connect_timeout_s", p.connect_timeout, e);
                p.read_timeout = secs(*read_timeout_s, "read_timeout_s", p.read_timeout, e);
                p.base_backoff = secs(*backoff_s, "backoff_s", p.base_backoff, e);
                if let Some(c) = concurrency {
                    if *c == 0 || *c > 256 {
                        e.push(key("concurrency"), format!("must be 1 to 256, got {c}"));
                    }
                    p.concurrency = *c;
                }
                if let Some(r) = retries {
                    if *r > 20 {
                        e.push(key("retries"), format!("at most 20, got {r}"));
                    }
                    p.retries = *r;
                }
                Stage::Weather(p)
            }
            RawStage::WeatherFeatures { lapse_rate_c_per_km, snowfall_gradient_per_100m, idw_power, max_gap_days } => {
                let mut p = WeatherFeatureParams::default();
                if let Some(v) = lapse_rate_c_per_km {
                    if !(-15.0..=5.0).contains(v) {
                        e.push(
                            key("lapse_rate_c_per_km"),
                            format!("{v} is not a plausible lapse rate (-15..5 deg C per km)"),
                        );
                    }
                    p.lapse_rate_c_per_km = *v;
                }
                if let Some(v) = snowfall_gradient_per_100m {
                    if !(-0.5..=0.5).contains(v) {
                        e.push(
                            key("snowfall_gradient_per_100m"),
                            format!("{v} is not plausible (-0.5..0.5 per 100 m)"),
                        );
                    }
                    p.snowfall_gradient_per_100m = *v;
                }
                if let Some(v) = idw_power {
                    if !(0.0..=6.0).contains(v) {
                        e.push(key("idw_power"), format!("must be in [0, 6], got {v}"));
                    }
                    p.idw_power = *v;
                }
                if let Some(v) = max_gap_days {
                    if *v > 10 {
                        e.push(
                            key("max_gap_days"),
                            format!("gaps longer than 10 days cannot be filled honestly, got {v}"),
                        );
                    }
                    p.max_gap_days = *v;
                }
                Stage::WeatherFeatures(p)
            }
            RawStage::Terrain { features, vrm_window, wind_shelter } => {
                let mut p = TerrainParams::default();
                if let Some(list) = features {
                    let mut parsed = Vec::new();
                    for (j, f) in list.iter().enumerate() {
                        match f.parse::<Feature>() {
                            Ok(f) if parsed.contains(&f) => {
                                e.push(key(&format!("features[{j}]")), format!("`{f}` is listed twice"))
                            }
                            Ok(f) => parsed.push(f),
                            Err(m) => e.push(key(&format!("features[{j}]")), m),
                        }
                    }
                    if list.is_empty() {
                        e.push(key("features"), "list at least one feature, or leave the key out for all of them");
                    }
                    p.features = parsed;
                }
                if let Some(w) = vrm_window {
                    if *w < 3 || w % 2 == 0 || *w > 31 {
                        e.push(key("vrm_window"), format!("must be an odd number of cells from 3 to 31, got {w}"));
                    }
                    p.vrm_window = *w;
                }
                if let Some(ws) = wind_shelter {
                    let d = WindShelterParams::default();
                    let ws = WindShelterParams {
                        radius_m: ws.radius_m.unwrap_or(d.radius_m),
                        direction_deg: ws.direction_deg.unwrap_or(d.direction_deg),
                        tolerance_deg: ws.tolerance_deg.unwrap_or(d.tolerance_deg),
                        quantile: ws.quantile.unwrap_or(d.quantile),
                    };
                    if !(ws.radius_m > 0.0 && ws.radius_m <= 5000.0) {
                        e.push(
                            key("wind_shelter.radius_m"),
                            format!("must be in (0, 5000] metres, got {}", ws.radius_m),
                        );
                    }
                    if !(0.0..=360.0).contains(&ws.direction_deg) {
                        e.push(
                            key("wind_shelter.direction_deg"),
                            format!("must be in [0, 360], got {}", ws.direction_deg),
                        );
                    }
                    if !(ws.tolerance_deg > 0.0 && ws.tolerance_deg <= 180.0) {
                        e.push(
                            key("wind_shelter.tolerance_deg"),
                            format!("must be in (0, 180], got {}", ws.tolerance_deg),
                        );
                    }
                    if !(0.0..=1.0).contains(&ws.quantile) {
                        e.push(key("wind_shelter.quantile"), format!("must be in [0, 1], got {}", ws.quantile));
                    }
                    p.wind_shelter = ws;
                }
                Stage::Terrain(p)
            }
        };
        if !seen.insert(stage.name()) {
            e.push(key("stage"), format!("stage `{}` appears twice", stage.name()));
        }
        stages.push(stage);
    }
    (e.count() == before).then(|| Pipeline {
        name: name.to_owned(),
        file: file.to_path_buf(),
        description: rp.description.clone(),
        stages,
    })
}
