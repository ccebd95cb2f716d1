//! The `model` stage of onboarding and the calibration of danger levels: what turns a site with terrain and records
//! into a site that can be forecast.
//!
//! * A **source** site (`[model]` without `from`) is pretrained on its own records ([`super::pretrain`]).
//! * A **target** site (`[model] from = "<source>"`) starts from its source's bundle: fine-tuned on its own records
//!   (`mode = "freeze"`: encoder frozen, the default; `"full"`: everything, the encoder at a tenth of the rate), or,
//!   with `mode = "adapt"` or when it has no records, adapted without labels (AdaBN).
//!
//! The bundle lands in `<root>/bundles/<site>/` ([`Store::bundle`]); the daily `predict` stage reads it from there.
//!
//! The risk classes of the published maps are calibrated on the daily product over held-back winters, by
//! `avarisk verify` ([`crate::evaluate::season`]).
use super::fit::Mode;
use super::{FinetuneJob, RunError, Spec};
use crate::config::{ModelMode, Plan, Site, TrainStage};
use crate::model::unet::UNetConfig;
use crate::store::Store;

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

/// Fits and saves the site's hazard model ([`crate::hazard::site::fit_site`], [`Store::hazard`]): a source site's on
/// its region-days of every winter its records span; a target's is its source's (`[model] from`, onboarded first),
/// standardised by the target's climatology, with the intercept re-fitted on the target's own days when they suffice.
pub fn hazard_unit(plan: &Plan, site: &Site, store: &Store) -> Result<String, RunError> {
    let model = crate::hazard::site::fit_site(plan, site, store, None).map_err(|e| match e {
        crate::hazard::HazardError::Empty(hint) => RunError::Empty { what: "hazard", hint },
        e => RunError::Reference(e.to_string()),
    })?;
    model.save(&store.hazard(&site.id)).map_err(|e| RunError::Reference(e.to_string()))?;
    Ok(format!("hazard model ({}, alert from {:.3})", model.fitted_on, model.alert_threshold))
}

/// Gives `site` its susceptibility network at `store.bundle(site)`; the message says how.
pub fn model_unit(site: &Site, stage: &TrainStage, store: &Store) -> Result<String, RunError> {
    let Some(model) = &site.model else {
        return Ok("skipped: the site has no [model]".into());
    };
    let (plan, spec, out) = (plan_of(site), spec_for(site, stage), store.bundle(&site.id));
    let Some(from) = &model.from else {
        let r = super::pretrain(&plan, store, &spec, &out, false)?;
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
        ModelMode::Full => Some(Mode::Full { encoder_lr_factor: super::fit::ENCODER_LR_FACTOR }),
    };
    match mode {
        Some(mode) => {
            let job = FinetuneJob { site: site.id.clone(), from: source.clone(), events: None, mode };
            let r = super::finetune(&plan, store, &job, &spec, &out)?;
            Ok(format!(
                "fine-tuned from {} ({mode:?}; best epoch {}, validation ROC-AUC {}): {}",
                source.display(),
                r.best_epoch,
                r.best_val_roc_auc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "n/a".into()),
                out.display()
            ))
        }
        None => {
            let shift = super::adapt(&plan, store, &site.id, &source, &spec, &out, 2)?;
            Ok(format!("adapted from {} (AdaBN, domain shift {shift:.2}): {}", source.display(), out.display()))
        }
    }
}
