//! Day-level samples: for each weather region (a point of daily weather) and winter day, whether any recorded
//! avalanche fell in the region that day, with that day's weather features. These are the *temporal* negatives the
//! patch design lacks (there, cases and controls share the day's weather): here only the weather varies, so a model
//! of them measures how well the weather tells dangerous days from the others.
//!
//! Regions: every event belongs to the nearest weather point (great-circle distance). Winter days: December to April.
use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::sample::winter_of;
use crate::features::weather::{daily_features, Channel, WeatherFeatureParams};
use crate::ingest::observations::Event;
use crate::ingest::weather::schema::DailyWeather;

/// The weather features of a region-day, in this order.
pub const DAY_FEATURES: [Channel; 7] = [
    Channel::NewSnow24h,
    Channel::NewSnow72h,
    Channel::NewSnow7d,
    Channel::TMean,
    Channel::TMax,
    Channel::Warming3d,
    Channel::RainOnSnow,
];

/// Region-days: features (NaN where missing), label, region index, day, winter.
#[derive(Debug, Clone, Default)]
pub struct Days {
    pub regions: Vec<String>,
    pub x: Vec<[f32; DAY_FEATURES.len()]>,
    pub y: Vec<bool>,
    pub region: Vec<usize>,
    pub date: Vec<NaiveDate>,
    pub winter: Vec<i32>,
}

/// Builds region-days over [from, to] (December to April only) from the events (with WGS84 positions `lonlat`,
/// one per event) and the regions' daily weather.
pub fn build_days(
    events: &[Event],
    lonlat: &[(f64, f64)],
    weather: &[DailyWeather],
    from: NaiveDate,
    to: NaiveDate,
) -> Days {
    let mut points: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for w in weather {
        points.entry(w.point_id.clone()).or_insert((w.longitude, w.latitude));
    }
    let regions: Vec<String> = points.keys().cloned().collect();
    let nearest = |(lon, lat): (f64, f64)| {
        let d = |(plon, plat): (f64, f64)| {
            let (dl, dp) = ((lon - plon).to_radians() * lat.to_radians().cos(), (lat - plat).to_radians());
            dl * dl + dp * dp
        };
        (0..regions.len()).min_by(|a, b| d(points[&regions[*a]]).total_cmp(&d(points[&regions[*b]]))).unwrap_or(0)
    };
    let mut accident_days: BTreeMap<(usize, NaiveDate), usize> = BTreeMap::new();
    for (e, ll) in events.iter().zip(lonlat) {
        *accident_days.entry((nearest(*ll), e.date)).or_default() += 1;
    }
    let params = WeatherFeatureParams::default();
    let mut out = Days { regions: regions.clone(), ..Default::default() };
    let mut day = from;
    while day <= to {
        if matches!(day.month(), 12 | 1..=4) {
            if let Ok(f) = daily_features("days", weather, day, &params) {
                for p in &f.points {
                    let Some(r) = regions.iter().position(|id| *id == p.point_id) else { continue };
                    let mut x = [f32::NAN; DAY_FEATURES.len()];
                    for (k, c) in DAY_FEATURES.iter().enumerate() {
                        x[k] = p.values.get(c).copied().flatten().map_or(f32::NAN, |v| v as f32);
                    }
                    out.x.push(x);
                    out.y.push(accident_days.contains_key(&(r, day)));
                    out.region.push(r);
                    out.date.push(day);
                    out.winter.push(winter_of(day));
                }
            }
        }
        day = day.succ_opt().expect("date in range");
    }
    out
}
