//! Day-level skill: a logistic regression on the weather features of region-days ([`crate::dataset::days`]),
//! trained on earlier winters and scored on held-back ones: how well does the day's weather tell the days with a
//! recorded avalanche in a region from the other days? Reported beside a one-feature reference (72 h new snow).
use serde::Serialize;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use super::metrics::{self, Scores};
use crate::dataset::days::{Days, DAY_FEATURES};

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

/// Day-level skill of a patch network: for each region-day of the held-back winters, the network runs on fixed
/// patches of the region (start zones of its earlier events) with that day's regional weather, and the region-day's
/// score is the maximum, or the mean, of the predicted probabilities over their valid pixels.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkDaySkill {
    pub model: String,
    pub anchors_per_region: usize,
    pub test_days: usize,
    pub max: Scores,
    pub max_roc_auc_ci95: Option<(f64, f64)>,
    pub mean: Scores,
    pub mean_roc_auc_ci95: Option<(f64, f64)>,
}

/// What [`network_day_skill`] scores on: the region-days, the regional weather and each region's patch anchors
/// (both in the order of `days.regions`), and the site's rasters.
pub struct DayDesign<'a> {
    pub days: &'a Days,
    pub weather: &'a crate::dataset::days::RegionalWeather,
    pub anchors: &'a [Vec<(usize, usize)>],
    pub rasters: &'a crate::dataset::SiteRasters,
    pub test_from: i32,
}

/// Scores the bundle at `bundle_dir` (its input channels `drop` left out, as when it was trained) on the region-days
/// of `d` from winter `d.test_from` on. `None` when no region-day could be scored.
pub fn network_day_skill(
    model: &str,
    bundle_dir: &std::path::Path,
    drop: &[String],
    d: &DayDesign,
) -> Result<Option<NetworkDaySkill>, super::run::RunError> {
    use crate::dataset::sample::{push_patch, PatchKind, Samples, Tag};
    let (vs, unet, meta) = crate::model::bundle::load(bundle_dir, crate::model::device())?;
    let (p, w) = (meta.patch as usize, d.rasters.grid.width);
    let h = d.rasters.grid.height;
    let test: Vec<usize> = (0..d.days.y.len()).filter(|&i| d.days.winter[i] >= d.test_from).collect();
    let (mut max, mut mean, mut labels, mut groups) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for chunk in test.chunks(48) {
        let mut s = Samples { patch: p, ..Default::default() };
        let mut owners = Vec::new(); // (region-day, valid-pixel mask) of each patch
        for &i in chunk {
            let r = d.days.region[i];
            let Some(point) = d.weather.points.iter().position(|pt| pt.id == d.days.regions[r]) else { continue };
            for &(c, rr) in &d.anchors[r] {
                let z = d.rasters.bands[0][rr * w + c] as f64;
                let Some(wx) = d.weather.channels(point, d.days.date[i], z) else { continue };
                let (c0, r0) = (c.saturating_sub(p / 2).min(w - p), rr.saturating_sub(p / 2).min(h - p));
                let tag = Tag { event: 0, winter: d.days.winter[i], day: d.days.date[i], regional: true };
                push_patch(&mut s, d.rasters, c0, r0, &wx, &[], tag, PatchKind::Temporal);
                let valid: Vec<bool> = (0..p * p).map(|k| d.rasters.valid(c0 + k % p, r0 + k / p)).collect();
                owners.push((i, valid));
            }
        }
        if s.is_empty() {
            continue;
        }
        s.drop_channels(drop);
        let (x, ..) = s.tensors(&meta.norm_mean, &meta.norm_std, vs.device())?;
        let probs = super::fit::predict(&unet, &x, 256)?;
        let mut per_day: std::collections::BTreeMap<usize, (f32, f64, usize)> = Default::default();
        for (k, (i, valid)) in owners.iter().enumerate() {
            let acc = per_day.entry(*i).or_insert((0.0, 0.0, 0));
            for (j, v) in valid.iter().enumerate() {
                if *v {
                    let q = probs[k * p * p + j];
                    acc.0 = acc.0.max(q);
                    acc.1 += q as f64;
                    acc.2 += 1;
                }
            }
        }
        for (i, (mx, sum, n)) in per_day {
            if n > 0 {
                max.push(mx);
                mean.push((sum / n as f64) as f32);
                labels.push(d.days.y[i]);
                groups.push((d.days.date[i] - d.days.date[test[0]]).num_days().unsigned_abs() as usize);
            }
        }
    }
    if labels.is_empty() {
        return Ok(None);
    }
    Ok(Some(NetworkDaySkill {
        model: model.into(),
        anchors_per_region: d.anchors.iter().map(Vec::len).max().unwrap_or(0),
        test_days: labels.len(),
        max: Scores { brier: None, ..metrics::score(&max, &labels) },
        max_roc_auc_ci95: metrics::bootstrap_ci(&groups, &max, &labels, metrics::roc_auc, 1000, 7),
        mean: Scores { brier: None, ..metrics::score(&mean, &labels) },
        mean_roc_auc_ci95: metrics::bootstrap_ci(&groups, &mean, &labels, metrics::roc_auc, 1000, 7),
    }))
}
