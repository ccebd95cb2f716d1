//! The day-level hazard: how likely a recorded avalanche is in a weather region on a day, from that day's weather at
//! the region's point. The susceptibility network says *where* releases start; this says *when*, and the published
//! probability combines both ([`cell_probability`]).
//!
//! ```text
//!  region-days (accident days against every other December-April day of the region, the source site's regional
//!  exports, every winter its records span: [`site`])
//!    ──► inputs: the day's weather (DAY_FEATURES: new snow 24 h / 72 h / 7 d / 14 d, air temperature mean and max,
//!        3-day warming, rain on snow) and its calendar (weekend, time of the season), standardised by each site's
//!        own December-April climatology
//!    ──► logistic regression ──► hazard.json
//! ```
//!
//! **Why 14 days of new snow.** The loading of the snowpack over the last two weeks: chosen on the source site's
//! leave-one-winter-out region-day ROC-AUC ([`crate::experiments::days`]: 0.780 without it, 0.790 with it; in a
//! replica of the inputs, 21- and 30-day sums and a sum decaying over 7 days scored within 0.002 of it), and 14 days
//! because the daily run ingests 14 days of history.
//!
//! **Why the calendar.** The records are *accidents*: a release is recorded when people are there. Exposure is part
//! of the risk a ski-area team or a road authority manages, and it is known in advance for the forecast day: weekends
//! (Saturday, Sunday) and the time of the season (a cosine peaking in mid-February) are inputs beside the weather.
//! Public holidays are not (no calendar of them ships with the sites).
//!
//! **Why a target re-fits its weekend weight.** How much busier weekends are depends on what a site's records
//! record: 39 % of the SLF accident days (people caught) of the Swiss source are Saturdays or Sundays, 29 % of the
//! LAWIS incident days of western Tyrol (reported by observers as well as those involved), where weekends are 29 % of
//! the days (`fitted_on` in each site's hazard.json). The weekend is independent of the weather, so a target reads
//! its weight off its own records, every winter they span, no weather needed ([`weekend_fit`]: the log ratio of
//! accident-day rates on weekends and weekdays); western Tyrol's records hold 209 accident days from winter 1992/93
//! on, its regional weather starts in 2018. The source keeps its jointly fitted weight.
//!
//! **Carrying over to a target site.** Features are standardised by the site's own climatology (mean and standard
//! deviation over its December-April days), so the model reads "unusually much new snow *here*", not an absolute
//! amount measured at a different point. The climatology comes from the site's regional exports
//! (`weather/cantons/*.csv`, Open-Meteo, the same source and points as its daily weather). The intercept can be
//! re-fitted on the target's own days ([`refit_intercept`]) when they hold at least [`MIN_REFIT_EVENT_DAYS`]
//! accident days; the weather weights stay the source's.
//!
//! **Calibration.** The regression is unweighted, so the hazard is a probability: that of at least one recorded
//! avalanche in the region on the day, at the source's regions' base rate (re-fitted intercept: the target's).
//! Accidents come in cycles, several on one day in one region: the map shares out the *expected number* of recorded
//! releases, the hazard times the mean count on the fitting data's accident region-days
//! ([`HazardModel::expected_releases`]; the target's own where its intercept is re-fitted), so that summed over all
//! cell-days of a winter it gives back the releases recorded, not the accident days.
//!
//! **Alerts.** A day is an alert day when the site's highest regional hazard reaches `alert_threshold`: the value
//! reached on [`ALERT_SHARE`] of the site's climatology days (December-April of its regional weather; no record is
//! used), so a site alerts on about that share of winter days, at the days its weather makes most dangerous.
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::dataset::days::{point_days, Days, PointDay, DAY_FEATURES};
use crate::features::weather::Channel;

pub mod site;

/// Calendar inputs after the weather features.
pub const CALENDAR: [&str; 2] = ["weekend", "season"];
/// Position of the weekend among the model's inputs.
pub const WEEKEND: usize = DAY_FEATURES.len();
/// Inputs of the model: the weather features, then the calendar.
pub const INPUTS: usize = DAY_FEATURES.len() + CALENDAR.len();

/// The model's inputs for a day: its weather features `x` ([`DAY_FEATURES`] order, NaN where missing), whether it is
/// a Saturday or Sunday, and the cosine of its distance in the year from 15 February. New snow enters as
/// ln(1 + cm).
pub fn inputs(x: &[f32], date: NaiveDate) -> [f32; INPUTS] {
    let mut out = [f32::NAN; INPUTS];
    out[..DAY_FEATURES.len()].copy_from_slice(&x[..DAY_FEATURES.len()]);
    // New snow is skewed (most days none, a few a metre): its logarithm makes 10 -> 30 cm count like 30 -> 90 cm.
    for (k, c) in DAY_FEATURES.iter().enumerate() {
        if matches!(c, Channel::NewSnow24h | Channel::NewSnow72h | Channel::NewSnow7d | Channel::NewSnow14d) {
            out[k] = out[k].max(0.0).ln_1p();
        }
    }
    let weekend = matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    out[WEEKEND] = weekend as u8 as f32;
    let phase = (date.ordinal() as f64 - 46.0) / 365.25 * std::f64::consts::TAU;
    out[DAY_FEATURES.len() + 1] = phase.cos() as f32;
    out
}

/// Names of the model's inputs, in order.
pub fn input_names() -> Vec<String> {
    DAY_FEATURES.iter().map(|c| c.name().to_owned()).chain(CALENDAR.iter().map(|c| c.to_string())).collect()
}
use crate::features::weather::{daily_features, WeatherFeatureParams};
use crate::ingest::weather::schema::DailyWeather;

/// Share of a site's climatology days at or above its alert threshold.
pub const ALERT_SHARE: f64 = 0.37;
/// Accident days a target needs before its intercept is re-fitted.
pub const MIN_REFIT_EVENT_DAYS: usize = 10;
/// Accident days a target needs before its weekend weight is re-fitted ([`weekend_fit`]): with 40, the
/// weight's standard error is about 0.15 on the standardised input.
pub const MIN_WEEKEND_EVENT_DAYS: usize = 40;
/// L2 penalty of the regression (on standardised features).
const RIDGE: f64 = 1.0;

#[derive(Debug, thiserror::Error)]
pub enum HazardError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("no region-day to fit the hazard on: {0}")]
    Empty(String),
    #[error("hazard: {0}")]
    Data(String),
}

/// A site's December-April climatology of the day features: what standardises them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Climatology {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// Region-days it was computed over, and their span.
    pub days: usize,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Climatology {
    /// Mean and standard deviation of each feature over `days` (finite values only).
    pub fn of(days: &Days) -> Option<Climatology> {
        if days.x.is_empty() {
            return None;
        }
        let k = INPUTS;
        let all: Vec<[f32; INPUTS]> = days.x.iter().zip(&days.date).map(|(x, d)| inputs(x, *d)).collect();
        let (mut mean, mut std) = (vec![0f64; k], vec![1f64; k]);
        for j in 0..k {
            let v: Vec<f64> = all.iter().map(|x| x[j] as f64).filter(|v| v.is_finite()).collect();
            if v.len() > 1 {
                mean[j] = v.iter().sum::<f64>() / v.len() as f64;
                std[j] = (v.iter().map(|x| (x - mean[j]).powi(2)).sum::<f64>() / v.len() as f64).sqrt().max(1e-6);
            }
        }
        let from = *days.date.iter().min()?;
        let to = *days.date.iter().max()?;
        Some(Climatology { mean, std, days: days.x.len(), from, to })
    }

    /// Standardised inputs ([`inputs`]), missing ones at 0 (the climatological mean).
    pub fn standardise(&self, x: &[f32]) -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(j, v)| if v.is_finite() { (*v as f64 - self.mean[j]) / self.std[j] } else { 0.0 })
            .collect()
    }
}

/// The fitted model, with the climatology of the site it is applied to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardModel {
    /// Input names, in order ([`input_names`]).
    pub features: Vec<String>,
    /// Weights on standardised features.
    pub weights: Vec<f64>,
    /// Intercept: the logit of the hazard on a climatologically average day.
    pub bias: f64,
    pub climatology: Climatology,
    /// Hazard from which a CAP alert goes out.
    pub alert_threshold: f64,
    /// Mean count of recorded releases on the region-days with at least one, over the days the model (or its
    /// re-fitted intercept) was fitted on.
    pub releases_per_accident_day: f64,
    /// What it was fitted on, for people.
    pub fitted_on: String,
    /// The winters (year of their October) whose records it was fitted on: `avarisk verify` scores these with a
    /// model fitted without them ([`site::for_winter`]).
    #[serde(default)]
    pub winters: Vec<i32>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl HazardModel {
    /// The hazard of day `date` with weather features `x` ([`DAY_FEATURES`] order, NaN where missing).
    pub fn hazard(&self, x: &[f32], date: NaiveDate) -> f64 {
        let z = self.climatology.standardise(&inputs(x, date));
        sigmoid(self.bias + self.weights.iter().zip(&z).map(|(w, v)| w * v).sum::<f64>())
    }

    /// The expected number of recorded releases in a region on a day of hazard `hazard`: what the map shares out
    /// over the region's cells ([`cell_probability`]).
    pub fn expected_releases(&self, hazard: f64) -> f64 {
        hazard * self.releases_per_accident_day
    }

    /// Fits the model on the region-days `idx` of `days`, standardised by `climatology` ([`fit`]); its alert threshold
    /// is set apart, from the site's climatology days.
    pub fn fit(days: &Days, idx: &[usize], climatology: Climatology, fitted_on: String) -> HazardModel {
        let (weights, bias) = fit(days, idx, &climatology);
        HazardModel {
            features: input_names(),
            weights,
            bias,
            climatology,
            alert_threshold: f64::NAN,
            releases_per_accident_day: releases_per_accident_day(days, idx).unwrap_or(1.0),
            fitted_on,
            winters: Vec::new(),
        }
    }

    /// The same model standardised by another site's climatology (transfer).
    pub fn for_site(&self, climatology: Climatology) -> HazardModel {
        HazardModel { climatology, ..self.clone() }
    }

    /// Writes the model to `path` (staged, then renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), HazardError> {
        let err = |e: String| HazardError::File { path: path.display().to_string(), message: e };
        let staged = crate::geo::raster::Staged::new(path).map_err(|e| err(e.to_string()))?;
        fs_err::write(staged.path(), serde_json::to_string_pretty(self).expect("serialisable") + "\n")
            .map_err(|e| err(e.to_string()))?;
        staged.commit().map_err(|e| err(e.to_string()))?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<HazardModel, HazardError> {
        let err = |e: String| HazardError::File { path: path.display().to_string(), message: e };
        let text = fs_err::read_to_string(path)
            .map_err(|e| err(format!("{e}; give the site its model (`avarisk run onboard`)")))?;
        let model: HazardModel = serde_json::from_str(&text)
            .map_err(|e| err(format!("not a hazard model of this avarisk: {e}; re-fit it (`avarisk run onboard`)")))?;
        if model.features != input_names() || model.weights.len() != INPUTS {
            return Err(err(format!(
                "fitted on the inputs {:?}, this avarisk reads {:?}: re-fit it (`avarisk run onboard`)",
                model.features,
                input_names()
            )));
        }
        Ok(model)
    }
}

/// Fits the logistic regression on the region-days `idx` of `days`, standardised by `climatology` (ridge-penalised
/// Newton iterations; deterministic). Returns (weights, bias).
pub fn fit(days: &Days, idx: &[usize], climatology: &Climatology) -> (Vec<f64>, f64) {
    let k = INPUTS;
    let rows: Vec<Vec<f64>> = idx
        .iter()
        .map(|&i| std::iter::once(1.0).chain(climatology.standardise(&inputs(&days.x[i], days.date[i]))).collect())
        .collect();
    let y: Vec<f64> = idx.iter().map(|&i| days.y[i] as u8 as f64).collect();
    let mut beta = vec![0f64; k + 1];
    let rate = y.iter().sum::<f64>() / y.len().max(1) as f64;
    beta[0] = (rate.clamp(1e-4, 1.0 - 1e-4) / (1.0 - rate.clamp(1e-4, 1.0 - 1e-4))).ln();
    for _ in 0..50 {
        let mut grad = vec![0f64; k + 1];
        let mut hess = vec![vec![0f64; k + 1]; k + 1];
        for (x, yi) in rows.iter().zip(&y) {
            let p = sigmoid(x.iter().zip(&beta).map(|(a, b)| a * b).sum());
            let w = (p * (1.0 - p)).max(1e-9);
            for a in 0..=k {
                grad[a] += (yi - p) * x[a];
                for b in 0..=k {
                    hess[a][b] += w * x[a] * x[b];
                }
            }
        }
        for a in 1..=k {
            grad[a] -= RIDGE * beta[a];
            hess[a][a] += RIDGE;
        }
        let step = solve(hess, grad);
        let size: f64 = step.iter().map(|s| s.abs()).sum();
        beta.iter_mut().zip(&step).for_each(|(b, s)| *b += s);
        if size < 1e-8 {
            break;
        }
    }
    (beta[1..].to_vec(), beta[0])
}

/// Solves `a x = b` (Gaussian elimination with partial pivoting; `a` is small and positive definite here).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|i, j| a[*i][c].abs().total_cmp(&a[*j][c].abs())).expect("non-empty");
        a.swap(c, p);
        b.swap(c, p);
        if a[c][c].abs() < 1e-12 {
            continue;
        }
        let (pivot_row, pivot_b) = (a[c].clone(), b[c]);
        for (row, br) in a.iter_mut().zip(b.iter_mut()).skip(c + 1) {
            let f = row[c] / pivot_row[c];
            row.iter_mut().zip(&pivot_row).skip(c).for_each(|(x, p)| *x -= f * p);
            *br -= f * pivot_b;
        }
    }
    let mut x = vec![0f64; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = if a[r][r].abs() < 1e-12 { 0.0 } else { (b[r] - s) / a[r][r] };
    }
    x
}

/// Mean recorded releases on the accident region-days of `idx`; `None` without one.
pub fn releases_per_accident_day(days: &Days, idx: &[usize]) -> Option<f64> {
    let accident: Vec<usize> = idx.iter().copied().filter(|&i| days.y[i]).collect();
    let releases: u32 = accident.iter().map(|&i| days.releases[i]).sum();
    (!accident.is_empty()).then(|| releases as f64 / accident.len() as f64)
}

/// Shifts the intercept so that the model's expected accident days over `idx` equal the observed ones (a
/// one-parameter re-fit of the base rate on the target's own days). `None` below [`MIN_REFIT_EVENT_DAYS`].
pub fn refit_intercept(model: &HazardModel, days: &Days, idx: &[usize]) -> Option<f64> {
    let observed = idx.iter().filter(|&&i| days.y[i]).count();
    if observed < MIN_REFIT_EVENT_DAYS {
        return None;
    }
    let z: Vec<f64> = idx
        .iter()
        .map(|&i| {
            model
                .weights
                .iter()
                .zip(model.climatology.standardise(&inputs(&days.x[i], days.date[i])))
                .map(|(w, v)| w * v)
                .sum()
        })
        .collect();
    // Expected count is increasing in the intercept: bisection.
    let (mut lo, mut hi) = (-20.0, 20.0);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        let expected: f64 = z.iter().map(|z| sigmoid(mid + z)).sum();
        if expected < observed as f64 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

/// A weekend weight read off a site's records ([`weekend_fit`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeekendFit {
    /// Weight on the standardised weekend input.
    pub weight: f64,
    /// Accident days it was read off, and the share of them on a Saturday or Sunday.
    pub accident_days: usize,
    pub weekend_share: f64,
}

/// The weekend weight of a site whose accident days are `accident_days`, over the December-April days of `winters`
/// (year of their October): the log of the ratio of the share of weekend days with an accident to that of weekdays,
/// times `weekend_std` (the standard deviation of the weekend input in the site's climatology: the weight is on the
/// standardised input). Accident days are rare, so the rate ratio stands for the odds ratio. `None` below
/// [`MIN_WEEKEND_EVENT_DAYS`] accident days in season, or when either kind of day has none.
pub fn weekend_fit(accident_days: &[NaiveDate], winters: &[i32], weekend_std: f64) -> Option<WeekendFit> {
    let is_weekend = |d: &NaiveDate| matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    let in_winters = |d: &NaiveDate| in_season(*d) && winters.contains(&crate::dataset::winter_of(*d));
    let mut accident: Vec<NaiveDate> = accident_days.iter().copied().filter(in_winters).collect();
    accident.sort_unstable();
    accident.dedup();
    let calendar: Vec<NaiveDate> = winters
        .iter()
        .filter_map(|w| NaiveDate::from_ymd_opt(*w, 12, 1).zip(NaiveDate::from_ymd_opt(w + 1, 4, 30)))
        .flat_map(|(from, to)| from.iter_days().take_while(move |d| *d <= to))
        .collect();
    let count = |days: &[NaiveDate], weekend: bool| days.iter().filter(|d| is_weekend(d) == weekend).count() as f64;
    let (acc_we, acc_wd) = (count(&accident, true), count(&accident, false));
    if accident.len() < MIN_WEEKEND_EVENT_DAYS || acc_we == 0.0 || acc_wd == 0.0 {
        return None;
    }
    let ratio = (acc_we / count(&calendar, true)) / (acc_wd / count(&calendar, false));
    Some(WeekendFit {
        weight: ratio.ln() * weekend_std,
        accident_days: accident.len(),
        weekend_share: acc_we / accident.len() as f64,
    })
}

/// Alert verification over region-days: share of days with an alert, hit rate (accident days with an alert),
/// false-alarm ratio (alerts without an accident) and the Heidke skill score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlertSkill {
    pub days: usize,
    pub accident_days: usize,
    pub alert_share: f64,
    pub hit_rate: f64,
    pub false_alarm_ratio: f64,
    pub heidke: f64,
}

impl AlertSkill {
    /// The skill of alerting where `alert[i]`, against `y[i]` (an accident that day).
    pub fn of(alert: &[bool], y: &[bool]) -> AlertSkill {
        let (mut a, mut b, mut c, mut d) = (0f64, 0f64, 0f64, 0f64);
        for (al, yi) in alert.iter().zip(y) {
            match (al, yi) {
                (true, true) => a += 1.0,
                (true, false) => b += 1.0,
                (false, true) => c += 1.0,
                (false, false) => d += 1.0,
            }
        }
        let n = a + b + c + d;
        let expected = ((a + b) * (a + c) + (c + d) * (b + d)) / n.max(1.0);
        let heidke = if n - expected > 0.0 { (a + d - expected) / (n - expected) } else { 0.0 };
        AlertSkill {
            days: n as usize,
            accident_days: (a + c) as usize,
            alert_share: (a + b) / n.max(1.0),
            hit_rate: a / (a + c).max(1.0),
            false_alarm_ratio: b / (a + b).max(1.0),
            heidke,
        }
    }
}

/// The site-level hazard of each day of `days` (the highest over the regions named in `points`, or over all
/// regions when none is named), with the days in order.
pub fn site_days_hazard(model: &HazardModel, days: &Days, points: &[String]) -> Vec<(NaiveDate, f64)> {
    let use_region = |r: usize| points.is_empty() || points.iter().any(|p| *p == days.regions[r]);
    let mut by_day: std::collections::BTreeMap<NaiveDate, f64> = Default::default();
    for i in 0..days.y.len() {
        if use_region(days.region[i]) {
            let h = model.hazard(&days.x[i], days.date[i]);
            let e = by_day.entry(days.date[i]).or_insert(f64::NEG_INFINITY);
            *e = e.max(h);
        }
    }
    by_day.into_iter().collect()
}

/// The hazard at or above which `share` of `hazard` lies.
pub fn threshold_for_share(hazard: &[f64], share: f64) -> Option<f64> {
    let mut v: Vec<f64> = hazard.iter().copied().filter(|h| h.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| b.total_cmp(a));
    let k = ((share * v.len() as f64).round() as usize).clamp(1, v.len());
    Some(v[k - 1])
}

/// The day features of every weather point of `rows` on `date`, with the points' positions.
pub fn point_features(
    site: &str,
    rows: &[DailyWeather],
    date: NaiveDate,
) -> Result<Vec<PointDay>, crate::features::weather::WeatherFeatureError> {
    Ok(point_days(&daily_features(site, rows, date, &WeatherFeatureParams::default())?))
}

/// Is `date` in the avalanche season the hazard is fitted and verified on (December to April)?
pub fn in_season(date: NaiveDate) -> bool {
    matches!(date.month(), 12 | 1..=4)
}

/// The published probability of a recorded release starting in a cell on a day: the region's expected recorded
/// releases ([`HazardModel::expected_releases`]) shared out over the region's cells in proportion to their
/// susceptibility (`susceptibility / region_total`). Summed over a region's cells it gives back the expected
/// releases; per cell, where two releases on one day are rare, it is the probability of one.
pub fn cell_probability(expected_releases: f64, susceptibility: f32, region_total: f64) -> f32 {
    if !susceptibility.is_finite() || region_total <= 0.0 {
        return f32::NAN;
    }
    (expected_releases * susceptibility as f64 / region_total) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: usize) -> Days {
        // Feature 1 (72 h new snow) drives the label; the others are noise.
        let mut d = Days { regions: vec!["r".into()], ..Default::default() };
        let day0 = NaiveDate::from_ymd_opt(2019, 1, 1).unwrap();
        for i in 0..n {
            let snow = ((i * 37) % 100) as f32;
            let mut x = [0f32; DAY_FEATURES.len()];
            x[1] = snow;
            x[3] = ((i * 13) % 7) as f32;
            d.x.push(x);
            d.y.push(snow > 80.0 && i % 3 != 0);
            // Accident days with odd snow hold two releases, the others one.
            d.releases.push(if *d.y.last().unwrap() { 1 + (snow as u32 % 2) } else { 0 });
            d.region.push(0);
            d.date.push(day0 + chrono::Duration::days(i as i64 % 120));
            d.winter.push(2018);
        }
        d
    }

    #[test]
    fn the_fit_finds_the_driving_feature_and_is_calibrated() {
        let d = days(600);
        let clim = Climatology::of(&d).unwrap();
        let idx: Vec<usize> = (0..d.y.len()).collect();
        let m = HazardModel::fit(&d, &idx, clim, "test".into());
        let w = &m.weights;
        assert!(w[1] > 1.0 && w[1] > 5.0 * w[3].abs(), "{w:?}");
        let expected: f64 = d.x.iter().zip(&d.date).map(|(x, t)| m.hazard(x, *t)).sum();
        let observed = d.y.iter().filter(|y| **y).count() as f64;
        assert!((expected - observed).abs() < 0.05 * observed, "expected {expected}, observed {observed}");
        // Summed expected releases give back the recorded releases, not the accident days.
        let releases: f64 = d.releases.iter().map(|r| *r as f64).sum();
        assert!(releases > observed * 1.2, "the fixture has days of two releases");
        let expected: f64 = d.x.iter().zip(&d.date).map(|(x, t)| m.expected_releases(m.hazard(x, *t))).sum();
        assert!((expected - releases).abs() < 0.05 * releases, "expected {expected} releases, recorded {releases}");
        let h: Vec<f64> = d.x.iter().zip(&d.date).map(|(x, t)| m.hazard(x, *t)).collect();
        let t = threshold_for_share(&h, ALERT_SHARE).unwrap();
        let skill = AlertSkill::of(&h.iter().map(|h| *h >= t).collect::<Vec<_>>(), &d.y);
        assert!((skill.alert_share - ALERT_SHARE).abs() < 0.01 && skill.heidke > 0.3, "{skill:?}");
    }

    #[test]
    fn the_intercept_refit_matches_the_observed_count() {
        let d = days(600);
        let clim = Climatology::of(&d).unwrap();
        let idx: Vec<usize> = (0..d.y.len()).collect();
        let (w, _) = fit(&d, &idx, &clim);
        let m = HazardModel {
            features: vec![],
            weights: w,
            bias: -9.0,
            climatology: clim,
            alert_threshold: 0.5,
            releases_per_accident_day: 1.0,
            fitted_on: String::new(),
            winters: vec![],
        };
        let b = refit_intercept(&m, &d, &idx).unwrap();
        let m = HazardModel { bias: b, ..m };
        let expected: f64 = d.x.iter().zip(&d.date).map(|(x, t)| m.hazard(x, *t)).sum();
        let observed = d.y.iter().filter(|y| **y).count() as f64;
        assert!((expected - observed).abs() < 0.5, "{expected} vs {observed}");
        assert!(refit_intercept(&m, &d, &idx[..5]).is_none());
    }

    #[test]
    fn the_weekend_weight_is_the_log_rate_ratio_on_the_standardised_input() {
        let winters = [2018, 2019];
        let season: Vec<NaiveDate> = winters
            .iter()
            .flat_map(|w| {
                let to = NaiveDate::from_ymd_opt(w + 1, 4, 30).unwrap();
                NaiveDate::from_ymd_opt(*w, 12, 1).unwrap().iter_days().take_while(move |d| *d <= to)
            })
            .collect();
        let weekend = |d: &&NaiveDate| matches!(d.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
        // Every third day: no weekend effect. Every weekend day and every fourth weekday: a rate ratio of 4.
        let flat: Vec<NaiveDate> = season.iter().step_by(3).copied().collect();
        assert!(weekend_fit(&flat, &winters, 0.45).unwrap().weight.abs() < 0.05);
        let busy: Vec<NaiveDate> =
            season.iter().filter(weekend).copied().chain(season.iter().step_by(4).copied()).collect();
        let w = weekend_fit(&busy, &winters, 0.45).unwrap().weight;
        assert!((w - 4f64.ln() * 0.45).abs() < 0.1, "{w}");
        // Days outside the season or the winters do not count; too few days give no weight.
        let summer: Vec<NaiveDate> = flat.iter().map(|d| *d + chrono::Duration::days(150)).collect();
        assert!(weekend_fit(&summer, &winters, 0.45).is_none());
        assert!(weekend_fit(&flat, &[2030], 0.45).is_none());
        assert!(weekend_fit(&flat[..MIN_WEEKEND_EVENT_DAYS - 1], &winters, 0.45).is_none());
    }

    #[test]
    fn heidke_is_one_for_perfect_alerts_and_zero_for_constant_ones() {
        let y = [true, false, false, true, false];
        assert!((AlertSkill::of(&y, &y).heidke - 1.0).abs() < 1e-12);
        assert!(AlertSkill::of(&[true; 5], &y).heidke.abs() < 1e-12);
        assert!(AlertSkill::of(&[false; 5], &y).heidke.abs() < 1e-12);
    }

    #[test]
    fn cell_probabilities_share_out_the_hazard() {
        let s = [0.2f32, 0.6, 0.2];
        let total: f64 = s.iter().map(|v| *v as f64).sum();
        let p: f64 = s.iter().map(|v| cell_probability(0.3, *v, total) as f64).sum();
        assert!((p - 0.3).abs() < 1e-6);
        assert!(cell_probability(0.3, f32::NAN, total).is_nan());
    }
}
