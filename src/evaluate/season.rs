//! Verifying the daily product over whole winters it never saw: the published probability of every cell on every
//! December-April day (susceptibility x the day's regional hazard, [`crate::predict::day`]), and the alerts.
//!
//! * **Same-cell test** (does the map change when the day does?): at each event's cell, the value on the event's
//!   day against the same cell on the other December-April days of that winter without a recorded event within
//!   `quiet_radius_m` (10 km). The score is the share of such (event day, other day) pairs the event day wins
//!   (ties half): a ROC-AUC stratified by cell. A map that does not change with the day scores 0.5. The skeptic's
//!   rule on the same pairs: the 72 h new snow at the cell's weather point.
//! * **Alerts**: a day is an alert day when its highest regional hazard reaches the model's threshold; verified
//!   against the days with a recorded accident in the site (hit rate, false-alarm ratio, Heidke skill score), beside
//!   the rule of thumb "72 h new snow >= 30 cm at a weather point". Climatology (alerting on a random share of days)
//!   has a Heidke skill score of 0 by construction.
//! * **Reliability** over all valid cells of all days: predicted probability against the observed share of cells
//!   where a recorded avalanche started that day, in logarithmic bins.
//! * **Class thresholds** ([`CLASS_AREA_SHARES`]): the probabilities above which the top 5, 1, 0.2 and 0.05 % of all
//!   cell-days of the winters lie begin classes 2 to 5: quiet days fall in class 1 almost everywhere.
//!
//! Cell-day counts are taken per region from the sorted susceptibilities (binary search and prefix sums), so the
//! whole season of a 6 Mpx site costs seconds, not a map per day.
use chrono::NaiveDate;
use serde::Serialize;

use crate::hazard::{cell_probability, AlertSkill};
use crate::ingest::observations::Event;
use crate::predict::day::SiteMaps;
use avarisk_nn::metrics;

/// Shares of all cell-days of the verified winters at or above classes 2, 3, 4 and 5.
pub const CLASS_AREA_SHARES: [f64; 4] = [0.05, 0.01, 0.002, 0.0005];
/// Days with a recorded event within this distance (m) of a cell are not its quiet days.
pub const QUIET_RADIUS_M: f64 = 10_000.0;
/// The rule of thumb: alert when the 72 h new snow at a weather point reaches this (cm).
pub const SNOW_RULE_CM: f32 = 30.0;

/// The season to verify: per day (December-April of the winters), each weather point's hazard and 72 h new snow.
pub struct Season {
    pub maps: SiteMaps,
    pub days: Vec<NaiveDate>,
    /// `[day][point]`.
    pub hazard: Vec<Vec<f64>>,
    pub snow_72h: Vec<Vec<f32>>,
    /// The recorded events of those winters (any cell; those on invalid cells count for alert days only).
    pub events: Vec<Event>,
    /// Per day, the alert threshold of the model that scored it.
    pub alert_threshold: Vec<f64>,
    /// Per day, that model's releases per accident day ([`crate::hazard::HazardModel::expected_releases`]).
    pub releases_per_accident_day: Vec<f64>,
    /// Per winter, the model that scored it ([`crate::hazard::site::for_winter`]), for people.
    pub models: Vec<(i32, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SameCell {
    pub events: usize,
    pub pairs: usize,
    pub map: f64,
    pub map_ci95: Option<(f64, f64)>,
    pub snow_72h: f64,
    pub snow_72h_ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub cells: f64,
    pub mean_predicted: f64,
    pub observed: f64,
    pub events: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub days: usize,
    pub accident_days: usize,
    pub same_cell: SameCell,
    pub alerts: AlertSkill,
    pub snow_rule: AlertSkill,
    pub reliability: Vec<ReliabilityBin>,
    /// Probabilities where classes 2..5 begin ([`CLASS_AREA_SHARES`]).
    pub class_thresholds: [f32; 4],
    /// Share of event cell-days at or above classes 2..5 with those thresholds.
    pub event_share_at_or_above: [f64; 4],
    /// Mean share of valid cells in each class 1..5 on the days without and with an alert.
    pub class_shares_quiet: [f64; 5],
    pub class_shares_alert: [f64; 5],
    /// Expected against recorded event cell-days over the season (calibration in the large).
    pub expected_events: f64,
    pub observed_events: usize,
    /// The site's highest hazard per day, and whether an accident was recorded (the season plot).
    pub daily_hazard: Vec<(NaiveDate, f64, bool)>,
    /// The alert threshold (the median of the scoring models', which differ little).
    pub alert_threshold: f64,
    /// Per winter, the hazard model that scored it.
    pub models: Vec<(i32, String)>,
}

/// Each region's valid susceptibilities, sorted, with prefix sums.
struct Sorted {
    values: Vec<Vec<f32>>,
    prefix: Vec<Vec<f64>>,
}

impl Sorted {
    fn of(maps: &SiteMaps) -> Sorted {
        let mut values = vec![Vec::new(); maps.totals.len()];
        for (s, r) in maps.susceptibility.iter().zip(&maps.region) {
            if s.is_finite() {
                values[*r as usize].push(*s);
            }
        }
        values.iter_mut().for_each(|v| v.sort_by(f32::total_cmp));
        let prefix = values
            .iter()
            .map(|v| {
                let mut acc = vec![0f64; v.len() + 1];
                for (i, x) in v.iter().enumerate() {
                    acc[i + 1] = acc[i] + *x as f64;
                }
                acc
            })
            .collect();
        Sorted { values, prefix }
    }

    /// Cells of region `r` with probability >= `p` at scale `f` (p = f x s), and the sum of their probabilities.
    fn at_or_above(&self, r: usize, f: f64, p: f64) -> (f64, f64) {
        let v = &self.values[r];
        if f <= 0.0 {
            return if p <= 0.0 { (v.len() as f64, 0.0) } else { (0.0, 0.0) };
        }
        let s = p / f;
        let i = v.partition_point(|x| (*x as f64) < s);
        ((v.len() - i) as f64, f * (self.prefix[r][v.len()] - self.prefix[r][i]))
    }
}

/// Probability edges of the reliability bins: decades from 1e-9 to 1 (the lowest bin takes everything below).
fn reliability_edges() -> Vec<f64> {
    (0..=9).map(|k| 10f64.powi(k - 9)).collect()
}

/// The days of weather [`season`] reads for the winters `from_winter..=to_winter`: from mid-November (the history
/// the day features need before December 1) to the last April 30; `None` for years out of range.
pub fn weather_window(from_winter: i32, to_winter: i32) -> Option<(NaiveDate, NaiveDate)> {
    Some((NaiveDate::from_ymd_opt(from_winter, 11, 15)?, NaiveDate::from_ymd_opt(to_winter + 1, 4, 30)?))
}

/// The season of `site` over the winters `from_winter..=to_winter` (December-April), from the store: the daily
/// weather (ingest it first: `avarisk verify` does), the bundle's susceptibility map, the events, and for each winter
/// a hazard model that never saw its records: the published one, or one fitted without that winter
/// ([`crate::hazard::site::for_winter`]).
pub fn season(
    plan: &crate::config::Plan,
    site: &crate::config::Site,
    store: &crate::store::Store,
    from_winter: i32,
    to_winter: i32,
) -> Result<Season, String> {
    use crate::features::weather::Channel;
    let published = crate::hazard::HazardModel::load(&store.hazard(&site.id)).map_err(|e| e.to_string())?;
    let mut models = std::collections::BTreeMap::new();
    for w in from_winter..=to_winter {
        let m = crate::hazard::site::for_winter(plan, site, store, &published, w).map_err(|e| e.to_string())?;
        models.insert(w, m);
    }
    let rows = crate::ingest::weather::store::load(&store.weather(&site.id)).map_err(|e| e.to_string())?;
    let snow_col = crate::dataset::days::DAY_FEATURES.iter().position(|c| *c == Channel::NewSnow72h).expect("listed");
    let mut points: Vec<(String, f64, f64)> = Vec::new();
    let (mut days, mut hazard, mut snow_72h) = (Vec::new(), Vec::new(), Vec::new());
    let (mut alert_threshold, mut releases_per_accident_day) = (Vec::new(), Vec::new());
    let mut day = NaiveDate::from_ymd_opt(from_winter, 12, 1).expect("valid");
    let end = NaiveDate::from_ymd_opt(to_winter + 1, 4, 30).expect("valid");
    while day <= end {
        if crate::hazard::in_season(day) {
            if let Ok(features) = crate::hazard::point_features(&site.id, &rows, day) {
                if points.is_empty() {
                    points = features.iter().map(|p| (p.id.clone(), p.longitude, p.latitude)).collect();
                }
                let by_point = |id: &str| features.iter().find(|p| p.id == id).map(|p| p.x);
                let x: Vec<Option<[f32; crate::dataset::days::DAY_FEATURES.len()]>> =
                    points.iter().map(|(id, ..)| by_point(id)).collect();
                let model = &models[&crate::dataset::winter_of(day)];
                hazard.push(x.iter().map(|x| x.map_or(f64::NAN, |x| model.hazard(&x, day))).collect());
                alert_threshold.push(model.alert_threshold);
                releases_per_accident_day.push(model.releases_per_accident_day);
                snow_72h.push(x.iter().map(|x| x.map_or(f32::NAN, |x| x[snow_col])).collect());
                days.push(day);
            }
        }
        day = day.succ_opt().expect("in range");
    }
    if days.is_empty() {
        return Err(format!(
            "site `{}`: no weather for December {from_winter} to April {}: ingest it first (`avarisk ingest weather`)",
            site.id,
            to_winter + 1
        ));
    }
    let maps = crate::predict::day::site_maps(site, store, &Default::default(), &points).map_err(|e| e.to_string())?;
    let events = crate::ingest::observations::load_events(&store.events(&site.id)).map_err(|e| e.to_string())?;
    let events = of_winters(events, from_winter, to_winter);
    let models = models.into_iter().map(|(w, m)| (w, m.fitted_on)).collect();
    Ok(Season { maps, days, hazard, snow_72h, events, alert_threshold, releases_per_accident_day, models })
}

/// The events of the winters `from_winter..=to_winter`.
pub fn of_winters(events: Vec<Event>, from_winter: i32, to_winter: i32) -> Vec<Event> {
    events.into_iter().filter(|e| (from_winter..=to_winter).contains(&crate::dataset::winter_of(e.date))).collect()
}

/// Runs the verification (see the module doc).
pub fn verify(s: &Season) -> Verification {
    let maps = &s.maps;
    let width = maps.grid.width;
    let res = maps.grid.res_x();
    let sorted = Sorted::of(maps);
    let regions = maps.totals.len();
    let expected_releases = |d: usize, r: usize| s.hazard[d][r] * s.releases_per_accident_day[d];
    let scale = |d: usize, r: usize| {
        let h = expected_releases(d, r);
        if maps.totals[r] > 0.0 && h.is_finite() {
            h / maps.totals[r]
        } else {
            0.0
        }
    };
    let day_index = |date: NaiveDate| s.days.iter().position(|d| *d == date);
    let valid =
        |e: &Event| e.row < maps.grid.height && e.col < width && maps.susceptibility[e.row * width + e.col].is_finite();

    // Same-cell test.
    let quiet_reach = QUIET_RADIUS_M / res;
    let winter = crate::dataset::winter_of;
    let (mut groups, mut map_pairs, mut snow_pairs) = (Vec::new(), Vec::new(), Vec::new());
    for (k, e) in s.events.iter().enumerate().filter(|(_, e)| valid(e)) {
        let Some(d0) = day_index(e.date) else { continue };
        let i = e.row * width + e.col;
        let r = maps.region[i] as usize;
        let value = |d: usize| cell_probability(expected_releases(d, r), maps.susceptibility[i], maps.totals[r]);
        let (pos, pos_snow) = (value(d0), s.snow_72h[d0][r]);
        for (d, date) in s.days.iter().enumerate() {
            if d == d0 || winter(*date) != winter(e.date) {
                continue;
            }
            let busy = s.events.iter().any(|o| {
                o.date == *date && ((o.col as f64 - e.col as f64).hypot(o.row as f64 - e.row as f64)) <= quiet_reach
            });
            if busy {
                continue;
            }
            groups.push(k);
            map_pairs.push(win(pos, value(d)));
            snow_pairs.push(win(pos_snow, s.snow_72h[d][r]));
        }
    }
    let mean = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
    let same_cell = SameCell {
        events: groups.iter().collect::<std::collections::BTreeSet<_>>().len(),
        pairs: groups.len(),
        map: mean(&map_pairs),
        map_ci95: metrics::bootstrap_mean_ci(&groups, &map_pairs, 1000, 7),
        snow_72h: mean(&snow_pairs),
        snow_72h_ci95: metrics::bootstrap_mean_ci(&groups, &snow_pairs, 1000, 7),
    };

    // Alerts, per site-day.
    let accident: Vec<bool> = s.days.iter().map(|d| s.events.iter().any(|e| e.date == *d)).collect();
    let max_hazard: Vec<f64> = s.hazard.iter().map(|h| h.iter().copied().fold(0.0, f64::max)).collect();
    let alert: Vec<bool> = max_hazard.iter().zip(&s.alert_threshold).map(|(h, t)| h >= t).collect();
    let snow_alert: Vec<bool> =
        s.snow_72h.iter().map(|v| v.iter().any(|x| x.is_finite() && *x >= SNOW_RULE_CM)).collect();

    // Cell-day distribution: fine log bins for the class thresholds, decades for the reliability diagram.
    let fine: Vec<f64> = (0..=600).map(|k| 10f64.powf(-12.0 + k as f64 * 0.02)).collect();
    let mut above = vec![0f64; fine.len()];
    let coarse = reliability_edges();
    let mut coarse_count = vec![0f64; coarse.len()];
    let mut coarse_sum = vec![0f64; coarse.len()];
    let mut total_cells = 0f64;
    let mut expected = 0f64;
    for d in 0..s.days.len() {
        for r in 0..regions {
            let f = scale(d, r);
            total_cells += sorted.values[r].len() as f64;
            expected += f * sorted.prefix[r][sorted.values[r].len()];
            for (k, e) in fine.iter().enumerate() {
                above[k] += sorted.at_or_above(r, f, *e).0;
            }
            for (k, e) in coarse.iter().enumerate() {
                let (n, sum) = sorted.at_or_above(r, f, if k == 0 { 0.0 } else { *e });
                coarse_count[k] += n;
                coarse_sum[k] += sum;
            }
        }
    }
    let mut class_thresholds = [0f32; 4];
    for (k, share) in CLASS_AREA_SHARES.iter().enumerate() {
        let i = above.iter().position(|n| *n <= share * total_cells).unwrap_or(fine.len() - 1);
        class_thresholds[k] = fine[i] as f32;
    }
    // Event cell-days (one per cell and day) and their probabilities.
    let mut cell_days: Vec<(usize, usize)> = s
        .events
        .iter()
        .filter(|e| valid(e))
        .filter_map(|e| day_index(e.date).map(|d| (d, e.row * width + e.col)))
        .collect();
    cell_days.sort_unstable();
    cell_days.dedup();
    let event_p: Vec<f64> = cell_days
        .iter()
        .map(|&(d, i)| {
            let r = maps.region[i] as usize;
            cell_probability(expected_releases(d, r), maps.susceptibility[i], maps.totals[r]) as f64
        })
        .collect();
    let mut reliability = Vec::new();
    for k in 0..coarse.len() {
        let (lo, hi) = (if k == 0 { 0.0 } else { coarse[k] }, coarse.get(k + 1).copied().unwrap_or(f64::INFINITY));
        let next = |v: &[f64]| v.get(k + 1).copied().unwrap_or(0.0);
        let cells = coarse_count[k] - next(&coarse_count);
        if cells <= 0.0 {
            continue;
        }
        let events = event_p.iter().filter(|p| **p >= lo && **p < hi).count();
        reliability.push(ReliabilityBin {
            lo,
            hi,
            cells,
            mean_predicted: (coarse_sum[k] - next(&coarse_sum)) / cells,
            observed: events as f64 / cells,
            events,
        });
    }
    let event_share_at_or_above = class_thresholds
        .map(|t| event_p.iter().filter(|p| **p >= t as f64).count() as f64 / event_p.len().max(1) as f64);
    // Class shares per day, averaged over quiet (no alert) and alert days.
    let mut quiet = ([0f64; 5], 0usize);
    let mut stormy = ([0f64; 5], 0usize);
    for (d, alerted) in alert.iter().enumerate() {
        let mut at = [0f64; 5];
        for r in 0..regions {
            let f = scale(d, r);
            at[0] += sorted.values[r].len() as f64;
            for (k, t) in class_thresholds.iter().enumerate() {
                at[k + 1] += sorted.at_or_above(r, f, *t as f64).0;
            }
        }
        let n = at[0].max(1.0);
        let shares = [(at[0] - at[1]) / n, (at[1] - at[2]) / n, (at[2] - at[3]) / n, (at[3] - at[4]) / n, at[4] / n];
        let acc = if *alerted { &mut stormy } else { &mut quiet };
        acc.0.iter_mut().zip(shares).for_each(|(a, v)| *a += v);
        acc.1 += 1;
    }
    let avg = |(v, n): ([f64; 5], usize)| v.map(|x| x / n.max(1) as f64);
    Verification {
        days: s.days.len(),
        accident_days: accident.iter().filter(|a| **a).count(),
        same_cell,
        alerts: AlertSkill::of(&alert, &accident),
        snow_rule: AlertSkill::of(&snow_alert, &accident),
        reliability,
        class_thresholds,
        event_share_at_or_above,
        class_shares_quiet: avg(quiet),
        class_shares_alert: avg(stormy),
        expected_events: expected,
        observed_events: cell_days.len(),
        daily_hazard: s.days.iter().zip(&max_hazard).zip(&accident).map(|((d, h), a)| (*d, *h, *a)).collect(),
        alert_threshold: median(&s.alert_threshold),
        models: s.models.clone(),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The verification as Markdown, ending with the `[danger]` table to paste into the site's site.toml.
pub fn markdown(v: &Verification, site: &str, (from, to): (i32, i32)) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let ci = |c: Option<(f64, f64)>| c.map_or("n/a".into(), |(a, b)| format!("[{a:.3}, {b:.3}]"));
    let _ = writeln!(
        s,
        "# `{site}`, winters {from}/{} to {to}/{}: {} December-April days, {} with a recorded accident\n",
        (from + 1) % 100,
        (to + 1) % 100,
        v.days,
        v.accident_days
    );
    let _ = writeln!(s, "Hazard model of each winter (never fitted on that winter's records):\n");
    for (w, fitted_on) in &v.models {
        let _ = writeln!(s, "- {w}/{:02}: {fitted_on}", (w + 1) % 100);
    }
    s.push('\n');
    let c = &v.same_cell;
    let _ = writeln!(
        s,
        "Same-cell test: {} events, each event day against the same cell's quiet days of its winter ({} pairs; a \
         static map scores 0.5).\n\n| score | ROC-AUC (same cell) | 95 % CI |\n|---|---|---|\n| published probability | \
         {:.3} | {} |\n| 72 h new snow at the cell's weather point | {:.3} | {} |\n",
        c.events,
        c.pairs,
        c.map,
        ci(c.map_ci95),
        c.snow_72h,
        ci(c.snow_72h_ci95)
    );
    let _ = writeln!(s, "| alerts | days with an alert | hit rate (accident days alerted) | false-alarm ratio | Heidke skill |\n|---|---|---|---|---|");
    for (name, a) in [("avarisk (hazard >= threshold)", &v.alerts), ("72 h new snow >= 30 cm", &v.snow_rule)] {
        let _ = writeln!(
            s,
            "| {name} | {:.0} % | {:.0} % | {:.0} % | {:.2} |",
            100.0 * a.alert_share,
            100.0 * a.hit_rate,
            100.0 * a.false_alarm_ratio,
            a.heidke
        );
    }
    let _ = writeln!(s, "| climatology (alerting on a random share of days) | - | - | - | 0.00 |\n");
    let _ = writeln!(
        s,
        "Calibration in the large: {:.1} recorded release cell-days expected, {} recorded.\n\n| probability | cell-days | \
         mean predicted | observed | event cell-days |\n|---|---|---|---|---|",
        v.expected_events, v.observed_events
    );
    for b in &v.reliability {
        let _ = writeln!(
            s,
            "| {:.0e}-{:.0e} | {:.3e} | {:.2e} | {:.2e} | {} |",
            b.lo, b.hi, b.cells, b.mean_predicted, b.observed, b.events
        );
    }
    let pct = |v: &[f64]| v.iter().map(|x| format!("{:.1}", 100.0 * x)).collect::<Vec<_>>().join(" / ");
    let _ = writeln!(
        s,
        "\nRisk classes (thresholds: the top 5 / 1 / 0.2 / 0.05 % of cell-days): event cell-days at or above classes \
         2 / 3 / 4 / 5: {} %; mean share of the site in classes 1-5 on days without an alert: {} %; on alert days: \
         {} %.\n",
        pct(&v.event_share_at_or_above),
        pct(&v.class_shares_quiet),
        pct(&v.class_shares_alert)
    );
    let t: Vec<String> = v.class_thresholds.iter().map(|t| format!("{t:.3e}")).collect();
    let _ = writeln!(
        s,
        "# paste into sites/{site}/site.toml:\n[danger]\nthresholds = [{}]\ncalibration = \"avarisk verify: classes 2-5 \
         begin at the top 5 / 1 / 0.2 / 0.05 % of the cell-days of winters {from}/{} to {to}/{}\"",
        t.join(", "),
        (from + 1) % 100,
        (to + 1) % 100
    );
    s
}

/// 1 when the event-day value wins, 0.5 on a tie, 0 when it loses (NaN on either side: a tie).
fn win<T: PartialOrd + Copy>(pos: T, neg: T) -> f64 {
    match pos.partial_cmp(&neg) {
        Some(std::cmp::Ordering::Greater) => 1.0,
        Some(std::cmp::Ordering::Less) => 0.0,
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wins_count_ties_half() {
        assert_eq!(win(2.0, 1.0), 1.0);
        assert_eq!(win(1.0, 2.0), 0.0);
        assert_eq!(win(1.0, 1.0), 0.5);
        assert_eq!(win(f32::NAN, 1.0), 0.5);
    }

    #[test]
    fn sorted_counts_cells_at_or_above_a_probability() {
        let s = Sorted { values: vec![vec![0.1, 0.2, 0.4]], prefix: vec![vec![0.0, 0.1, 0.3, 0.7]] };
        let (n, sum) = s.at_or_above(0, 0.5, 0.1);
        assert_eq!(n, 2.0);
        assert!((sum - 0.3).abs() < 1e-9);
        assert_eq!(s.at_or_above(0, 0.5, 0.0).0, 3.0);
        assert_eq!(s.at_or_above(0, 0.0, 0.1).0, 0.0);
    }
}
