//! Fine-tuning a bundle on a site with few recorded events, and training on the target site alone (the baseline
//! fine-tuning must beat).
use std::path::{Path, PathBuf};

use tch::nn;

use super::fit::{FitReport, Mode};
use crate::config::Plan;
use crate::dataset::SamplingParams;
use crate::model::bundle::{self, BundleMeta};
use crate::model::device;
use crate::model::unet::UNet;
use crate::store::Store;

use super::{adapt::*, pretrain::*, spec::*, RunError};

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
