//! Per-point daily features for one day, computed with polars over a complete calendar of the days before it.
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use polars::prelude::*;

use super::{Channel, WeatherFeatureError, WeatherFeatureParams};
use crate::ingest::weather::schema::{DailyWeather, Variable};

/// Days of history read before the day (7-day sums, 3-day warming, and the context gap filling needs).
const HISTORY_DAYS: i64 = 14;

/// The features of one point for one day; `None` where they cannot be computed.
#[derive(Debug, Clone, PartialEq)]
pub struct PointFeatures {
    pub point_id: String,
    pub longitude: f64,
    pub latitude: f64,
    pub elevation_m: f64,
    pub values: BTreeMap<Channel, Option<f64>>,
}

/// Features of every point for one day, and the channels the source cannot give at all.
#[derive(Debug, Clone)]
pub struct DailyFeatures {
    pub date: NaiveDate,
    pub points: Vec<PointFeatures>,
    pub unavailable: Vec<Channel>,
}

/// Variables a channel needs (any of the groups' variables being available makes it available).
fn needs(c: Channel) -> &'static [Variable] {
    match c {
        Channel::NewSnow24h | Channel::NewSnow72h | Channel::NewSnow7d | Channel::NewSnow14d => &[Variable::NewSnow],
        Channel::SnowDepthChange24h => &[Variable::SnowDepth],
        Channel::TMean => &[Variable::TMean],
        Channel::TMax | Channel::Warming3d => &[Variable::TMax],
        Channel::RainOnSnow => &[Variable::Rain],
        Channel::WindSpeed => &[Variable::WindSpeed],
        Channel::WindDrift => &[Variable::WindSpeed, Variable::NewSnow],
        Channel::WindSectorSin | Channel::WindSectorCos => &[Variable::WindDir],
    }
}

/// Features of every point of the site's own weather source (event-recorded weather is left out) for `date`.
pub fn daily_features(
    site: &str,
    rows: &[DailyWeather],
    date: NaiveDate,
    params: &WeatherFeatureParams,
) -> Result<DailyFeatures, WeatherFeatureError> {
    let rows: Vec<&DailyWeather> = rows.iter().filter(|r| r.source != "event").collect();
    let provided: BTreeSet<Variable> =
        Variable::ALL.iter().copied().filter(|v| rows.iter().any(|r| r.values.get(*v).is_some())).collect();
    let unavailable: Vec<Channel> =
        Channel::ALL.iter().copied().filter(|c| !needs(*c).iter().all(|v| provided.contains(v))).collect();

    let start = date - chrono::Duration::days(HISTORY_DAYS);
    let mut points: BTreeMap<&str, Vec<&DailyWeather>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.date >= start && r.date <= date) {
        points.entry(r.point_id.as_str()).or_default().push(r);
    }
    if !points.values().flatten().any(|r| r.date == date) {
        let detail = if points.is_empty() {
            format!("no point has data between {start} and {date}")
        } else {
            "no point has data for that day".to_owned()
        };
        return Err(WeatherFeatureError::Missing { site: site.into(), date, detail });
    }

    let series = [
        Variable::NewSnow,
        Variable::SnowDepth,
        Variable::Rain,
        Variable::TMean,
        Variable::TMax,
        Variable::WindSpeed,
        Variable::WindDir,
    ];
    let n_days = HISTORY_DAYS as usize + 1;
    let mut ids: Vec<&str> = Vec::new();
    let mut day_idx: Vec<i32> = Vec::new();
    let mut cols: BTreeMap<Variable, Vec<Option<f64>>> = series.iter().map(|v| (*v, Vec::new())).collect();
    for (id, prs) in &points {
        for var in series {
            let mut s: Vec<Option<f64>> = vec![None; n_days];
            for r in prs {
                s[(r.date - start).num_days() as usize] = r.values.get(var);
            }
            if matches!(var, Variable::TMean | Variable::TMax | Variable::SnowDepth | Variable::WindSpeed) {
                fill_short_gaps(&mut s, params.max_gap_days as usize);
            }
            cols.get_mut(&var).expect("all series").extend(s);
        }
        ids.extend(std::iter::repeat_n(*id, n_days));
        day_idx.extend(0..n_days as i32);
    }
    let mut frame_cols = vec![Column::new("point_id".into(), ids), Column::new("day".into(), day_idx)];
    for (v, c) in &cols {
        frame_cols.push(Column::new(v.column().into(), c.clone()));
    }
    let polars = |e: PolarsError| WeatherFeatureError::Polars(e.to_string());
    let df = DataFrame::new(n_days * points.len(), frame_cols).map_err(polars)?;
    let out = features_frame(df, n_days as i32 - 1).map_err(polars)?;

    let get = |name: &str| -> Result<Vec<Option<f64>>, WeatherFeatureError> {
        Ok(out.column(name).map_err(polars)?.f64().map_err(polars)?.iter().collect())
    };
    let out_ids: Vec<String> = out
        .column("point_id")
        .map_err(polars)?
        .str()
        .map_err(polars)?
        .iter()
        .map(|s| s.unwrap_or_default().to_owned())
        .collect();
    let mut channel_values: BTreeMap<Channel, Vec<Option<f64>>> = BTreeMap::new();
    for c in Channel::ALL {
        if matches!(c, Channel::WindSectorSin | Channel::WindSectorCos) {
            continue;
        }
        channel_values.insert(c, get(c.name())?);
    }
    let wind_dir = get(Variable::WindDir.column())?;

    let mut result = Vec::new();
    for (i, id) in out_ids.iter().enumerate() {
        let first = points[id.as_str()][0];
        let mut values: BTreeMap<Channel, Option<f64>> = channel_values.iter().map(|(c, v)| (*c, v[i])).collect();
        let (s, c) = wind_dir[i].map(sector_sin_cos).unzip();
        values.insert(Channel::WindSectorSin, s);
        values.insert(Channel::WindSectorCos, c);
        for u in &unavailable {
            values.insert(*u, None);
        }
        result.push(PointFeatures {
            point_id: id.clone(),
            longitude: first.longitude,
            latitude: first.latitude,
            elevation_m: first.elevation_m,
            values,
        });
    }

    // A channel the source gives, but no point can compute for this day, is a gap: refuse it.
    for c in Channel::ALL.iter().filter(|c| !unavailable.contains(c)) {
        if result.iter().all(|p| p.values[c].is_none()) {
            return Err(WeatherFeatureError::Missing {
                site: site.into(),
                date,
                detail: format!("`{}` cannot be computed at any point (a day of its window is missing)", c.name()),
            });
        }
    }
    Ok(DailyFeatures { date, points: result, unavailable })
}

/// The feature expressions, evaluated per point over its calendar; keeps the row of day `last`.
fn features_frame(df: DataFrame, last: i32) -> PolarsResult<DataFrame> {
    let window = |n: usize| RollingOptionsFixedWindow { window_size: n, min_periods: n, ..Default::default() };
    let by = [col("point_id")];
    let ns = || col(Variable::NewSnow.column());
    let sd = || col(Variable::SnowDepth.column());
    let rain = || col(Variable::Rain.column());
    let tmax = || col(Variable::TMax.column());
    let wind = || col(Variable::WindSpeed.column());
    let null = || lit(NULL).cast(DataType::Float64);
    df.lazy()
        .sort(["point_id", "day"], Default::default())
        .with_columns([
            ns().alias(Channel::NewSnow24h.name()),
            ns().rolling_sum(window(3)).over(by.clone())?.alias(Channel::NewSnow72h.name()),
            ns().rolling_sum(window(7)).over(by.clone())?.alias(Channel::NewSnow7d.name()),
            ns().rolling_sum(window(14)).over(by.clone())?.alias(Channel::NewSnow14d.name()),
            (sd() - sd().shift(lit(1)).over(by.clone())?).alias(Channel::SnowDepthChange24h.name()),
            col(Variable::TMean.column()).alias(Channel::TMean.name()),
            tmax().alias(Channel::TMax.name()),
            (tmax() - tmax().shift(lit(3)).over(by.clone())?).alias(Channel::Warming3d.name()),
            wind().alias(Channel::WindSpeed.name()),
        ])
        .with_columns([
            (wind() * col(Channel::NewSnow72h.name())).alias(Channel::WindDrift.name()),
            when(rain().is_null().or(sd().is_null().and(col(Channel::NewSnow7d.name()).is_null())))
                .then(null())
                .otherwise(
                    when(
                        rain().gt_eq(lit(2.0)).and(
                            sd().fill_null(lit(0.0))
                                .gt_eq(lit(10.0))
                                .or(col(Channel::NewSnow7d.name()).fill_null(lit(0.0)).gt_eq(lit(10.0))),
                        ),
                    )
                    .then(lit(1.0))
                    .otherwise(lit(0.0)),
                )
                .alias(Channel::RainOnSnow.name()),
        ])
        .filter(col("day").eq(lit(last)))
        .collect()
}

/// Linear interpolation across runs of at most `max_gap` missing days between two known days.
pub fn fill_short_gaps(s: &mut [Option<f64>], max_gap: usize) {
    let mut last_known: Option<usize> = None;
    for i in 0..s.len() {
        if let Some(v) = s[i] {
            if let Some(j) = last_known {
                let gap = i - j - 1;
                if gap > 0 && gap <= max_gap {
                    let a = s[j].expect("known");
                    for (k, slot) in s.iter_mut().enumerate().take(i).skip(j + 1) {
                        *slot = Some(a + (v - a) * (k - j) as f64 / (i - j) as f64);
                    }
                }
            }
            last_known = Some(i);
        }
    }
}

/// sin and cos of the centre of the 45-degree sector holding direction `deg` (N = 0, E = 45...).
fn sector_sin_cos(deg: f64) -> (f64, f64) {
    let sector = ((deg.rem_euclid(360.0) + 22.5) / 45.0).floor() % 8.0;
    let centre = (sector * 45.0).to_radians();
    (centre.sin(), centre.cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::weather::schema::Values;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 2, d).unwrap()
    }

    fn row(d: u32, values: Values) -> DailyWeather {
        DailyWeather {
            date: day(d),
            point_id: "p".into(),
            source: "open_meteo".into(),
            longitude: 9.5,
            latitude: 46.8,
            elevation_m: 1500.0,
            values,
        }
    }

    #[test]
    fn short_gaps_are_interpolated_long_ones_kept() {
        let mut s = vec![Some(0.0), None, None, Some(3.0), None, None, None, Some(7.0)];
        fill_short_gaps(&mut s, 2);
        assert_eq!(&s[..4], &[Some(0.0), Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(&s[4..7], &[None, None, None]);
    }

    #[test]
    fn sums_diffs_and_flags_on_a_known_series() {
        let rows: Vec<DailyWeather> = (1..=14)
            .map(|d| {
                row(
                    d,
                    Values {
                        new_snow_cm: Some(d as f64),
                        snow_depth_cm: Some(100.0 + 2.0 * d as f64),
                        rain_mm: Some(if d == 14 { 5.0 } else { 0.0 }),
                        t_mean_c: Some(-5.0),
                        t_max_c: Some(d as f64 - 8.0),
                        wind_speed_ms: Some(4.0),
                        wind_dir_deg: Some(93.0),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let f = daily_features("s", &rows, day(14), &WeatherFeatureParams::default()).unwrap();
        assert!(f.unavailable.is_empty());
        let v = &f.points[0].values;
        assert_eq!(v[&Channel::NewSnow24h], Some(14.0));
        assert_eq!(v[&Channel::NewSnow72h], Some(39.0));
        assert_eq!(v[&Channel::NewSnow7d], Some(77.0));
        assert_eq!(v[&Channel::NewSnow14d], Some(105.0));
        assert_eq!(v[&Channel::SnowDepthChange24h], Some(2.0));
        assert_eq!(v[&Channel::Warming3d], Some(3.0));
        assert_eq!(v[&Channel::RainOnSnow], Some(1.0));
        assert_eq!(v[&Channel::WindDrift], Some(4.0 * 39.0));
        let (s, c) = (v[&Channel::WindSectorSin].unwrap(), v[&Channel::WindSectorCos].unwrap());
        assert!((s - 1.0).abs() < 1e-9 && c.abs() < 1e-9, "93 deg is in the east sector");
    }

    #[test]
    fn a_missing_day_makes_window_sums_missing_and_a_missing_target_day_is_refused() {
        let mut rows: Vec<DailyWeather> = (1..=10)
            .filter(|d| *d != 9)
            .map(|d| row(d, Values { new_snow_cm: Some(1.0), t_max_c: Some(0.0), ..Default::default() }))
            .collect();
        let f = daily_features("s", &rows, day(10), &WeatherFeatureParams::default());
        // new snow 72 h spans the missing 9th: no point can compute it, so the day is refused.
        let err = f.unwrap_err().to_string();
        assert!(err.contains("new_snow_72h") && err.contains("2021-02-10"), "{err}");
        rows.retain(|r| r.date != day(10));
        let err = daily_features("s", &rows, day(10), &WeatherFeatureParams::default()).unwrap_err().to_string();
        assert!(err.contains("no point has data for that day"), "{err}");
    }

    #[test]
    fn variables_the_source_never_gives_are_unavailable_not_zero() {
        let rows: Vec<DailyWeather> =
            (1..=14).map(|d| row(d, Values { new_snow_cm: Some(0.0), ..Default::default() })).collect();
        let f = daily_features("s", &rows, day(14), &WeatherFeatureParams::default()).unwrap();
        assert!(f.unavailable.contains(&Channel::TMean) && f.unavailable.contains(&Channel::WindSpeed));
        assert_eq!(f.points[0].values[&Channel::TMean], None);
        assert_eq!(f.points[0].values[&Channel::NewSnow72h], Some(0.0));
    }
}
