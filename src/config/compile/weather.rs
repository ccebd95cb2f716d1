//! The `[weather]` table of a site: Open-Meteo points or station files, their variables and units.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::config::raw::{RawColumn, RawWeather};
use crate::geo::{Bounds, Crs};
use crate::vocab::units::{ColumnSpec, Unit};
use crate::vocab::weather::StationFormat;
use crate::vocab::weather::Variable;
use crate::vocab::weather::{Endpoint, DAILY, HOURLY};

use super::*;

pub(super) fn compile_weather(
    w: &RawWeather,
    dir: &Path,
    crs: Option<&Crs>,
    bounds: Option<Bounds>,
    e: &mut Errors,
) -> WeatherSource {
    // Points and stations must lie on (or near) the site: their weather is spread over its grid.
    let check_point = |key: String, id: &str, lat: f64, lon: f64, e: &mut Errors| {
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            e.push(
                key,
                format!("`{id}`: latitude {lat} / longitude {lon} out of range (WGS84 degrees; latitude first?)"),
            );
            return;
        }
        if let (Some(crs), Some(b)) = (crs, bounds) {
            let (mut x, mut y) = ([lon], [lat]);
            let margin = 0.5 * (b.xmax - b.xmin).max(b.ymax - b.ymin);
            let near =
                Bounds { xmin: b.xmin - margin, ymin: b.ymin - margin, xmax: b.xmax + margin, ymax: b.ymax + margin };
            if Crs::wgs84().transform_points(crs, &mut x, &mut y).is_ok()
                && !near.contains(&Bounds { xmin: x[0], ymin: y[0], xmax: x[0], ymax: y[0] })
            {
                e.push(key, format!("`{id}` lies far outside the site bounds (latitude {lat}, longitude {lon})"));
            }
        }
    };
    match w {
        RawWeather::OpenMeteo { base_url, endpoint, points, daily, hourly, recorded } => {
            let daily = daily.clone().unwrap_or_else(|| DAILY.iter().map(|(n, _)| n.to_string()).collect());
            let hourly = hourly.clone().unwrap_or_else(|| HOURLY.iter().map(|(n, _)| n.to_string()).collect());
            for (key, names, known) in [
                ("weather.daily", &daily, DAILY.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
                ("weather.hourly", &hourly, HOURLY.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
            ] {
                for n in names.iter().filter(|n| !known.contains(&n.as_str())) {
                    e.push(key, format!("`{n}` is not an Open-Meteo variable avarisk reads: use {}", known.join(", ")));
                }
            }
            if daily.is_empty() && hourly.is_empty() {
                e.push("weather.daily", "request at least one variable");
            }
            let endpoint = match endpoint.as_deref().unwrap_or("archive").parse::<Endpoint>() {
                Ok(ep) => ep,
                Err(m) => {
                    e.push("weather.endpoint", m);
                    Endpoint::Archive
                }
            };
            let base_url = base_url.clone().unwrap_or_else(|| endpoint.default_base_url().to_owned());
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                e.push("weather.base_url", format!("`{base_url}` is not an http(s) URL"));
            }
            if points.is_empty() {
                e.push("weather.points", "at least one query point is needed");
            }
            let mut ids = BTreeSet::new();
            for (i, p) in points.iter().enumerate() {
                if !ids.insert(p.id.clone()) {
                    e.push(format!("weather.points[{i}].id"), format!("`{}` is used twice", p.id));
                }
                check_point(format!("weather.points[{i}]"), &p.id, p.latitude, p.longitude, e);
            }
            WeatherSource::OpenMeteo {
                base_url: base_url.trim_end_matches('/').to_owned(),
                endpoint,
                points: points
                    .iter()
                    .map(|p| WeatherPoint {
                        id: p.id.clone(),
                        latitude: p.latitude,
                        longitude: p.longitude,
                        elevation_m: p.elevation_m,
                    })
                    .collect(),
                daily,
                hourly,
                recorded: recorded.as_ref().map(|r| normalize(&dir.join(r))),
            }
        }
        RawWeather::StationCsv { format, delimiter, date_column, station_column, columns, stations } => {
            let format = match format.parse::<StationFormat>() {
                Ok(f) => f,
                Err(m) => {
                    e.push("weather.format", m);
                    StationFormat::Csv
                }
            };
            if format == StationFormat::Csv && (date_column.is_none() || columns.is_empty()) {
                e.push("weather", "the generic `csv` format needs `date_column` and `columns`");
            }
            let delimiter = compile_delimiter(delimiter.as_deref(), format.default_delimiter(), "weather.delimiter", e);
            let mut mapping: Vec<(Variable, ColumnSpec)> = format.default_columns();
            for (v, spec) in compile_columns(columns, "weather.columns", e) {
                mapping.retain(|(m, _)| *m != v);
                mapping.push((v, spec));
            }
            if stations.is_empty() {
                e.push("weather.stations", "at least one station is needed");
            }
            let mut ids = BTreeSet::new();
            let mut codes = BTreeSet::new();
            for (i, st) in stations.iter().enumerate() {
                if !ids.insert(st.id.clone()) {
                    e.push(format!("weather.stations[{i}].id"), format!("`{}` is used twice", st.id));
                }
                let code = st.code.clone().unwrap_or_else(|| st.id.clone());
                // By the file's normalised path: `weather/a.csv` and `./weather/a.csv` are one file.
                let file = normalize(Path::new(&st.path));
                if !codes.insert((file.clone(), code.clone())) {
                    e.push(
                        format!("weather.stations[{i}].code"),
                        format!("`{code}` names another station of {} too", file.display()),
                    );
                }
                check_point(format!("weather.stations[{i}]"), &st.id, st.latitude, st.longitude, e);
            }
            WeatherSource::StationCsv {
                format,
                delimiter,
                date_column: date_column.clone().or_else(|| format.default_date_column().map(str::to_owned)),
                station_column: station_column.clone().or_else(|| format.default_station_column().map(str::to_owned)),
                columns: mapping,
                stations: stations
                    .iter()
                    .map(|st| Station {
                        id: st.id.clone(),
                        path: normalize(&dir.join(&st.path)),
                        code: st.code.clone().unwrap_or_else(|| st.id.clone()),
                        latitude: st.latitude,
                        longitude: st.longitude,
                        elevation_m: st.elevation_m,
                    })
                    .collect(),
            }
        }
    }
}

/// Compiles `canonical column -> source column [unit]` mappings; units must measure what the column measures.
pub(super) fn compile_columns(
    raw: &BTreeMap<String, RawColumn>,
    key: &str,
    e: &mut Errors,
) -> Vec<(Variable, ColumnSpec)> {
    let mut out = Vec::new();
    for (name, col) in raw {
        let Some(var) = Variable::from_column(name) else {
            let known: Vec<&str> = Variable::ALL.iter().map(|v| v.column()).collect();
            e.push(format!("{key}.{name}"), format!("not a canonical weather column: use one of {}", known.join(", ")));
            continue;
        };
        let (column, unit) = match col {
            RawColumn::Name(c) => (c.clone(), var.unit()),
            RawColumn::WithUnit { column, unit } => match unit.parse::<Unit>() {
                Ok(u) if u.convert(0.0, var.unit()).is_some() => (column.clone(), u),
                Ok(u) => {
                    e.push(
                        format!("{key}.{name}.unit"),
                        format!("`{u}` cannot be converted to {} ({name})", var.unit()),
                    );
                    continue;
                }
                Err(m) => {
                    e.push(format!("{key}.{name}.unit"), m);
                    continue;
                }
            },
        };
        out.push((var, ColumnSpec { column, unit }));
    }
    out
}

pub(super) fn compile_delimiter(raw: Option<&str>, default: u8, key: &str, e: &mut Errors) -> u8 {
    match raw {
        None => default,
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(d) => {
            e.push(key, format!("`{d}` is not a single-character separator"));
            default
        }
    }
}
