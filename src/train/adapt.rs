//! Adapting a bundle to a site without its labels: the domain-shift score, AdaBN, and CORAL on the bottleneck
//! features followed by AdaBN.
use std::path::{Path, PathBuf};

use avarisk_nn::fit as nn_fit;
use serde::Serialize;
use tch::{nn, Tensor};

use super::fit;
use crate::config::Plan;
use crate::dataset::{winter_of, Samples, SamplingParams};
use crate::ingest::observations::Event;
use crate::model::align;
use crate::model::bundle::{self, BundleMeta, Versions};
use crate::model::unet::UNet;
use crate::store::Store;

use super::{pretrain::*, spec::*, RunError};

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

pub(super) fn report_domain_shift(source: &BundleMeta, target: &Samples, site: &str) -> f64 {
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
        versions: Versions::current(),
        ..parent
    };
    bundle::save(out, &vs, &meta)?;
    Ok(shift)
}

/// The source sites of a bundle: `metrics.sites` (pretraining) or `metrics.site` (fine-tuned or adapted bundles).
pub(super) fn bundle_sources(meta: &BundleMeta) -> Vec<String> {
    let m = &meta.metrics;
    match (m["sites"].as_array(), m["site"].as_str()) {
        (Some(a), _) => a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
        (None, Some(s)) => vec![s.to_owned()],
        _ => Vec::new(),
    }
}

/// CORAL loss between the per-pixel bottleneck features of `a` and `b` (eval mode, no gradients), at most 256
/// patches of each.
pub(super) fn coral_eval(unet: &UNet, a: &Tensor, b: &Tensor) -> Result<f64, RunError> {
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
pub(super) fn coral_stage(
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
    use rand::rngs::StdRng;
    use rand::Rng;
    use std::ops::ControlFlow;

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

    let n_target = target_x.size()[0] as usize;
    let schedule = nn_fit::Schedule {
        epochs: job.coral.epochs,
        batch: spec.train.batch,
        lr: job.coral.lr,
        weight_decay: spec.train.weight_decay,
        seed: spec.train.seed,
        mode: nn_fit::Mode::All,
    };
    // The epoch's summed cross-entropy and CORAL losses, and its batches (the step adds, the epoch's end reads).
    let sums = std::cell::Cell::new((0.0, 0.0, 0usize));
    let step = |chunk: &[i64], rng: &mut StdRng| -> Result<Tensor, RunError> {
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
        let (b, c, n) = sums.get();
        sums.set((b + bce.double_value(&[]), c + coral.double_value(&[]), n + 1));
        Ok(&bce + &coral * job.coral.lambda)
    };
    let mut epochs = Vec::new();
    let on_epoch = |e: &nn_fit::EpochEnd, _: &nn::VarStore| -> Result<ControlFlow<()>, RunError> {
        let (b, c, n) = sums.replace((0.0, 0.0, 0));
        let n = n.max(1) as f64;
        tracing::info!(epoch = e.epoch, bce = format!("{:.4}", b / n), coral = format!("{:.4}", c / n), "CORAL epoch");
        epochs.push((b / n, c / n));
        Ok(ControlFlow::Continue(()))
    };
    nn_fit::train(vs, source.len(), &schedule, step, on_epoch)?;
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
