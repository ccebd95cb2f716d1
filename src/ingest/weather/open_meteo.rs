//! The Open-Meteo API: request URLs for the archive and forecast endpoints, and parsing of its daily JSON answer
//! into canonical rows.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde::Deserialize;

use super::schema::{DailyWeather, Values, Variable};
use super::units::Unit;
use crate::config::WeatherPoint;
pub use crate::vocab::weather::{Endpoint, DAILY, HOURLY};

/// One request: a point and a date window, with the variables asked for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub base_url: &'a str,
    pub endpoint: Endpoint,
    pub point: &'a WeatherPoint,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub timezone: &'a str,
    pub daily: &'a [String],
    pub hourly: &'a [String],
}

impl Request<'_> {
    /// The request URL. Wind in m/s; daily values aggregated over the site's local day (`timezone`).
    pub fn url(&self) -> String {
        let mut url = format!(
            "{}{}?latitude={}&longitude={}&elevation={}&start_date={}&end_date={}&timezone={}&wind_speed_unit=ms",
            self.base_url,
            self.endpoint.path(),
            self.point.latitude,
            self.point.longitude,
            self.point.elevation_m,
            self.from,
            self.to,
            self.timezone.replace('/', "%2F"),
        );
        if !self.daily.is_empty() {
            url.push_str(&format!("&daily={}", self.daily.join(",")));
        }
        if !self.hourly.is_empty() {
            url.push_str(&format!("&hourly={}", self.hourly.join(",")));
        }
        url
    }
}

/// Why an Open-Meteo answer cannot be used. Each names what is wrong in the body.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResponseError {
    #[error("not Open-Meteo JSON ({0})")]
    Json(String),
    #[error("the server reported an error: {0}")]
    Api(String),
    #[error("the answer lacks `{section}.{variable}` that was requested")]
    MissingVariable { section: &'static str, variable: String },
    #[error("`{section}.{variable}` has {got} values for {expected} times")]
    Length { section: &'static str, variable: String, got: usize, expected: usize },
    #[error("`{section}_units.{variable}` is `{unit}`, which cannot be {canonical}")]
    Unit { section: &'static str, variable: String, unit: String, canonical: Unit },
    #[error("`{section}.time` has an unreadable entry `{value}`")]
    Time { section: &'static str, value: String },
    #[error("the answer holds no day of {from}..{to}")]
    NoDays { from: NaiveDate, to: NaiveDate },
    #[error("`{section}.time` lists {date} twice")]
    DuplicateDate { section: &'static str, date: NaiveDate },
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    error: Option<bool>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    daily_units: BTreeMap<String, String>,
    #[serde(default)]
    daily: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    hourly_units: BTreeMap<String, String>,
    #[serde(default)]
    hourly: BTreeMap<String, serde_json::Value>,
}

/// Parses an Open-Meteo answer into one canonical row per day in [from, to]. Values come in the units the answer
/// declares (`daily_units`), converted to canonical ones; nulls stay missing; days the answer lacks are absent
/// (explicitly missing, never zero).
pub fn parse(body: &str, req: &Request) -> Result<Vec<DailyWeather>, ResponseError> {
    let body: Body = serde_json::from_str(body).map_err(|e| ResponseError::Json(e.to_string()))?;
    if body.error == Some(true) {
        return Err(ResponseError::Api(body.reason.unwrap_or_default()));
    }
    let mut days: BTreeMap<NaiveDate, Values> = BTreeMap::new();

    if !req.daily.is_empty() {
        let times = times("daily", &body.daily, |t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())?;
        let mut seen = std::collections::BTreeSet::new();
        for d in &times {
            if !seen.insert(*d) {
                return Err(ResponseError::DuplicateDate { section: "daily", date: *d });
            }
            days.entry(*d).or_default();
        }
        for name in req.daily {
            let var = DAILY.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect("validated daily variable");
            let values = column("daily", name, &body.daily, &body.daily_units, var, times.len())?;
            for (d, v) in times.iter().zip(values) {
                days.get_mut(d).expect("inserted above").set(var, v);
            }
        }
    }

    if !req.hourly.is_empty() {
        let times = times("hourly", &body.hourly, |t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").ok())?;
        for name in req.hourly {
            let var = HOURLY.iter().find(|(n, _)| n == name).map(|(_, v)| *v).expect("validated hourly variable");
            let values = column("hourly", name, &body.hourly, &body.hourly_units, var, times.len())?;
            // Mean over the local day's hours that have a value.
            let mut sums: BTreeMap<NaiveDate, (f64, usize)> = BTreeMap::new();
            for (t, v) in times.iter().zip(values) {
                if let Some(v) = v {
                    let e = sums.entry(t.date()).or_default();
                    e.0 += v;
                    e.1 += 1;
                }
            }
            for (d, (sum, n)) in sums {
                days.entry(d).or_default().set(var, Some(sum / n as f64));
            }
        }
    }

    days.retain(|d, _| *d >= req.from && *d <= req.to);
    if days.is_empty() {
        return Err(ResponseError::NoDays { from: req.from, to: req.to });
    }
    Ok(days
        .into_iter()
        .map(|(date, values)| DailyWeather {
            date,
            point_id: req.point.id.clone(),
            source: "open_meteo".into(),
            longitude: req.point.longitude,
            latitude: req.point.latitude,
            elevation_m: req.point.elevation_m,
            values: clamp_to_range(values),
        })
        .collect())
}

fn times<T>(
    section: &'static str,
    data: &BTreeMap<String, serde_json::Value>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ResponseError> {
    let arr = data
        .get("time")
        .and_then(|v| v.as_array())
        .ok_or(ResponseError::MissingVariable { section, variable: "time".into() })?;
    arr.iter()
        .map(|v| {
            let s = v.as_str().unwrap_or_default();
            parse(s).ok_or_else(|| ResponseError::Time { section, value: v.to_string() })
        })
        .collect()
}

fn column(
    section: &'static str,
    name: &str,
    data: &BTreeMap<String, serde_json::Value>,
    units: &BTreeMap<String, String>,
    var: Variable,
    expected: usize,
) -> Result<Vec<Option<f64>>, ResponseError> {
    let missing = || ResponseError::MissingVariable { section, variable: name.to_owned() };
    let arr = data.get(name).and_then(|v| v.as_array()).ok_or_else(missing)?;
    if arr.len() != expected {
        return Err(ResponseError::Length { section, variable: name.into(), got: arr.len(), expected });
    }
    let declared = units.get(name).ok_or_else(|| ResponseError::MissingVariable {
        section: if section == "daily" { "daily_units" } else { "hourly_units" },
        variable: name.into(),
    })?;
    let unit = declared.parse::<Unit>().ok().filter(|u| u.convert(0.0, var.unit()).is_some()).ok_or_else(|| {
        ResponseError::Unit { section, variable: name.into(), unit: declared.clone(), canonical: var.unit() }
    })?;
    Ok(arr.iter().map(|v| v.as_f64().and_then(|x| unit.convert(x, var.unit()))).collect())
}

/// Values outside the physically possible range are source errors: they become missing.
fn clamp_to_range(mut v: Values) -> Values {
    for var in Variable::ALL {
        if let Some(x) = v.get(var) {
            let (lo, hi) = var.valid_range();
            if !(lo..=hi).contains(&x) {
                v.set(var, None);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> WeatherPoint {
        WeatherPoint { id: "chur".into(), latitude: 46.85, longitude: 9.47, elevation_m: 600.0 }
    }

    fn req<'a>(p: &'a WeatherPoint, daily: &'a [String], hourly: &'a [String]) -> Request<'a> {
        Request {
            base_url: "http://127.0.0.1:1",
            endpoint: Endpoint::Archive,
            point: p,
            from: NaiveDate::from_ymd_opt(2021, 2, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2021, 2, 2).unwrap(),
            timezone: "Europe/Zurich",
            daily,
            hourly,
        }
    }

    #[test]
    fn url_carries_point_window_variables_and_timezone() {
        let p = point();
        let daily = vec!["snowfall_sum".to_string(), "temperature_2m_mean".to_string()];
        let url = req(&p, &daily, &[]).url();
        assert_eq!(
            url,
            "http://127.0.0.1:1/v1/archive?latitude=46.85&longitude=9.47&elevation=600&start_date=2021-02-01\
             &end_date=2021-02-02&timezone=Europe%2FZurich&wind_speed_unit=ms&daily=snowfall_sum,temperature_2m_mean"
        );
    }

    #[test]
    fn parses_declared_units_nulls_and_hourly_means() {
        let p = point();
        let daily = vec!["snowfall_sum".to_string(), "temperature_2m_mean".to_string()];
        let hourly = vec!["snow_depth".to_string()];
        let body = r#"{"latitude":46.85,"longitude":9.47,"generationtime_ms":0.1,"utc_offset_seconds":3600,
            "timezone":"Europe/Zurich","timezone_abbreviation":"CET","elevation":600.0,
            "daily_units":{"time":"iso8601","snowfall_sum":"mm","temperature_2m_mean":"°F"},
            "daily":{"time":["2021-02-01","2021-02-02"],"snowfall_sum":[12.0,null],"temperature_2m_mean":[32.0,41.0]},
            "hourly_units":{"time":"iso8601","snow_depth":"m"},
            "hourly":{"time":["2021-02-01T00:00","2021-02-01T01:00","2021-02-02T00:00"],"snow_depth":[0.5,0.7,null]}}"#;
        let rows = parse(body, &req(&p, &daily, &hourly)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].values.new_snow_cm, Some(1.2));
        assert_eq!(rows[1].values.new_snow_cm, None);
        assert!((rows[1].values.t_mean_c.unwrap() - 5.0).abs() < 1e-9);
        assert!((rows[0].values.snow_depth_cm.unwrap() - 60.0).abs() < 1e-9);
        assert_eq!(rows[1].values.snow_depth_cm, None);
    }
}

/// Parses an Open-Meteo CSV export (the download format of its historical-weather page: a location header line and
/// its values, a blank line, then `time,<variable> (<unit>),...`) into canonical daily rows for point `point_id`.
/// Units are read from the column names and converted; empty cells stay missing.
pub fn parse_csv_export(text: &str, point_id: &str) -> Result<Vec<DailyWeather>, ResponseError> {
    let mut lines = text.lines();
    let (head, values) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let meta: BTreeMap<&str, f64> = head
        .split(',')
        .zip(values.split(','))
        .filter_map(|(k, v)| v.trim().parse().ok().map(|v| (k.trim(), v)))
        .collect();
    let get = |k: &str| {
        meta.get(k).copied().ok_or_else(|| ResponseError::MissingVariable { section: "location", variable: k.into() })
    };
    let (latitude, longitude, elevation_m) = (get("latitude")?, get("longitude")?, get("elevation")?);
    let mut table = lines.skip_while(|l| l.trim().is_empty());
    let header: Vec<&str> = table.next().unwrap_or("").split(',').collect();
    if header.first().map(|h| h.trim()) != Some("time") {
        return Err(ResponseError::MissingVariable { section: "table", variable: "time".into() });
    }
    // "snowfall_sum (cm)" -> (variable, unit)
    let mut columns = Vec::new();
    for (i, h) in header.iter().enumerate().skip(1) {
        let (name, unit) =
            h.trim().split_once(" (").map(|(n, u)| (n, u.trim_end_matches(')'))).unwrap_or((h.trim(), ""));
        let Some((_, var)) = DAILY.iter().find(|(n, _)| *n == name) else { continue };
        let unit = unit.parse::<Unit>().ok().filter(|u| u.convert(0.0, var.unit()).is_some()).ok_or_else(|| {
            ResponseError::Unit { section: "table", variable: name.into(), unit: unit.into(), canonical: var.unit() }
        })?;
        columns.push((i, *var, unit));
    }
    let mut rows = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in table.filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').collect();
        let date = NaiveDate::parse_from_str(cells[0].trim(), "%Y-%m-%d")
            .map_err(|_| ResponseError::Time { section: "table", value: cells[0].into() })?;
        if !seen.insert(date) {
            return Err(ResponseError::DuplicateDate { section: "table", date });
        }
        let mut values = Values::default();
        for (i, var, unit) in &columns {
            let v = cells.get(*i).and_then(|c| c.trim().parse::<f64>().ok()).and_then(|x| unit.convert(x, var.unit()));
            values.set(*var, v);
        }
        rows.push(DailyWeather {
            date,
            point_id: point_id.into(),
            source: "open_meteo".into(),
            longitude,
            latitude,
            elevation_m,
            values: clamp_to_range(values),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod csv_export_tests {
    use super::*;

    #[test]
    fn reads_the_export_layout_with_units() {
        let text = "latitude,longitude,elevation,utc_offset_seconds,timezone,timezone_abbreviation\n\
                    46.85413,9.46602,600.0,7200,Europe/Zurich,CEST\n\n\
                    time,temperature_2m_max (°C),rain_sum (mm),snowfall_sum (cm)\n\
                    2018-01-01,7.9,4.20,0.21\n2018-01-02,,2.60,0.77\n";
        let rows = parse_csv_export(text, "chur").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].latitude, rows[0].elevation_m), (46.85413, 600.0));
        assert_eq!(rows[0].values.t_max_c, Some(7.9));
        assert_eq!(rows[1].values.t_max_c, None);
        assert_eq!(rows[1].values.new_snow_cm, Some(0.77));
        assert!(parse_csv_export("latitude\n1\n\nday,x\n", "p").is_err());
    }
}
