//! The `model` stage of onboarding and the calibration of danger levels: what turns a site with terrain and records
//! into a site that can be forecast.
//!
//! * A **source** site (`[model]` without `from`) is pretrained on its own records ([`super::run::pretrain`]).
//! * A **target** site (`[model] from = "<source>"`) starts from its source's bundle: fine-tuned on its own records
//!   (`mode = "freeze"`: encoder frozen, the default; `"full"`: everything, the encoder at a tenth of the rate), or,
//!   with `mode = "adapt"` or when it has no records, adapted without labels (AdaBN).
//!
//! The bundle lands in `<root>/bundles/<site>/` ([`Store::bundle`]); the daily `predict` stage reads it from there.
//!
//! **Danger levels** ([`calibrate`]): the probability (after the release gate of [`crate::predict`]) at which each
//! level begins is set from the site's validation
//! winters (those from `held_back_from` on, never trained on) by a recall rule over the validation start-zone cells
//! on release terrain: level 2 or more holds [`LEVEL_RECALL`]`[0]` = 95 % of them on their day, level 3 or more 80 %, level 4 or more 50 %,
//! level 5 20 %. A duty officer can read a level-3 zone as "where four in five recorded releases of past winters
//! fell". The rule is fixed; the thresholds follow the model, so every new bundle is recalibrated.
use std::path::Path;

use super::fit::Mode;
use super::run::{self, FinetuneJob, RunError, Spec};
use crate::config::{ModelMode, Plan, Site, TrainStage};
use crate::model::unet::UNetConfig;
use crate::store::Store;

/// Share of validation start zones at or above levels 2, 3, 4 and 5 (the calibration rule).
pub const LEVEL_RECALL: [f64; 4] = [0.95, 0.80, 0.50, 0.20];

fn spec_for(site: &Site, stage: &TrainStage) -> Spec {
    Spec {
        sites: vec![site.id.clone()],
        held_back_from: stage.held_back_from,
        sampling: stage.sampling.clone(),
        train: stage.train.clone(),
        unet: UNetConfig::default(),
    }
}

/// A plan holding `site` alone: the training functions look sites up by id.
fn plan_of(site: &Site) -> Plan {
    Plan { sites: vec![site.clone()], pipelines: Default::default() }
}

/// Gives `site` its bundle at `store.bundle(site)`; the message says how.
pub fn model_unit(site: &Site, stage: &TrainStage, store: &Store) -> Result<String, RunError> {
    let Some(model) = &site.model else {
        return Ok("skipped: the site has no [model]".into());
    };
    let (plan, spec, out) = (plan_of(site), spec_for(site, stage), store.bundle(&site.id));
    let Some(from) = &model.from else {
        let r = run::pretrain(&plan, store, &spec, &out, false)?;
        return Ok(format!(
            "pretrained on {} (best epoch {}, validation ROC-AUC {}): {}",
            site.id,
            r.best_epoch,
            r.best_val_roc_auc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "n/a".into()),
            out.display()
        ));
    };
    let source = store.bundle(from);
    if !source.exists() {
        return Err(RunError::Empty {
            what: "source bundle",
            hint: format!(
                "{} is missing: onboard the source site first (`avarisk run onboard --sites {from}`)",
                source.display()
            ),
        });
    }
    let mode = match model.mode {
        ModelMode::Adapt => None,
        _ if site.observations.is_empty() => None,
        ModelMode::Freeze => Some(Mode::FreezeEncoder),
        ModelMode::Full => Some(Mode::Full { encoder_lr_factor: 0.1 }),
    };
    match mode {
        Some(mode) => {
            let job = FinetuneJob { site: site.id.clone(), from: source.clone(), events: None, mode };
            let r = run::finetune(&plan, store, &job, &spec, &out)?;
            Ok(format!(
                "fine-tuned from {} ({mode:?}; best epoch {}, validation ROC-AUC {}): {}",
                source.display(),
                r.best_epoch,
                r.best_val_roc_auc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "n/a".into()),
                out.display()
            ))
        }
        None => {
            let shift = run::adapt(&plan, store, &site.id, &source, &spec, &out, 2)?;
            Ok(format!("adapted from {} (AdaBN, domain shift {shift:.2}): {}", source.display(), out.display()))
        }
    }
}

/// Danger-level thresholds calibrated on a site's validation winters.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub thresholds: [f32; 4],
    /// Validation start zones and matched non-release cells used.
    pub positives: usize,
    pub negatives: usize,
    /// Share of non-release cells at or above each level (how much area each level costs).
    pub negative_share: [f64; 4],
    pub rule: String,
}

impl Calibration {
    /// The `[danger]` table to paste into the site's site.toml.
    pub fn toml(&self) -> String {
        let t: Vec<String> = self.thresholds.iter().map(|v| format!("{v:.4}")).collect();
        format!("[danger]\nthresholds = [{}]\ncalibration = \"{}\"\n", t.join(", "), self.rule)
    }
}

/// Thresholds from the bundle at `bundle` on `site`'s winters from `from_winter` on (see the module doc).
pub fn calibrate(
    site: &Site,
    store: &Store,
    bundle: &Path,
    from_winter: i32,
    stage: &TrainStage,
) -> Result<Calibration, RunError> {
    let mut t = run::test_predictions(&plan_of(site), store, &site.id, bundle, from_winter, &stage.sampling)?;
    // The map multiplies the network's probability by the release gate: calibrate on the same values.
    t.probs.iter_mut().zip(&t.slope).for_each(|(p, s)| *p *= crate::predict::release_gate(*s));
    // Start zones are recorded to ~100 m, so some labelled cells lie on flat ground the gate closes: the quantiles
    // are taken over start-zone cells on release terrain (gate open at least partly).
    let mut pos: Vec<f32> = t
        .probs
        .iter()
        .zip(&t.labels)
        .zip(&t.slope)
        .filter(|((_, l), s)| **l && crate::predict::release_gate(**s) > 0.0)
        .map(|((p, _), _)| *p)
        .collect();
    let neg: Vec<f32> = t.probs.iter().zip(&t.labels).filter(|(_, l)| !**l).map(|(p, _)| *p).collect();
    if pos.len() < 10 {
        return Err(RunError::Empty {
            what: "calibration",
            hint: format!(
                "only {} start-zone cells of `{}` from winter {from_winter} on; 10 needed",
                pos.len(),
                site.id
            ),
        });
    }
    pos.sort_by(f32::total_cmp);
    let mut thresholds = [0f32; 4];
    for (k, recall) in LEVEL_RECALL.iter().enumerate() {
        // The probability with `recall` of the start zones at or above it.
        let i = (((1.0 - recall) * pos.len() as f64).floor() as usize).min(pos.len() - 1);
        thresholds[k] = pos[i].clamp(1e-4, 0.9999);
        if k > 0 && thresholds[k] <= thresholds[k - 1] {
            thresholds[k] = (thresholds[k - 1] + 1e-4).min(0.9999);
        }
    }
    let negative_share = thresholds.map(|th| neg.iter().filter(|p| **p >= th).count() as f64 / neg.len().max(1) as f64);
    let bundle_name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Calibration {
        thresholds,
        positives: pos.len(),
        negatives: neg.len(),
        negative_share,
        rule: format!(
            "avarisk calibrate: levels >= 2..5 hold 95/80/50/20 % of {} validation start-zone cells on release terrain (winters {}/{} on), bundle {}",
            pos.len(),
            from_winter,
            (from_winter + 1) % 100,
            bundle_name
        ),
    })
}
