//! Training runs end to end: build samples from the store, split by winter, normalise with training statistics,
//! fit, and write a model bundle (checkpointed atomically after every epoch, with metrics as JSON lines).
use std::io::Write;
use std::path::{Path, PathBuf};

use avarisk_nn::fit as nn_fit;
use serde::Serialize;
use tch::{nn, Tensor};

use super::fit::{self, FitReport, Mode, TrainParams};
use super::metrics;
use crate::config::Plan;
use crate::dataset::{self, winter_of, Samples, SamplingParams, SiteRasters, CHANNELS};
use crate::evaluate::{Cases, MapDesign};
use crate::ingest::observations::Event;
use crate::model::align;
use crate::model::bundle::{self, BundleMeta, Versions};
use crate::model::device;
use crate::model::unet::{UNet, UNetConfig};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown site `{0}`")]
    Site(String),
    #[error("no source sites: give --sites or a `train` stage in pipelines/{0}.toml")]
    NoSites(String),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error(transparent)]
    Train(#[from] fit::TrainError),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("tensor: {0}")]
    Tensor(#[from] tch::TchError),
    #[error("report: {0}")]
    Report(String),
    #[error("reference model: {0}")]
    Reference(String),
    #[error(transparent)]
    Data(#[from] avarisk_nn::data::DataError),
    #[error("no {what} patch: {hint}")]
    Empty { what: &'static str, hint: String },
}

/// What to train on and how.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Sites whose events train the model (several: "train the big one" on all data-rich sites together).
    pub sites: Vec<String>,
    /// Winters from this one on are held back (validation when pretraining, test when fine-tuning).
    pub held_back_from: i32,
    pub sampling: SamplingParams,
    pub train: TrainParams,
    pub unet: UNetConfig,
}

/// Single values of a run that override a pipeline's `train` stage.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub sites: Vec<String>,
    pub held_back_from: Option<i32>,
    pub epochs: Option<usize>,
    pub seed: Option<u64>,
    pub lr: Option<f64>,
}

impl Spec {
    /// The `train` stage of `pipeline` (or the defaults when it has none) with `o`'s values in its place.
    pub fn from_plan(plan: &Plan, pipeline: &str, o: &Overrides) -> Result<Spec, RunError> {
        let base =
            plan.stage::<crate::config::TrainStage>(pipeline).cloned().unwrap_or_else(|| crate::config::TrainStage {
                sites: Vec::new(),
                held_back_from: crate::config::HELD_BACK_FROM,
                sampling: Default::default(),
                train: Default::default(),
            });
        let seed = o.seed.unwrap_or(base.train.seed);
        let sites = if o.sites.is_empty() { base.sites.clone() } else { o.sites.clone() };
        if sites.is_empty() {
            return Err(RunError::NoSites(pipeline.to_owned()));
        }
        Ok(Spec {
            sites,
            held_back_from: o.held_back_from.unwrap_or(base.held_back_from),
            sampling: SamplingParams { seed, ..base.sampling },
            train: TrainParams {
                epochs: o.epochs.unwrap_or(base.train.epochs),
                lr: o.lr.unwrap_or(base.train.lr),
                seed,
                ..base.train
            },
            unet: Default::default(),
        })
    }
}

/// Which recorded events a set of windows takes as positives (the others' start zones stay unlabelled).
pub type Positive<'a> = &'a dyn Fn(&Event) -> bool;

/// Windows of `sites` concatenated (events re-indexed per site so groups stay distinct), positives chosen by
/// `positive`.
pub fn samples_of(
    plan: &Plan,
    store: &Store,
    sites: &[String],
    sampling: &SamplingParams,
    positive: Positive,
) -> Result<(Samples, f64), RunError> {
    let mut all: Option<Samples> = None;
    let mut res = 0.0;
    for id in sites {
        let site = plan.site(id).ok_or_else(|| RunError::Site(id.clone()))?;
        res = site.grid.res_x();
        let s = dataset::build(site, store, sampling, positive)?;
        if let Some(acc) = &mut all {
            acc.append(s);
        } else {
            all = Some(s);
        }
    }
    Ok((all.unwrap_or_default(), res))
}

/// The windows of `spec.sites` split by winter: training before `spec.held_back_from` (every site), validation from
/// it on (the first site only: the others' later winters may be another experiment's test winters); and the sites'
/// resolution. What pretraining and the dataset export train on.
pub fn source_split(plan: &Plan, store: &Store, spec: &Spec) -> Result<(Samples, Samples, f64), RunError> {
    let held = spec.held_back_from;
    let (before, from) = (|e: &Event| winter_of(e.date) < held, |e: &Event| winter_of(e.date) >= held);
    let (train, res) = samples_of(plan, store, &spec.sites, &spec.sampling, &before)?;
    let (val, _) = samples_of(plan, store, &spec.sites[..1.min(spec.sites.len())], &spec.sampling, &from)?;
    if train.is_empty() {
        return Err(RunError::Empty {
            what: "training",
            hint: format!("no event before winter {}", spec.held_back_from),
        });
    }
    Ok((train, val, res))
}

/// Pretrains a new model on `spec.sites`, writing the bundle to `out` (checkpoint after every epoch). With `resume`,
/// an existing checkpoint at `out` is loaded and training continues for the epochs it had left.
pub fn pretrain(plan: &Plan, store: &Store, spec: &Spec, out: &Path, resume: bool) -> Result<FitReport, RunError> {
    let (train, val, res) = source_split(plan, store, spec)?;
    let (mean, std) = train.channel_stats();
    let (vs, unet, done) = if resume && out.join(bundle::META_FILE).exists() {
        let (vs, unet, m) = bundle::load(out, device())?;
        let done = m.metrics["epochs_done"].as_u64().unwrap_or(0) as usize;
        tracing::info!(bundle = %out.display(), epochs_done = done, "resuming from the last checkpoint");
        (vs, unet, done)
    } else {
        tch::manual_seed(spec.train.seed as i64); // the initial weights depend on the seed only
        let vs = nn::VarStore::new(device());
        let unet = UNet::new(&vs.root(), &unet_config(&spec.unet));
        (vs, unet, 0)
    };
    if done >= spec.train.epochs {
        return Err(RunError::Empty {
            what: "remaining",
            hint: format!("{} already holds {done} epoch(s)", out.display()),
        });
    }
    // A resumed run continues with the epochs left and a fresh shuffle order (seeded by the epochs done).
    let params =
        TrainParams { epochs: spec.train.epochs - done, seed: spec.train.seed + done as u64, ..spec.train.clone() };
    let meta = |report: Option<&FitReport>, epochs: usize| BundleMeta {
        metrics: serde_json::json!({ "sites": spec.sites, "held_back_from": spec.held_back_from, "train_patches": train.len(), "val_patches": val.len(), "epochs_done": done + epochs, "fit": report }),
        data_hash: data_hash(&train),
        ..new_meta(out, (&mean, &std), res, window(&spec.sampling), unet_config(&spec.unet))
    };
    fit_and_save(&unet, vs, &train, &val, (&mean, &std), &params, Mode::All, out, meta)
}

/// A fine-tuning job: which site, from which bundle, with how many events, how.
#[derive(Debug, Clone)]
pub struct FinetuneJob {
    pub site: String,
    pub from: PathBuf,
    /// At most this many of the site's training events (the earliest), for learning curves.
    pub events: Option<usize>,
    pub mode: Mode,
}

/// Fine-tunes `job.from` on `job.site`'s events before `spec.held_back_from`, writing the new bundle to `out` with
/// the source bundle as its parent.
pub fn finetune(plan: &Plan, store: &Store, job: &FinetuneJob, spec: &Spec, out: &Path) -> Result<FitReport, RunError> {
    let FinetuneJob { site, from, events, mode } = job;
    let (site, events, mode) = (site.as_str(), *events, *mode);
    let (vs, unet, parent) = load_for_site(plan, site, from)?;
    // The target's windows are drawn as the parent's were (its window and context).
    let sampling =
        SamplingParams { patch: parent.patch as usize, context: parent.context as usize, ..spec.sampling.clone() };
    let spec = &Spec { sampling, ..spec.clone() };
    let (pool, fit_part, val_part, res) = target_training(plan, store, site, events, spec)?;
    let shift = report_domain_shift(&parent, &pool, site);
    let (mean, std) = (parent.norm_mean.clone(), parent.norm_std.clone());
    let parent_name = bundle::lineage_id(from)?;
    let meta = |report: Option<&FitReport>, _epochs: usize| BundleMeta {
        metrics: serde_json::json!({ "site": site, "mode": format!("{mode:?}"), "events": events, "train_patches": fit_part.len(), "domain_shift": shift, "fit": report }),
        parent: Some(parent_name.clone()),
        data_hash: data_hash(&fit_part),
        ..new_meta(out, (&mean, &std), res, (parent.patch, parent.context), parent.unet.clone())
    };
    fit_and_save(&unet, vs, &fit_part, &val_part, (&mean, &std), &spec.train, mode, out, meta)
}

/// Trains from scratch on one site's events only (the "target-only" reference), same split as [`finetune`].
pub fn target_only(
    plan: &Plan,
    store: &Store,
    site: &str,
    events: Option<usize>,
    spec: &Spec,
    out: &Path,
) -> Result<FitReport, RunError> {
    let (_, fit_part, val_part, res) = target_training(plan, store, site, events, spec)?;
    let (mean, std) = fit_part.channel_stats();
    tch::manual_seed(spec.train.seed as i64);
    let vs = nn::VarStore::new(device());
    let cfg = unet_config(&spec.unet);
    let unet = UNet::new(&vs.root(), &cfg);
    let meta = |report: Option<&FitReport>, _epochs: usize| BundleMeta {
        metrics: serde_json::json!({ "site": site, "events": events, "train_patches": fit_part.len(), "fit": report }),
        data_hash: data_hash(&fit_part),
        ..new_meta(out, (&mean, &std), res, window(&spec.sampling), cfg.clone())
    };
    fit_and_save(&unet, vs, &fit_part, &val_part, (&mean, &std), &spec.train, Mode::All, out, meta)
}

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
    let Some(reader) = s.observations.first().cloned() else {
        return Err(RunError::Report(format!(
            "{}: no [[observations]] entry to read {} with; add one (format, CRS, columns)",
            s.file.display(),
            records.display()
        )));
    };
    s.observations = vec![crate::config::ObservationSource { path: records.to_owned(), ..reader }];
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

/// A site's windows of its events before `spec.held_back_from` (the pool), and those of `events` of them drawn at
/// random (seeded; all when `None`) split into fitting and validation parts (the latest fifth of the drawn events
/// validates; the held-back test winters are never touched), and the site's resolution.
fn target_training(
    plan: &Plan,
    store: &Store,
    site: &str,
    events: Option<usize>,
    spec: &Spec,
) -> Result<(Samples, Samples, Samples, f64), RunError> {
    let all = site_events(plan, store, site)?;
    let pool: Vec<usize> = (0..all.len()).filter(|&i| winter_of(all[i].date) < spec.held_back_from).collect();
    let drawn: Vec<usize> = match events {
        Some(n) => draw_events(&all, &pool, n, spec.train.seed).into_iter().collect(),
        None => pool.clone(),
    };
    if drawn.is_empty() {
        return Err(RunError::Empty {
            what: "training",
            hint: format!("no event of `{site}` before winter {}", spec.held_back_from),
        });
    }
    let mut by_date = drawn.clone();
    by_date.sort_by_key(|&i| (all[i].date, i));
    let n_val = ((by_date.len() as f64) * 0.2).round() as usize;
    let ids = |idx: &[usize]| -> std::collections::HashSet<String> { idx.iter().map(|&i| all[i].id.clone()).collect() };
    let (fit_ids, val_ids, pool_ids) =
        (ids(&by_date[..by_date.len() - n_val]), ids(&by_date[by_date.len() - n_val..]), ids(&pool));
    let site = [site.to_owned()];
    let (fit_part, res) = samples_of(plan, store, &site, &spec.sampling, &|e: &Event| fit_ids.contains(&e.id))?;
    let (val_part, _) = samples_of(plan, store, &site, &spec.sampling, &|e: &Event| val_ids.contains(&e.id))?;
    let (pool_part, _) = samples_of(plan, store, &site, &spec.sampling, &|e: &Event| pool_ids.contains(&e.id))?;
    Ok((pool_part, fit_part, val_part, res))
}

/// The recorded events of `site` (from the store).
pub fn site_events(plan: &Plan, store: &Store, site: &str) -> Result<Vec<Event>, RunError> {
    plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    Ok(crate::ingest::observations::load_events(&store.events(site)).map_err(dataset::DatasetError::from)?)
}

/// Standardised mean difference above which the target is reported as far from the source.
pub const DOMAIN_SHIFT_WARNING: f64 = 0.5;

/// Domain-shift score between a bundle's training data and `target`'s: the mean over input channels of
/// |target mean - source mean| / source standard deviation (a standardised mean difference; 0 = same centre,
/// 1 = a full standard deviation apart). Channels the target lacks entirely are left out.
pub fn domain_shift(source: &BundleMeta, target: &Samples) -> f64 {
    let (mean, _) = target.channel_stats();
    let diffs: Vec<f64> = (0..mean.len())
        .filter(|&c| !target.is_empty() && source.norm_std.get(c).is_some_and(|s| *s > 0.0))
        .map(|c| ((mean[c] - source.norm_mean[c]) / source.norm_std[c]).abs() as f64)
        .collect();
    diffs.iter().sum::<f64>() / diffs.len().max(1) as f64
}

fn report_domain_shift(source: &BundleMeta, target: &Samples, site: &str) -> f64 {
    let shift = domain_shift(source, target);
    if shift > DOMAIN_SHIFT_WARNING {
        tracing::warn!(site, shift = format!("{shift:.2}"), "the target's features are far from the source's (standardised mean difference above {DOMAIN_SHIFT_WARNING}): expect a weaker transfer");
    } else {
        tracing::info!(site, shift = format!("{shift:.2}"), "domain shift between source and target features");
    }
    shift
}

/// How `avarisk adapt` moves a bundle towards a target site without target labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdaptMethod {
    /// Re-estimate batch-norm statistics on the target's patches (AdaBN, Li et al. 2016); no weight changes. Needs
    /// only the target's data: the default.
    #[default]
    AdaBn,
    /// Train on the bundle's labelled source patches with the masked loss plus `lambda` x the CORAL loss between
    /// source and target bottleneck features (deep CORAL, Sun & Saenko 2016), at a low learning rate, then AdaBN.
    /// Needs the source site(s) onboarded in the same output root; changes weights.
    Coral,
}

impl AdaptMethod {
    /// The name used on the command line and in bundle metadata.
    pub fn name(self) -> &'static str {
        match self {
            AdaptMethod::AdaBn => "adabn",
            AdaptMethod::Coral => "coral",
        }
    }
}

/// Parameters of the CORAL stage of [`AdaptMethod::Coral`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoralParams {
    /// Passes over the labelled source patches.
    pub epochs: usize,
    /// Learning rate (AdamW), low so the source task is kept while features align.
    pub lr: f64,
    /// Weight of the CORAL loss beside the masked cross-entropy.
    pub lambda: f64,
}

impl Default for CoralParams {
    fn default() -> Self {
        CoralParams { epochs: 3, lr: 2e-4, lambda: 1.0 }
    }
}

/// An adaptation job: which bundle, to which site, how.
#[derive(Debug, Clone)]
pub struct AdaptJob {
    pub site: String,
    pub from: PathBuf,
    pub method: AdaptMethod,
    /// AdaBN passes over the target's patches.
    pub passes: usize,
    /// Labelled source sites for CORAL; empty: the bundle's `metrics.sites` (pretrained bundles) or `metrics.site`.
    pub source: Vec<String>,
    pub coral: CoralParams,
}

/// What the CORAL stage measured: the CORAL loss between source and target bottleneck features (eval mode, the same
/// patches) before and after, and each epoch's mean cross-entropy and CORAL loss.
#[derive(Debug, Clone, Serialize)]
pub struct CoralReport {
    pub source_sites: Vec<String>,
    pub source_patches: usize,
    pub params: CoralParams,
    pub coral_before: f64,
    pub coral_after: f64,
    pub epochs: Vec<(f64, f64)>,
}

/// Unsupervised adaptation with AdaBN only (see [`adapt_with`]); returns the domain-shift score measured before.
pub fn adapt(
    plan: &Plan,
    store: &Store,
    site: &str,
    from: &Path,
    spec: &Spec,
    out: &Path,
    passes: usize,
) -> Result<f64, RunError> {
    let job = AdaptJob {
        site: site.into(),
        from: from.into(),
        method: AdaptMethod::AdaBn,
        passes,
        source: Vec::new(),
        coral: CoralParams::default(),
    };
    adapt_with(plan, store, &job, spec, out)
}

/// Unsupervised adaptation of the bundle `job.from` to `job.site`, written to `out` with the source bundle as its
/// parent. The target's patches before `spec.held_back_from` are used without their labels.
///
/// * [`AdaptMethod::Coral`] first trains every variable for `job.coral.epochs` passes over the labelled source patches
///   (the bundle's training winters) with the masked, class-weighted cross-entropy plus `lambda` x CORAL between the
///   per-pixel bottleneck features of a source batch and a random target batch of the same size.
/// * Then (both methods) AdaBN: the network runs in training mode, without gradients, over the target's patches for
///   `job.passes` passes, so every batch-norm layer's running mean and variance move to the target's.
///
/// Returns the domain-shift score measured before (logged as a warning above [`DOMAIN_SHIFT_WARNING`]).
pub fn adapt_with(plan: &Plan, store: &Store, job: &AdaptJob, spec: &Spec, out: &Path) -> Result<f64, RunError> {
    let site = job.site.as_str();
    let (vs, unet, parent) = load_for_site(plan, site, &job.from)?;
    let sampling =
        SamplingParams { patch: parent.patch as usize, context: parent.context as usize, ..spec.sampling.clone() };
    let held = spec.held_back_from;
    let (target, _) = samples_of(plan, store, &[site.to_owned()], &sampling, &|e: &Event| winter_of(e.date) < held)?;
    if target.is_empty() {
        return Err(RunError::Empty {
            what: "adaptation",
            hint: format!("no patch of `{site}` before winter {}", spec.held_back_from),
        });
    }
    let shift = report_domain_shift(&parent, &target, site);
    let (x, ..) = target.tensors(&parent.norm_mean, &parent.norm_std, vs.device())?;
    let coral = match job.method {
        AdaptMethod::AdaBn => None,
        AdaptMethod::Coral => Some(coral_stage(plan, store, job, spec, &sampling, &parent, &unet, &vs, &x)?),
    };
    let n = x.size()[0];
    tch::manual_seed(spec.train.seed as i64);
    tch::no_grad(|| -> Result<(), RunError> {
        for _ in 0..job.passes {
            let mut start = 0;
            while start < n {
                let len = (spec.train.batch as i64).min(n - start);
                // Only the side effect matters: batch norm updates its running statistics in training mode.
                let _logits = unet.f_forward_t(&x.f_narrow(0, start, len)?, true)?;
                start += len;
            }
        }
        Ok(())
    })?;
    let adapted = if coral.is_some() { "AdaBN+CORAL" } else { "AdaBN" };
    let meta = BundleMeta {
        name: out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        created: chrono::Utc::now().to_rfc3339(),
        parent: Some(bundle::lineage_id(&job.from)?),
        metrics: serde_json::json!({ "site": site, "method": job.method.name(), "adapted": adapted, "passes": job.passes, "patches": target.len(), "domain_shift": shift, "coral": coral }),
        data_hash: data_hash(&target),
        versions: versions(),
        ..parent
    };
    bundle::save(out, &vs, &meta)?;
    Ok(shift)
}

/// The source sites of a bundle: `metrics.sites` (pretraining) or `metrics.site` (fine-tuned or adapted bundles).
fn bundle_sources(meta: &BundleMeta) -> Vec<String> {
    let m = &meta.metrics;
    match (m["sites"].as_array(), m["site"].as_str()) {
        (Some(a), _) => a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
        (None, Some(s)) => vec![s.to_owned()],
        _ => Vec::new(),
    }
}

/// CORAL loss between the per-pixel bottleneck features of `a` and `b` (eval mode, no gradients), at most 256
/// patches of each.
fn coral_eval(unet: &UNet, a: &Tensor, b: &Tensor) -> Result<f64, RunError> {
    let _guard = tch::no_grad_guard();
    let features = |x: &Tensor| -> Result<Tensor, RunError> {
        let x = x.f_narrow(0, 0, x.size()[0].min(256))?;
        Ok(align::pixel_features(&unet.encoder.forward_t(&x, false).bottleneck)?)
    };
    Ok(align::coral_loss(&features(a)?, &features(b)?)?.double_value(&[]))
}

/// The CORAL stage of [`adapt_with`]: trains `unet` on the labelled source patches with the masked cross-entropy plus
/// `lambda` x CORAL(source, target) on bottleneck features.
#[allow(clippy::too_many_arguments)] // the adaptation's inputs, each used once
fn coral_stage(
    plan: &Plan,
    store: &Store,
    job: &AdaptJob,
    spec: &Spec,
    sampling: &SamplingParams,
    parent: &BundleMeta,
    unet: &UNet,
    vs: &nn::VarStore,
    target_x: &Tensor,
) -> Result<CoralReport, RunError> {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use tch::nn::OptimizerConfig;

    let sources = if job.source.is_empty() { bundle_sources(parent) } else { job.source.clone() };
    if sources.is_empty() {
        return Err(RunError::Empty {
            what: "source",
            hint: format!(
                "bundle {} names no source site (metrics.sites or metrics.site): pass --source",
                job.from.display()
            ),
        });
    }
    let held_back = parent.metrics["held_back_from"].as_i64().map_or(spec.held_back_from, |w| w as i32);
    let (source, _) = samples_of(plan, store, &sources, sampling, &|e: &Event| winter_of(e.date) < held_back)?;
    let device = vs.device();
    let (sx, sy, sm) = source.tensors(&parent.norm_mean, &parent.norm_std, device)?;
    let pos_weight = nn_fit::pos_weight(&sy, &sm)?.ok_or(fit::TrainError::NoLabels("source"))?;
    let pos_weight = Tensor::from(pos_weight as f32).to_device(device);
    let coral_before = coral_eval(unet, &sx, target_x)?;
    tracing::info!(sources = ?sources, patches = source.len(), coral = format!("{coral_before:.4}"), "CORAL alignment on the source's labelled patches");

    tch::manual_seed(spec.train.seed as i64);
    let mut opt = nn::AdamW::default().wd(spec.train.weight_decay).build(vs, job.coral.lr)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(spec.train.seed);
    let n_target = target_x.size()[0] as usize;
    let mut order: Vec<i64> = (0..source.len() as i64).collect();
    let mut epochs = Vec::new();
    for epoch in 1..=job.coral.epochs {
        order.shuffle(&mut rng);
        let (mut bce_sum, mut coral_sum, mut batches) = (0.0, 0.0, 0);
        for chunk in order.chunks(spec.train.batch) {
            let idx = Tensor::from_slice(chunk).to_device(device);
            let t_idx: Vec<i64> = (0..chunk.len()).map(|_| rng.gen_range(0..n_target) as i64).collect();
            let t_idx = Tensor::from_slice(&t_idx).to_device(device);
            let (bx, by, bm) = (sx.f_index_select(0, &idx)?, sy.f_index_select(0, &idx)?, sm.f_index_select(0, &idx)?);
            let fs = unet.encoder.forward_t(&bx, true);
            let ft = unet.encoder.forward_t(&target_x.f_index_select(0, &t_idx)?, true);
            let logits = unet.decoder.f_forward_t(&fs, true)?;
            let bce = nn_fit::masked_bce(&logits, &by, &bm, &pos_weight)?;
            let coral =
                align::coral_loss(&align::pixel_features(&fs.bottleneck)?, &align::pixel_features(&ft.bottleneck)?)?;
            opt.backward_step(&(&bce + &coral * job.coral.lambda));
            bce_sum += bce.double_value(&[]);
            coral_sum += coral.double_value(&[]);
            batches += 1;
        }
        let b = batches.max(1) as f64;
        tracing::info!(
            epoch,
            bce = format!("{:.4}", bce_sum / b),
            coral = format!("{:.4}", coral_sum / b),
            "CORAL epoch"
        );
        epochs.push((bce_sum / b, coral_sum / b));
    }
    let coral_after = coral_eval(unet, &sx, target_x)?;
    Ok(CoralReport {
        source_sites: sources,
        source_patches: source.len(),
        params: job.coral.clone(),
        coral_before,
        coral_after,
        epochs,
    })
}

/// The fields every new bundle of a run shares; callers add metrics, lineage and the data hash.
fn new_meta(
    out: &Path,
    (mean, std): (&[f32], &[f32]),
    resolution_m: f64,
    (patch, context): (i64, i64),
    unet: UNetConfig,
) -> BundleMeta {
    BundleMeta {
        name: out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        created: chrono::Utc::now().to_rfc3339(),
        features: channel_names(),
        norm_mean: mean.to_vec(),
        norm_std: std.to_vec(),
        resolution_m,
        patch,
        context,
        unet,
        metrics: serde_json::Value::Null,
        parent: None,
        data_hash: String::new(),
        versions: versions(),
    }
}

/// Loads the bundle at `dir` for use on `site`, refusing it when the site's features or resolution differ.
fn load_for_site(plan: &Plan, site: &str, dir: &Path) -> Result<(nn::VarStore, UNet, BundleMeta), RunError> {
    let (vs, unet, meta) = bundle::load(dir, device())?;
    let s = plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    bundle::check_compatible(&meta, &channel_names(), s.grid.res_x())?;
    Ok((vs, unet, meta))
}

/// A run's window side and context margin, as bundles record them.
fn window(s: &SamplingParams) -> (i64, i64) {
    (s.patch as i64, s.context as i64)
}

fn channel_names() -> Vec<String> {
    CHANNELS.iter().map(|c| c.to_string()).collect()
}

fn unet_config(c: &UNetConfig) -> UNetConfig {
    UNetConfig { in_channels: CHANNELS.len() as i64, ..c.clone() }
}

/// `n` distinct events drawn at random (seeded) among `pool` (indices into `events`): the N-event subsets of
/// learning curves.
pub fn draw_events(events: &[Event], pool: &[usize], n: usize, seed: u64) -> std::collections::BTreeSet<usize> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = pool.iter().copied().filter(|&i| i < events.len()).collect();
    order.sort_unstable();
    order.dedup();
    order.shuffle(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed));
    order.into_iter().take(n).collect()
}

pub(crate) fn data_hash(s: &Samples) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for v in [&s.x, &s.y, &s.mask] {
        for f in v.iter() {
            h.update(f.to_le_bytes());
        }
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn versions() -> Versions {
    Versions { avarisk: env!("CARGO_PKG_VERSION").into(), tch: "0.24.0".into(), libtorch: "2.11.0".into() }
}

#[allow(clippy::too_many_arguments)] // a training run's inputs and its bundle description
fn fit_and_save(
    unet: &UNet,
    mut vs: nn::VarStore,
    train: &Samples,
    val: &Samples,
    norm: (&[f32], &[f32]),
    params: &TrainParams,
    mode: Mode,
    out: &Path,
    meta: impl Fn(Option<&FitReport>, usize) -> BundleMeta,
) -> Result<FitReport, RunError> {
    // Metrics as JSON lines next to the bundle (appended: a resumed run continues the log).
    let log_path: PathBuf = out.with_extension("metrics.jsonl");
    let io = |e| RunError::Io { path: log_path.display().to_string(), source: e };
    if let Some(dir) = log_path.parent() {
        fs_err::create_dir_all(dir).map_err(io)?;
    }
    let mut log = fs_err::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io)?;
    let report = fit::fit(unet, &mut vs, train, val, norm, params, mode, |m, vs| {
        tracing::info!(epoch = m.epoch, loss = format!("{:.4}", m.train_loss), val_roc_auc = ?m.val_roc_auc, samples_per_s = format!("{:.0}", m.samples_per_s), "epoch");
        writeln!(log, "{}", serde_json::to_string(m).unwrap_or_default()).map_err(|e| e.to_string())?;
        bundle::save(out, vs, &meta(None, m.epoch)).map_err(|e| e.to_string())
    })?;
    bundle::save(out, &vs, &meta(Some(&report), report.history.len()))?;
    Ok(report)
}
