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

/// The site's hazard model ([`crate::hazard`], [`Store::hazard`]): a source site's is fitted on its own region-days of
/// the winters before `held_back_from` (its regional exports and records); a target's is its source's, standardised
/// by the target's climatology, with the intercept re-fitted on the target's own days when they suffice.
pub fn hazard_unit(site: &Site, held_back_from: i32, store: &Store, from: Option<&str>) -> Result<String, RunError> {
    use crate::hazard::{self, Climatology, HazardModel};
    let days = crate::dataset::days::site_days(site, store)?;
    let climatology = days.as_ref().and_then(|(d, _)| Climatology::of(d));
    let before = |d: &crate::dataset::days::Days| -> Vec<usize> {
        (0..d.y.len()).filter(|&i| d.winter[i] < held_back_from).collect()
    };
    let model = match from {
        None => {
            let (Some((days, _)), Some(climatology)) = (&days, climatology) else {
                return Err(RunError::Empty {
                    what: "hazard",
                    hint: format!(
                        "{}: a source site needs regional daily weather ({}/*.csv) to fit its day-level hazard",
                        site.dir.display(),
                        crate::dataset::days::REGIONAL_DIR
                    ),
                });
            };
            let idx = before(days);
            if !idx.iter().any(|&i| days.y[i]) {
                return Err(RunError::Empty {
                    what: "hazard",
                    hint: format!(
                        "no accident day of `{}` before winter {held_back_from} in its regional weather",
                        site.id
                    ),
                });
            }
            let fitted_on = format!(
                "{}: {} region-days of winters before {held_back_from}/{} ({} with a recorded accident)",
                site.id,
                idx.len(),
                (held_back_from + 1) % 100,
                idx.iter().filter(|&&i| days.y[i]).count()
            );
            HazardModel::fit(days, &idx, climatology, fitted_on)
        }
        Some(source) => {
            let parent = HazardModel::load(&store.hazard(source)).map_err(|e| RunError::Reference(e.to_string()))?;
            let mut m = parent.for_site(climatology.unwrap_or_else(|| parent.climatology.clone()));
            let refit = days.as_ref().and_then(|(d, _)| hazard::refit_intercept(&m, d, &before(d)));
            m.fitted_on = format!(
                "{}, carried to {} ({}; intercept {})",
                parent.fitted_on,
                site.id,
                if days.is_some() {
                    "the site's own climatology"
                } else {
                    "no regional weather: the source's climatology"
                },
                if refit.is_some() {
                    "re-fitted on the site's days"
                } else {
                    "the source's: too few accident days to re-fit"
                }
            );
            if let Some(b) = refit {
                m.bias = b;
            }
            m
        }
    };
    // Alerts on the site's most hazardous ALERT_SHARE of climatology days (weather only, no record).
    let mut model = model;
    if let Some((d, _)) = &days {
        let points: Vec<String> = match &site.weather {
            Some(crate::config::WeatherSource::OpenMeteo { points, .. }) => {
                points.iter().map(|p| p.id.clone()).collect()
            }
            _ => Vec::new(),
        };
        let h: Vec<f64> = hazard::site_days_hazard(&model, d, &points).into_iter().map(|(_, h)| h).collect();
        if let Some(t) = hazard::threshold_for_share(&h, hazard::ALERT_SHARE) {
            model.alert_threshold = t;
        }
    }
    if !model.alert_threshold.is_finite() {
        return Err(RunError::Empty {
            what: "hazard",
            hint: format!("no regional weather for `{}` to set its alert threshold from", site.id),
        });
    }
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
