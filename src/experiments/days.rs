//! Day-level skill: a logistic regression on the weather features of region-days ([`crate::dataset::days`]),
//! trained on earlier winters and scored on held-back ones: how well does the day's weather tell the days with a
//! recorded avalanche in a region from the other days? Reported beside a one-feature reference (72 h new snow).
use serde::Serialize;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use crate::dataset::days::{Days, DAY_FEATURES};
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
    /// Fitted weights on standardised features, in [`DAY_FEATURES`] order.
    pub weights: Vec<(String, f64)>,
}

/// Fits on winters before `test_from` and scores on the others; bootstrap intervals resample days.
pub fn day_skill(days: &Days, test_from: i32, seed: u64) -> Option<DaySkill> {
    let (train, test): (Vec<usize>, Vec<usize>) = (0..days.y.len()).partition(|&i| days.winter[i] < test_from);
    if train.is_empty() || test.is_empty() || !train.iter().any(|&i| days.y[i]) {
        return None;
    }
    let k = DAY_FEATURES.len();
    let (mut mean, mut std) = (vec![0f64; k], vec![1f64; k]);
    for j in 0..k {
        let v: Vec<f64> = train.iter().map(|&i| days.x[i][j] as f64).filter(|v| v.is_finite()).collect();
        if v.len() > 1 {
            mean[j] = v.iter().sum::<f64>() / v.len() as f64;
            std[j] = (v.iter().map(|x| (x - mean[j]).powi(2)).sum::<f64>() / v.len() as f64).sqrt().max(1e-6);
        }
    }
    let matrix = |idx: &[usize]| -> Tensor {
        let flat: Vec<f32> = idx
            .iter()
            .flat_map(|&i| (0..k).map(move |j| (i, j)))
            .map(|(i, j)| {
                let v = days.x[i][j] as f64;
                if v.is_finite() {
                    ((v - mean[j]) / std[j]) as f32
                } else {
                    0.0
                }
            })
            .collect();
        Tensor::from_slice(&flat).view([idx.len() as i64, k as i64])
    };
    let labels = |idx: &[usize]| {
        Tensor::from_slice(&idx.iter().map(|&i| days.y[i] as u8 as f32).collect::<Vec<_>>()).view([-1, 1])
    };

    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let linear = nn::linear(vs.root() / "day_model", k as i64, 1, Default::default());
    let mut opt = nn::Adam::default().build(&vs, 0.05).ok()?;
    let (x, y) = (matrix(&train), labels(&train));
    let pos = y.sum(Kind::Float).double_value(&[]);
    let pos_weight = Tensor::from(((train.len() as f64 - pos) / pos.max(1.0)) as f32);
    for _ in 0..400 {
        let loss = linear.forward(&x).binary_cross_entropy_with_logits::<&Tensor>(
            &y,
            None,
            Some(&pos_weight),
            Reduction::Mean,
        );
        opt.backward_step(&loss);
    }
    let probs: Vec<f32> =
        tch::no_grad(|| Vec::<f32>::try_from(linear.forward(&matrix(&test)).sigmoid().flatten(0, -1)).ok())?;
    let y_test: Vec<bool> = test.iter().map(|&i| days.y[i]).collect();
    let groups: Vec<usize> =
        test.iter().map(|&i| (days.date[i] - days.date[test[0]]).num_days().unsigned_abs() as usize).collect();
    let snow_col =
        DAY_FEATURES.iter().position(|c| *c == crate::features::weather::Channel::NewSnow72h).expect("listed");
    let snow: Vec<f32> =
        test.iter().map(|&i| if days.x[i][snow_col].is_finite() { days.x[i][snow_col] } else { 0.0 }).collect();
    let w: Vec<f32> = Vec::<f32>::try_from(linear.ws.flatten(0, -1)).ok()?;
    Some(DaySkill {
        test_from_winter: test_from,
        regions: days.regions.len(),
        train_days: train.len(),
        test_days: test.len(),
        model: metrics::score(&probs, &y_test),
        model_roc_auc_ci95: metrics::bootstrap_ci(&groups, &probs, &y_test, metrics::roc_auc, 1000, seed),
        new_snow_72h: Scores { brier: None, ..metrics::score(&snow, &y_test) },
        new_snow_72h_roc_auc_ci95: metrics::bootstrap_ci(&groups, &snow, &y_test, metrics::roc_auc, 1000, seed),
        weights: DAY_FEATURES.iter().zip(w).map(|(c, w)| (c.name().to_owned(), w as f64)).collect(),
    })
}
