//! Day-level skill: the daily product's hazard model ([`crate::hazard`]) on the region-days of the source site
//! ([`crate::dataset::days`]), fitted on earlier winters and scored on held-back ones: how well do the day's weather and
//! calendar tell the days with a recorded avalanche in a region from the other days? Reported beside a one-feature
//! reference (72 h new snow).
use serde::Serialize;

use crate::dataset::days::{Days, DAY_FEATURES};
use crate::hazard::{Climatology, HazardModel};
use avarisk_nn::metrics::{self, Scores};

#[derive(Debug, Clone, Serialize)]
pub struct DaySkill {
    pub test_from_winter: i32,
    pub regions: usize,
    pub train_days: usize,
    pub test_days: usize,
    pub model: Scores,
    pub model_roc_auc_ci95: Option<(f64, f64)>,
    /// 72 h new snow alone as the score.
    pub new_snow_72h: Scores,
    pub new_snow_72h_roc_auc_ci95: Option<(f64, f64)>,
    /// Fitted weights on standardised inputs, in [`crate::hazard::input_names`] order.
    pub weights: Vec<(String, f64)>,
}

/// Fits on winters before `test_from` and scores on the others; bootstrap intervals resample days.
pub fn day_skill(days: &Days, test_from: i32, seed: u64) -> Option<DaySkill> {
    let (train, test): (Vec<usize>, Vec<usize>) = (0..days.y.len()).partition(|&i| days.winter[i] < test_from);
    if train.is_empty() || test.is_empty() || !train.iter().any(|&i| days.y[i]) {
        return None;
    }
    // The daily product's model, fitted as onboarding fits it (climatology of every day, labels of earlier winters).
    let model = HazardModel::fit(days, &train, Climatology::of(days)?, format!("winters before {test_from}"));
    let probs: Vec<f32> = test.iter().map(|&i| model.hazard(&days.x[i], days.date[i]) as f32).collect();
    let y_test: Vec<bool> = test.iter().map(|&i| days.y[i]).collect();
    let groups: Vec<usize> =
        test.iter().map(|&i| (days.date[i] - days.date[test[0]]).num_days().unsigned_abs() as usize).collect();
    let snow_col =
        DAY_FEATURES.iter().position(|c| *c == crate::features::weather::Channel::NewSnow72h).expect("listed");
    let snow: Vec<f32> =
        test.iter().map(|&i| if days.x[i][snow_col].is_finite() { days.x[i][snow_col] } else { 0.0 }).collect();
    Some(DaySkill {
        test_from_winter: test_from,
        regions: days.regions.len(),
        train_days: train.len(),
        test_days: test.len(),
        model: metrics::score(&probs, &y_test),
        model_roc_auc_ci95: metrics::bootstrap_ci(&groups, &probs, &y_test, metrics::roc_auc, 1000, seed),
        new_snow_72h: Scores { brier: None, ..metrics::score(&snow, &y_test) },
        new_snow_72h_roc_auc_ci95: metrics::bootstrap_ci(&groups, &snow, &y_test, metrics::roc_auc, 1000, seed),
        weights: model.features.iter().cloned().zip(model.weights.iter().copied()).collect(),
    })
}
