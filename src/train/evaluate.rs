//! A bundle's map scored at a site's held-back events against nearby controls, with the terrain baselines on the
//! same cells (`avarisk eval`); the patch-level score as a training diagnostic only.
use std::path::Path;

use serde::Serialize;

use super::fit;
use crate::config::Plan;
use crate::dataset::{self, winter_of, SamplingParams, SiteRasters, CHANNELS};
use crate::evaluate::{Cases, MapDesign};
use crate::ingest::observations::Event;
use crate::model::bundle;
use crate::model::device;
use crate::store::Store;
use avarisk_nn::metrics;

use super::{pretrain::*, spec::*, RunError};

/// A bundle's map scored at a site's held-back events ([`crate::evaluate`]), with the baselines on the same cells.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub site: String,
    pub from_winter: i32,
    pub events: usize,
    pub design: MapDesign,
    /// The map first, then the baselines.
    pub rows: Vec<crate::evaluate::Row>,
    /// Training diagnostic: ROC-AUC on the labelled pixels of the held-back events' training-style windows.
    pub patch_level_roc_auc: Option<f64>,
    /// Map value against the observed share of event cells, per bin, over the scored cells.
    pub reliability: Vec<metrics::ReliabilityBin>,
}

/// Events scored: from a winter on, and optionally between two days (inclusive).
pub type EvalWindow = (i32, Option<chrono::NaiveDate>, Option<chrono::NaiveDate>);

/// The scored cells of `site`'s events in `window`, with the site's rasters.
pub fn map_cases(
    plan: &Plan,
    store: &Store,
    site: &str,
    (from_winter, from, to): EvalWindow,
    design: &MapDesign,
) -> Result<(Cases, SiteRasters), RunError> {
    plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    let rasters = SiteRasters::load(store, site)?;
    let events: Vec<_> = crate::ingest::observations::load_events(&store.events(site))
        .map_err(dataset::DatasetError::from)?
        .into_iter()
        .filter(|e| dataset::winter_of(e.date) >= from_winter)
        .filter(|e| from.is_none_or(|f| e.date >= f) && to.is_none_or(|t| e.date <= t))
        .collect();
    let cases = crate::evaluate::cases(&rasters, &events, design);
    if cases.labels.is_empty() {
        return Err(RunError::Empty {
            what: "test",
            hint: format!(
                "no event of `{site}` from winter {from_winter} on{}{}",
                from.map(|d| format!(", from {d}")).unwrap_or_default(),
                to.map(|d| format!(", to {d}")).unwrap_or_default()
            ),
        });
    }
    Ok((cases, rasters))
}

/// The bundle's map of `site`, predicted over the whole grid exactly as the daily `predict` stage does (terrain
/// only: the network has no weather channel), written to `dest`; returns the whole grid and its width.
pub fn predict_map(
    plan: &Plan,
    store: &Store,
    site: &str,
    bundle_dir: &Path,
    dest: &Path,
) -> Result<(Vec<f32>, usize), RunError> {
    let s = plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    let meta = bundle::read_meta(bundle_dir)?;
    bundle::check_compatible(&meta, &channel_names(), s.grid.res_x())?;
    let inputs = crate::predict::Inputs { dem: store.dem(site), terrain: store.terrain(site), weather: None };
    let date = chrono::Utc::now().date_naive();
    crate::predict::predict(&inputs, bundle_dir, date, &Default::default(), dest, device())
        .map_err(|e| RunError::Reference(format!("map of {}: {e}", bundle_dir.display())))?;
    crate::geo::raster::read_band(dest).map_err(|e| RunError::Reference(e.to_string()))
}

/// ROC-AUC of the bundle on the labelled pixels of `site`'s training-style windows of the winters from
/// `from_winter` on: the training diagnostic, not what users see.
pub fn patch_level(
    plan: &Plan,
    store: &Store,
    site: &str,
    bundle_dir: &Path,
    from_winter: i32,
    sampling: &SamplingParams,
) -> Result<Option<f64>, RunError> {
    let (vs, unet, meta) = load_for_site(plan, site, bundle_dir)?;
    let sampling = SamplingParams { patch: meta.patch as usize, context: meta.context as usize, ..sampling.clone() };
    let later = |e: &Event| winter_of(e.date) >= from_winter;
    let (test, _) = samples_of(plan, store, &[site.to_owned()], &sampling, &later)?;
    if test.is_empty() {
        return Ok(None);
    }
    let (x, ..) = test.tensors(&meta.norm_mean, &meta.norm_std, vs.device())?;
    let probs = fit::predict(&unet, &x, 16)?;
    let (s, l, _) = test.labelled(&probs);
    Ok(metrics::roc_auc(&s, &l))
}

/// Scores the bundle's map on a site's held-back events with the baselines on the same cells; the map is written to
/// a scratch file under the store's root.
pub fn evaluate(
    plan: &Plan,
    store: &Store,
    site: &str,
    bundle_dir: &Path,
    window: EvalWindow,
    design: &MapDesign,
) -> Result<Evaluation, RunError> {
    let (cases, rasters) = map_cases(plan, store, site, window, design)?;
    let io = |e| RunError::Io { path: store.root().display().to_string(), source: e };
    fs_err::create_dir_all(store.root()).map_err(io)?;
    let scratch = tempfile::tempdir_in(store.root()).map_err(io)?;
    let (map, width) =
        predict_map(plan, store, site, bundle_dir, &crate::evaluate::map_path(scratch.path(), bundle_dir))?;
    let slope = &rasters.bands[CHANNELS.iter().position(|c| *c == "slope").expect("slope channel")];
    let mut rows = vec![crate::evaluate::score("map", &map, width, slope, &cases)];
    for (name, layer) in crate::evaluate::baselines(&rasters) {
        rows.push(crate::evaluate::score(name, layer, width, slope, &cases));
    }
    let probs = crate::evaluate::at(&map, width, &cases.cells);
    Ok(Evaluation {
        site: site.into(),
        from_winter: window.0,
        events: cases.events(),
        design: design.clone(),
        rows,
        patch_level_roc_auc: patch_level(plan, store, site, bundle_dir, window.0, &SamplingParams::default())?,
        reliability: metrics::reliability(&probs, &cases.labels, 10),
    })
}

/// [`evaluate`] on the avalanche records of `records` instead of the site's own: the file goes through the site's
/// first observation reader into a scratch store sharing the site's terrain; nothing of the site's store changes.
/// Returns the ingest summary (records kept and excluded, by reason) with the evaluation.
pub fn evaluate_records(
    plan: &Plan,
    store: &Store,
    site: &str,
    records: &Path,
    bundle_dir: &Path,
    window: EvalWindow,
    design: &MapDesign,
) -> Result<(String, Evaluation), RunError> {
    let mut plan = plan.clone();
    let s = plan.sites.iter_mut().find(|s| s.id == site).ok_or_else(|| RunError::Site(site.into()))?;
    *s = crate::ingest::observations::with_records(s, records).map_err(|e| RunError::Report(e.to_string()))?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| RunError::Io { path, source }
    };
    fs_err::create_dir_all(store.root()).map_err(io(store.root()))?;
    let scratch = tempfile::tempdir_in(store.root()).map_err(io(store.root()))?;
    let scratch_store = Store::new(scratch.path());
    let dir = scratch_store.site_dir(site);
    fs_err::create_dir_all(&dir).map_err(io(&dir))?;
    let terrain = std::path::absolute(store.site_dir(site).join("terrain")).map_err(io(&dir))?;
    std::os::unix::fs::symlink(&terrain, dir.join("terrain")).map_err(io(&terrain))?;
    let summary = crate::ingest::observations::ingest(plan.site(site).expect("found above"), &scratch_store)
        .map_err(|e| RunError::Report(format!("{}: {e}", records.display())))?;
    let evaluation = evaluate(&plan, &scratch_store, site, bundle_dir, window, design)?;
    Ok((summary.to_string(), evaluation))
}
