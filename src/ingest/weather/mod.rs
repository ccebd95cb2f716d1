//! Weather ingest: every source normalises to the canonical daily table ([`schema`]) and lands, upserted by date,
//! in the site's Parquet store ([`store`]).
//!
//! Sources (`[weather]` in site.toml): `open_meteo` ([`open_meteo`], fetched with [`fetch`]: retries, timeouts,
//! cache, `--offline`; recorded answers shipped with a site stand in when offline) and `station_csv`
//! ([`station_csv`]). All points of a site must succeed, or the store is left untouched.
pub mod fetch;
pub mod open_meteo;
pub mod schema;
pub mod station_csv;
pub mod store;
pub use crate::vocab::units;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use futures_util::future::join_all;

use crate::config::{Site, WeatherSource};
use fetch::{FetchError, Fetcher};
use schema::DailyWeather;

#[derive(Debug, thiserror::Error)]
pub enum WeatherError {
    #[error("site `{site}` has no [weather] source in its site.toml")]
    NoSource { site: String },
    #[error("site `{site}`: {source}")]
    Fetch { site: String, source: FetchError },
    #[error("site `{site}`: unusable answer from {url}: {source}")]
    Response { site: String, url: String, source: open_meteo::ResponseError },
    #[error("site `{site}`: recorded answer {path}: {message}")]
    Recorded { site: String, path: String, message: String },
    #[error("site `{site}`: {message}")]
    Station { site: String, message: String },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("site `{site}`: `--from {from}` is after `--to {to}`")]
    Window { site: String, from: NaiveDate, to: NaiveDate },
}

/// What a weather ingest did for one site.
#[derive(Debug, Clone)]
pub struct WeatherIngest {
    pub site: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rows: usize,
    pub upsert: store::Upsert,
    /// Where the rows came from, for people.
    pub origin: String,
}

impl std::fmt::Display for WeatherIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} day-point rows for {}..{} ({}): {} new, {} replaced, {} in the store",
            self.rows, self.from, self.to, self.origin, self.upsert.inserted, self.upsert.replaced, self.upsert.total
        )
    }
}

/// Reads the site's weather for [from, to] from its source, in canonical form.
pub async fn read_site(
    site: &Site,
    from: NaiveDate,
    to: NaiveDate,
    fetcher: &Fetcher,
) -> Result<(Vec<DailyWeather>, String), WeatherError> {
    if from > to {
        return Err(WeatherError::Window { site: site.id.clone(), from, to });
    }
    match site.weather.as_ref().ok_or_else(|| WeatherError::NoSource { site: site.id.clone() })? {
        WeatherSource::OpenMeteo { base_url, endpoint, points, daily, hourly, recorded } => {
            let tz = site.timezone.name();
            let tasks = points.iter().map(|point| {
                let req =
                    open_meteo::Request { base_url, endpoint: *endpoint, point, from, to, timezone: tz, daily, hourly };
                fetch_point(site, req, recorded.as_deref(), fetcher)
            });
            let mut rows = Vec::new();
            let mut from_recorded = 0;
            for r in join_all(tasks).await {
                let (point_rows, recorded) = r?;
                from_recorded += recorded as usize;
                rows.extend(point_rows);
            }
            let origin = format!(
                "open_meteo {:?}, {} point(s){}",
                endpoint,
                points.len(),
                if from_recorded > 0 { format!(", {from_recorded} from recorded answers") } else { String::new() }
            );
            Ok((rows, origin))
        }
        source @ WeatherSource::StationCsv { stations, .. } => {
            let (rows, report) = station_csv::read_source(source, from, to)
                .map_err(|e| WeatherError::Station { site: site.id.clone(), message: e.to_string() })?;
            tracing::info!(site = %site.id, "{report}");
            Ok((rows, format!("station_csv, {} station(s)", stations.len())))
        }
    }
}

/// One point: cache or network, else (offline) the site's recorded answer. Returns the rows and whether they came
/// from a recorded answer.
async fn fetch_point(
    site: &Site,
    req: open_meteo::Request<'_>,
    recorded: Option<&Path>,
    fetcher: &Fetcher,
) -> Result<(Vec<DailyWeather>, bool), WeatherError> {
    let url = req.url();
    match fetcher.get(&url).await {
        Ok(body) => {
            let rows = open_meteo::parse(&body, &req).map_err(|e| WeatherError::Response {
                site: site.id.clone(),
                url: fetch::redact(&url),
                source: e,
            })?;
            fetcher.remember(&url, &body).map_err(|e| WeatherError::Fetch { site: site.id.clone(), source: e })?;
            Ok((rows, false))
        }
        Err(FetchError::NotCached { .. })
            if recorded.is_some_and(|d| d.join(format!("{}.json", req.point.id)).exists()) =>
        {
            let path: PathBuf = recorded.expect("checked").join(format!("{}.json", req.point.id));
            let err = |message: String| WeatherError::Recorded {
                site: site.id.clone(),
                path: path.display().to_string(),
                message,
            };
            let body = fs_err::read_to_string(&path).map_err(|e| err(e.to_string()))?;
            let rows = open_meteo::parse(&body, &req).map_err(|e| err(e.to_string()))?;
            Ok((rows, true))
        }
        Err(e) => Err(WeatherError::Fetch { site: site.id.clone(), source: e }),
    }
}

/// Reads the site's weather for [from, to] and upserts it into the store at `dest`. On any error the store is
/// unchanged.
pub async fn ingest(
    site: &Site,
    dest: &Path,
    from: NaiveDate,
    to: NaiveDate,
    fetcher: &Fetcher,
) -> Result<WeatherIngest, WeatherError> {
    let (rows, origin) = read_site(site, from, to, fetcher).await?;
    let upsert = store::upsert(dest, &rows, site.timezone)?;
    Ok(WeatherIngest { site: site.id.clone(), from, to, rows: rows.len(), upsert, origin })
}
