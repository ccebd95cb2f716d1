//! Day-level skill: the daily product's hazard model ([`crate::hazard`]) on the region-days of the source site
//! ([`crate::dataset::days`]), leave one winter out: each winter the records span is scored by the model fitted on
//! the others, as `avarisk verify` scores the published product. How well do the day's weather and calendar tell the
//! days with a recorded avalanche in a region from the other days? Reported beside a one-feature reference (72 h new
//! snow). This is the score the hazard's inputs were chosen on (see [`crate::hazard`]).
use serde::Serialize;

use crate::dataset::days::{Days, DAY_FEATURES};
use crate::hazard::{Climatology, HazardModel};
use avarisk_nn::metrics::{self, Scores};

#[derive(Debug, Clone, Serialize)]
pub struct DaySkill {
    /// The winters scored, each by the model fitted on the others (the first to the last with an accident day).
    pub winters: Vec<i32>,
    pub regions: usize,
    /// Region-days scored.
    pub days: usize,
    pub model: Scores,
    pub model_roc_auc_ci95: Option<(f64, f64)>,
    /// 72 h new snow alone as the score.
    pub new_snow_72h: Scores,
    pub new_snow_72h_roc_auc_ci95: Option<(f64, f64)>,
    /// Weights on standardised inputs, in [`crate::hazard::input_names`] order, of the model fitted on every winter.
    pub weights: Vec<(String, f64)>,
}

/// Scores every winter from the first to the last with an accident day by the model fitted on the others (the
/// climatology of every day, as onboarding computes it); bootstrap intervals resample days.
pub fn day_skill(days: &Days, seed: u64) -> Option<DaySkill> {
    let with_accident = (0..days.y.len()).filter(|&i| days.y[i]).map(|i| days.winter[i]);
    let (first, last) = (with_accident.clone().min()?, with_accident.max()?);
    let winters: Vec<i32> = (first..=last).collect();
    if winters.len() < 2 {
        return None;
    }
    let climatology = Climatology::of(days)?;
    let in_span: Vec<usize> = (0..days.y.len()).filter(|&i| (first..=last).contains(&days.winter[i])).collect();
    let (mut scored, mut probs) = (Vec::new(), Vec::new());
    for w in &winters {
        let (test, train): (Vec<usize>, Vec<usize>) = in_span.iter().partition(|&&i| days.winter[i] == *w);
        if test.is_empty() || !train.iter().any(|&i| days.y[i]) {
            continue;
        }
        let model = HazardModel::fit(days, &train, climatology.clone(), format!("winters other than {w}"));
        probs.extend(test.iter().map(|&i| model.hazard(&days.x[i], days.date[i]) as f32));
        scored.extend(test);
    }
    let y: Vec<bool> = scored.iter().map(|&i| days.y[i]).collect();
    let day0 = days.date[*scored.first()?];
    let groups: Vec<usize> = scored.iter().map(|&i| (days.date[i] - day0).num_days().unsigned_abs() as usize).collect();
    let snow_col =
        DAY_FEATURES.iter().position(|c| *c == crate::features::weather::Channel::NewSnow72h).expect("listed");
    let snow: Vec<f32> =
        scored.iter().map(|&i| if days.x[i][snow_col].is_finite() { days.x[i][snow_col] } else { 0.0 }).collect();
    let all = HazardModel::fit(days, &in_span, climatology, "every winter".into());
    Some(DaySkill {
        winters,
        regions: days.regions.len(),
        days: scored.len(),
        model: metrics::score(&probs, &y),
        model_roc_auc_ci95: metrics::bootstrap_ci(&groups, &probs, &y, metrics::roc_auc, 1000, seed),
        new_snow_72h: Scores { brier: None, ..metrics::score(&snow, &y) },
        new_snow_72h_roc_auc_ci95: metrics::bootstrap_ci(&groups, &snow, &y, metrics::roc_auc, 1000, seed),
        weights: all.features.iter().cloned().zip(all.weights.iter().copied()).collect(),
    })
}
