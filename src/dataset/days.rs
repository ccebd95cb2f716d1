//! Day-level samples: for each weather region (a point of daily weather) and winter day, whether any recorded
//! avalanche fell in the region that day, with that day's weather features. These are the *temporal* negatives the
//! patch design lacks (there, cases and controls share the day's weather): here only the weather varies, so a model
//! of them measures how well the weather tells dangerous days from the others.
//!
//! Regions: every event belongs to the nearest weather point (great-circle distance). Winter days: December to April.
//!
//! The regional weather is read from `sites/<id>/weather/cantons/*.csv` (Open-Meteo historical-weather CSV exports,
//! ERA5-based, one point per canton capital) by [`load_regional_rows`]; [`RegionalWeather`] is the same table indexed
//! by point and day.
use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, NaiveDate};

use super::sample::winter_of;
use super::DatasetError;
use crate::features::weather::{daily_features, Channel, WeatherFeatureParams};
use crate::ingest::observations::Event;
use crate::ingest::weather::schema::{DailyWeather, Values};

/// Folder of a site's regional daily weather exports, relative to the site folder.
pub const REGIONAL_DIR: &str = "weather/cantons";

/// Reads every `*.csv` export of `dir` (point id = file stem without `weather_`), or `None` when `dir` does not exist.
pub fn load_regional_rows(dir: &Path) -> Result<Option<Vec<DailyWeather>>, DatasetError> {
    let Ok(entries) = fs_err::read_dir(dir) else { return Ok(None) };
    let bad = |path: &Path, reason: String| DatasetError::Regional { path: path.display().to_string(), reason };
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| bad(dir, e.to_string()))?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("csv") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut rows = Vec::new();
    for path in paths {
        let id =
            path.file_stem().map(|n| n.to_string_lossy().trim_start_matches("weather_").to_owned()).unwrap_or_default();
        let text = fs_err::read_to_string(&path).map_err(|e| bad(&path, e.to_string()))?;
        let parsed = crate::ingest::weather::open_meteo::parse_csv_export(&text, &id)
            .map_err(|e| bad(&path, format!("{e} (expected an Open-Meteo historical-weather CSV export)")))?;
        rows.extend(parsed);
    }
    Ok(Some(rows))
}

/// One regional weather point and its days.
#[derive(Debug, Clone)]
pub struct RegionalPoint {
    pub id: String,
    pub longitude: f64,
    pub latitude: f64,
    pub elevation_m: f64,
    pub days: BTreeMap<NaiveDate, Values>,
}

/// Regional daily weather indexed by point (sorted by id, the order of [`Days::regions`]) and day.
#[derive(Debug, Clone, Default)]
pub struct RegionalWeather {
    pub points: Vec<RegionalPoint>,
    /// Temperature change with elevation used to carry a point's air temperature to a start zone (deg C per km,
    /// the default of the daily weather channels).
    pub lapse_rate_c_per_km: f64,
}

impl RegionalWeather {
    pub fn from_rows(rows: &[DailyWeather]) -> RegionalWeather {
        let mut points: BTreeMap<String, RegionalPoint> = BTreeMap::new();
        for w in rows {
            points
                .entry(w.point_id.clone())
                .or_insert_with(|| RegionalPoint {
                    id: w.point_id.clone(),
                    longitude: w.longitude,
                    latitude: w.latitude,
                    elevation_m: w.elevation_m,
                    days: BTreeMap::new(),
                })
                .days
                .insert(w.date, w.values);
        }
        RegionalWeather {
            points: points.into_values().collect(),
            lapse_rate_c_per_km: WeatherFeatureParams::default().lapse_rate_c_per_km,
        }
    }

    /// The point nearest to (lon, lat) in degrees WGS84 (equirectangular distance, as [`build_days`] assigns regions).
    pub fn nearest(&self, (lon, lat): (f64, f64)) -> Option<usize> {
        let d = |p: &RegionalPoint| {
            let (dl, dp) = ((lon - p.longitude).to_radians() * lat.to_radians().cos(), (lat - p.latitude).to_radians());
            dl * dl + dp * dp
        };
        (0..self.points.len()).min_by(|a, b| d(&self.points[*a]).total_cmp(&d(&self.points[*b])))
    }
}

/// The weather features of a region-day, in this order.
pub const DAY_FEATURES: [Channel; 8] = [
    Channel::NewSnow24h,
    Channel::NewSnow72h,
    Channel::NewSnow7d,
    Channel::NewSnow14d,
    Channel::TMean,
    Channel::TMax,
    Channel::Warming3d,
    Channel::RainOnSnow,
];

/// One weather point's features of a day ([`DAY_FEATURES`] order, NaN where missing), with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct PointDay {
    pub id: String,
    pub longitude: f64,
    pub latitude: f64,
    pub x: [f32; DAY_FEATURES.len()],
}

/// The [`DAY_FEATURES`] of every point of a day's features.
pub fn point_days(f: &crate::features::weather::daily::DailyFeatures) -> Vec<PointDay> {
    f.points
        .iter()
        .map(|p| {
            let mut x = [f32::NAN; DAY_FEATURES.len()];
            for (k, c) in DAY_FEATURES.iter().enumerate() {
                x[k] = p.values.get(c).copied().flatten().map_or(f32::NAN, |v| v as f32);
            }
            PointDay { id: p.point_id.clone(), longitude: p.longitude, latitude: p.latitude, x }
        })
        .collect()
}

/// Region-days: features (NaN where missing), label, recorded releases, region index, day, winter.
#[derive(Debug, Clone, Default)]
pub struct Days {
    pub regions: Vec<String>,
    pub x: Vec<[f32; DAY_FEATURES.len()]>,
    pub y: Vec<bool>,
    /// Recorded releases in the region that day (0 where `y` is false).
    pub releases: Vec<u32>,
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
    // Exports of one grid point (Nidwalden and Obwalden share theirs) are one region: the first by id. A second
    // would hold every day as a quiet one, since its events all go to the first.
    let mut seen: Vec<(f64, f64)> = Vec::new();
    points.retain(|_, ll| {
        let new = !seen.contains(ll);
        seen.push(*ll);
        new
    });
    let regions: Vec<String> = points.keys().cloned().collect();
    let nearest = |(lon, lat): (f64, f64)| {
        let d = |(plon, plat): (f64, f64)| {
            let (dl, dp) = ((lon - plon).to_radians() * lat.to_radians().cos(), (lat - plat).to_radians());
            dl * dl + dp * dp
        };
        (0..regions.len()).min_by(|a, b| d(points[&regions[*a]]).total_cmp(&d(points[&regions[*b]]))).unwrap_or(0)
    };
    let mut accident_days: BTreeMap<(usize, NaiveDate), u32> = BTreeMap::new();
    for (e, ll) in events.iter().zip(lonlat) {
        *accident_days.entry((nearest(*ll), e.date)).or_default() += 1;
    }
    let params = WeatherFeatureParams::default();
    let mut out = Days { regions: regions.clone(), ..Default::default() };
    let mut day = from;
    while day <= to {
        if matches!(day.month(), 12 | 1..=4) {
            if let Ok(f) = daily_features("days", weather, day, &params) {
                for p in point_days(&f) {
                    let Some(r) = regions.iter().position(|id| *id == p.id) else { continue };
                    out.x.push(p.x);
                    let releases = accident_days.get(&(r, day)).copied().unwrap_or(0);
                    out.y.push(releases > 0);
                    out.releases.push(releases);
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

/// The region-days of `site` over the span of its regional exports ([`REGIONAL_DIR`]): its recorded events (from
/// the store) against every other December-April day of each region, with the regional weather; `None` when the
/// site has no exports.
pub fn site_days(
    site: &crate::config::Site,
    store: &crate::store::Store,
) -> Result<Option<(Days, Vec<DailyWeather>)>, DatasetError> {
    let Some(weather) = load_regional_rows(&site.dir.join(REGIONAL_DIR))? else { return Ok(None) };
    let (Some(from), Some(to)) = (weather.iter().map(|w| w.date).min(), weather.iter().map(|w| w.date).max()) else {
        return Ok(None);
    };
    let events: Vec<Event> = crate::ingest::observations::load_events(&store.events(&site.id))?
        .into_iter()
        .filter(|e| e.date >= from && e.date <= to)
        .collect();
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = events.iter().map(|e| (e.x, e.y)).unzip();
    site.grid.crs.transform_points(&crate::geo::Crs::wgs84(), &mut xs, &mut ys)?;
    let lonlat: Vec<(f64, f64)> = xs.into_iter().zip(ys).collect();
    Ok(Some((build_days(&events, &lonlat, &weather, from, to), weather)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(point: &str, (lon, lat): (f64, f64), date: NaiveDate, snow: f64) -> DailyWeather {
        DailyWeather {
            date,
            point_id: point.into(),
            source: "test".into(),
            longitude: lon,
            latitude: lat,
            elevation_m: 500.0,
            values: Values {
                new_snow_cm: Some(snow),
                precip_mm: Some(snow),
                rain_mm: Some(0.0),
                t_mean_c: Some(-2.0),
                t_min_c: Some(-5.0),
                t_max_c: Some(1.0),
                ..Values::default()
            },
        }
    }

    #[test]
    fn exports_of_one_grid_point_are_one_region() {
        let (from, to) = ("2020-01-01".parse().unwrap(), "2020-01-31".parse().unwrap());
        let (shared, other) = ((8.17, 46.92), (9.53, 46.85));
        let mut weather = Vec::new();
        let mut day: NaiveDate = "2019-12-01".parse().unwrap();
        while day <= to {
            for (id, ll) in [("nidwalden", shared), ("obwalden", shared), ("graubuenden", other)] {
                weather.push(row(id, ll, day, if day.day() % 5 == 0 { 20.0 } else { 0.0 }));
            }
            day = day.succ_opt().unwrap();
        }
        let event = Event::at(0.0, 0.0, "2020-01-10");
        // Two releases on one day in the shared point's region.
        let days = build_days(&[event.clone(), event], &[(8.2, 46.9), (8.1, 46.95)], &weather, from, to);
        assert_eq!(days.regions, ["graubuenden", "nidwalden"]);
        assert_eq!(days.y.len(), 2 * 31, "one row per region and day, none for the duplicate export");
        let hits: Vec<_> = (0..days.y.len())
            .filter(|&i| days.y[i])
            .map(|i| (days.region[i], days.date[i], days.releases[i]))
            .collect();
        assert_eq!(hits, [(1, "2020-01-10".parse().unwrap(), 2)]);
        assert_eq!(days.releases.iter().sum::<u32>(), 2);
    }
}
