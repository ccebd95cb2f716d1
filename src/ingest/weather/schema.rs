//! The canonical daily weather table: every source (Open-Meteo, station files, weather recorded with avalanche
//! events) normalises to it, one row per (site-local day, point).
//!
//! | column | type | unit / meaning |
//! |---|---|---|
//! | `date` | date | site-local calendar day |
//! | `utc_start`, `utc_end` | datetime (ms, UTC) | the UTC bounds of that local day (23 or 25 h on DST days) |
//! | `point_id` | string | query point, station or event id |
//! | `source` | string | `open_meteo`, `station_csv`, `event` |
//! | `longitude`, `latitude` | f64 | WGS84 degrees of the point |
//! | `elevation_m` | f64 | metres above sea level of the point |
//! | `new_snow_cm` | f64 | snowfall (new snow height) over the day, cm |
//! | `snow_depth_cm` | f64 | total snow depth, cm (daily mean or morning value, as the source gives) |
//! | `precip_mm` | f64 | precipitation over the day, mm water |
//! | `rain_mm` | f64 | liquid precipitation over the day, mm |
//! | `t_mean_c`, `t_min_c`, `t_max_c` | f64 | 2 m air temperature, deg C |
//! | `wind_speed_ms` | f64 | wind speed (the source's daily mean or max, as declared), m/s |
//! | `wind_dir_deg` | f64 | direction the wind blows from, degrees clockwise from north |
//!
//! Missing values are null, never zero.
use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use polars::prelude::*;

pub use crate::vocab::weather::Variable;

/// One site-local day at one point, canonical units, `None` for missing.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyWeather {
    pub date: NaiveDate,
    pub point_id: String,
    pub source: String,
    pub longitude: f64,
    pub latitude: f64,
    pub elevation_m: f64,
    pub values: Values,
}

/// The measured quantities of a [`DailyWeather`] row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Values {
    pub new_snow_cm: Option<f64>,
    pub snow_depth_cm: Option<f64>,
    pub precip_mm: Option<f64>,
    pub rain_mm: Option<f64>,
    pub t_mean_c: Option<f64>,
    pub t_min_c: Option<f64>,
    pub t_max_c: Option<f64>,
    pub wind_speed_ms: Option<f64>,
    pub wind_dir_deg: Option<f64>,
}

impl Values {
    pub fn get(&self, v: Variable) -> Option<f64> {
        match v {
            Variable::NewSnow => self.new_snow_cm,
            Variable::SnowDepth => self.snow_depth_cm,
            Variable::Precip => self.precip_mm,
            Variable::Rain => self.rain_mm,
            Variable::TMean => self.t_mean_c,
            Variable::TMin => self.t_min_c,
            Variable::TMax => self.t_max_c,
            Variable::WindSpeed => self.wind_speed_ms,
            Variable::WindDir => self.wind_dir_deg,
        }
    }

    pub fn set(&mut self, v: Variable, value: Option<f64>) {
        let slot = match v {
            Variable::NewSnow => &mut self.new_snow_cm,
            Variable::SnowDepth => &mut self.snow_depth_cm,
            Variable::Precip => &mut self.precip_mm,
            Variable::Rain => &mut self.rain_mm,
            Variable::TMean => &mut self.t_mean_c,
            Variable::TMin => &mut self.t_min_c,
            Variable::TMax => &mut self.t_max_c,
            Variable::WindSpeed => &mut self.wind_speed_ms,
            Variable::WindDir => &mut self.wind_dir_deg,
        };
        *slot = value;
    }
}

/// The UTC instants bounding local day `date` in `tz` (ms since the epoch).
pub fn utc_bounds(date: NaiveDate, tz: Tz) -> (i64, i64) {
    let start = |d: NaiveDate| {
        let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        // earliest(): a local midnight skipped by DST resolves to the first valid instant after it.
        tz.from_local_datetime(&midnight)
            .earliest()
            .unwrap_or_else(|| tz.from_utc_datetime(&midnight))
            .timestamp_millis()
    };
    (start(date), start(date.succ_opt().expect("date in range")))
}

/// Builds the canonical DataFrame from rows (sorted by date, then point).
pub fn to_frame(rows: &[DailyWeather], tz: Tz) -> PolarsResult<DataFrame> {
    let mut rows: Vec<&DailyWeather> = rows.iter().collect();
    rows.sort_by(|a, b| (a.date, &a.point_id).cmp(&(b.date, &b.point_id)));
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let days: Vec<i32> = rows.iter().map(|r| (r.date - epoch).num_days() as i32).collect();
    let (starts, ends): (Vec<i64>, Vec<i64>) = rows.iter().map(|r| utc_bounds(r.date, tz)).unzip();
    let mut cols: Vec<Column> = vec![
        Column::new("date".into(), days).cast(&DataType::Date)?,
        Column::new("utc_start".into(), starts)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, Some(polars::prelude::TimeZone::UTC)))?,
        Column::new("utc_end".into(), ends)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, Some(polars::prelude::TimeZone::UTC)))?,
        Column::new("point_id".into(), rows.iter().map(|r| r.point_id.as_str()).collect::<Vec<_>>()),
        Column::new("source".into(), rows.iter().map(|r| r.source.as_str()).collect::<Vec<_>>()),
        Column::new("longitude".into(), rows.iter().map(|r| r.longitude).collect::<Vec<_>>()),
        Column::new("latitude".into(), rows.iter().map(|r| r.latitude).collect::<Vec<_>>()),
        Column::new("elevation_m".into(), rows.iter().map(|r| r.elevation_m).collect::<Vec<_>>()),
    ];
    for v in Variable::ALL {
        cols.push(Column::new(v.column().into(), rows.iter().map(|r| r.values.get(v)).collect::<Vec<Option<f64>>>()));
    }
    DataFrame::new(rows.len(), cols)
}

/// Reads rows back from a canonical DataFrame.
pub fn from_frame(df: &DataFrame) -> PolarsResult<Vec<DailyWeather>> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
    let date = df.column("date")?.cast(&DataType::Int32)?;
    let date = date.i32()?;
    let point = df.column("point_id")?.str()?.clone();
    let source = df.column("source")?.str()?.clone();
    let f = |name: &str| -> PolarsResult<Float64Chunked> { Ok(df.column(name)?.f64()?.clone()) };
    let (lon, lat, elev) = (f("longitude")?, f("latitude")?, f("elevation_m")?);
    let vars: Vec<(Variable, Float64Chunked)> =
        Variable::ALL.iter().map(|v| f(v.column()).map(|c| (*v, c))).collect::<PolarsResult<_>>()?;
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut values = Values::default();
        for (v, c) in &vars {
            values.set(*v, c.get(i));
        }
        out.push(DailyWeather {
            date: epoch + chrono::Duration::days(date.get(i).unwrap_or(0) as i64),
            point_id: point.get(i).unwrap_or_default().to_owned(),
            source: source.get(i).unwrap_or_default().to_owned(),
            longitude: lon.get(i).unwrap_or(f64::NAN),
            latitude: lat.get(i).unwrap_or(f64::NAN),
            elevation_m: elev.get(i).unwrap_or(f64::NAN),
            values,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_day_has_its_utc_bounds_including_dst() {
        let tz: Tz = "Europe/Zurich".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2021, 2, 15).unwrap();
        let (s, e) = utc_bounds(d, tz);
        assert_eq!(e - s, 24 * 3600 * 1000);
        assert_eq!(chrono::DateTime::from_timestamp_millis(s).unwrap().to_rfc3339(), "2021-02-14T23:00:00+00:00");
        let dst = NaiveDate::from_ymd_opt(2021, 3, 28).unwrap();
        let (s, e) = utc_bounds(dst, tz);
        assert_eq!(e - s, 23 * 3600 * 1000);
    }

    #[test]
    fn frames_round_trip() {
        let row = DailyWeather {
            date: NaiveDate::from_ymd_opt(2021, 2, 15).unwrap(),
            point_id: "p1".into(),
            source: "open_meteo".into(),
            longitude: 9.8,
            latitude: 46.8,
            elevation_m: 2500.0,
            values: Values { new_snow_cm: Some(12.0), t_mean_c: Some(-5.5), ..Default::default() },
        };
        let df = to_frame(std::slice::from_ref(&row), "Europe/Zurich".parse().unwrap()).unwrap();
        assert_eq!(df.height(), 1);
        assert_eq!(from_frame(&df).unwrap(), vec![row]);
    }
}
