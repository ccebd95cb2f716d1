//! Avalanche-observation ingest: dated avalanche records (CSV or GeoJSON, any CRS) normalised onto the site grid,
//! the weather recorded with them, and label rasters for a day.
//!
//! ```text
//!  site.toml [[observations]]: path, format, crs, column mapping, weather mapping
//!        │  csv_file / geojson_file: every record, mapped fields as text            (missing column = error)
//!        ▼
//!  RawRecord ──normalise──► date (site-local day) ─► coordinates ─► site CRS + grid cell ─► duplicates
//!        │                      each failed check excludes the record under one Reason, counted in a FileReport
//!        ▼
//!  Event (+ DailyWeather per event when the source maps weather)
//!        │  ingest: both tables staged next to their destination, renamed into place only when both are written
//!        ▼
//!  <site>/observations/events.parquet, event_weather.parquet      labels::write_labels ─► <site>/labels/<day>.tif
//! ```
//!
//! Conventions:
//! - **Day.** An event's `date` is the site-local calendar day ([`Site::timezone`]): a plain date as written, a
//!   naive date-time as site-local time, a date-time with offset converted to the site zone (see [`date`]).
//! - **Position.** `x`, `y` are the start point in the site CRS (metres); for an outline (GeoJSON Polygon or
//!   MultiPolygon) its area centroid, with the outline kept as WKT in the site CRS. `col`, `row` is the site-grid
//!   cell of that point (0, 0 = north-west).
//! - **Ids.** The mapped id column, else `<source>-<row>`; an id repeated at another date or cell in the same file
//!   gets `#<row>` appended, so (`source`, `id`) is unique. Weather rows use point id `event:<id>`.
//! - **Nothing silent.** Every excluded record is counted under one [`Reason`] in its file's [`FileReport`], with
//!   example rows; kept records whose elevation or weather values were unusable (set to null) are counted as
//!   [`Note`]s. A wrong file, mapping or format is an [`ObservationError`] and writes nothing.
//!
//! Biases a model trained on these labels inherits (and that the risk maps must be read with):
//! - **Records follow people.** Accident databases (SLF, LAWIS) record avalanches that caught someone, so
//!   positives cluster along popular ski tours, freeride slopes and roads; remote terrain that releases unseen
//!   looks "safe". Observer reports (CAIC) are denser near highways and resorts. A 0 label means "nothing
//!   recorded", not "no avalanche".
//! - **Position uncertainty.** Coordinates are the reporter's estimate of the start zone, often from a map or a
//!   phone at the deposit; LAWIS writes 5 decimals (~1 m), but the estimate itself can be off by one to a few
//!   hundred metres, several cells of a 90 m grid. Swapped latitude/longitude is detected and excluded rather than
//!   repaired, and records just outside the site are excluded even when the avalanche reached into it.
//! - **The label radius.** [`label_raster`] marks every cell within `radius_m` of a start point: a larger radius
//!   absorbs position error but labels neighbouring ridges and valley floors as starting zones; a radius below
//!   half a cell labels only the recorded cell. Outlines are reduced to their centroid, so a long slab's far end is
//!   labelled only when the radius reaches it.
//! - **Weather with the events** is whatever the source attached (SLF: means of nearby IMIS stations; LAWIS:
//!   Open-Meteo at the incident), exists only on event days, and must not be mixed with the site's daily weather
//!   without care: it is a different sampling of the weather, conditioned on an avalanche.
mod csv_file;
pub mod date;
mod geojson_file;
pub mod labels;
mod normalise;
mod points;
mod polygon;
mod record;
pub mod report;
mod table;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use tracing::{info, warn};

use crate::config::plan::{ObservationFormat, Site};
use crate::geo::raster::Staged;
use crate::geo::GeoError;
use crate::ingest::weather::schema::{self, DailyWeather};
use crate::store::Store;

pub use crate::config::params::ObservationParams;
pub use labels::{label_raster, write_labels, LabelStats};
pub use normalise::ELEVATION_RANGE_M;
pub use report::{FileReport, Note, ObservationSummary, Reason, Tally};
pub use table::{load_event_weather, load_events, save_events};

/// One kept avalanche record, normalised to the site.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The source's id, else `<source>-<row>` (unique per source, see the module conventions).
    pub id: String,
    /// Site-local calendar day.
    pub date: NaiveDate,
    /// Start point in the site CRS, metres.
    pub x: f64,
    pub y: f64,
    /// Site-grid cell of the start point.
    pub col: usize,
    pub row: usize,
    /// The avalanche outline in the site CRS (WKT), when the source has one.
    pub polygon_wkt: Option<String>,
    /// Avalanche type (slab, loose, gliding...), as written.
    pub kind: Option<String>,
    /// Size (e.g. EAWS 1-5, or D-scale), as written.
    pub size: Option<String>,
    /// Trigger (natural, human...), as written.
    pub trigger: Option<String>,
    /// Start-zone elevation as recorded, metres above sea level.
    pub elevation_m: Option<f64>,
    /// `ObservationSource::source`.
    pub source: String,
}

#[cfg(test)]
impl Event {
    /// A record at (x, y) on `date` ("YYYY-MM-DD") with no attribute, for unit tests.
    pub(crate) fn at(x: f64, y: f64, date: &str) -> Event {
        Event {
            id: "e".into(),
            date: date.parse().unwrap(),
            x,
            y,
            col: 0,
            row: 0,
            polygon_wkt: None,
            kind: None,
            size: None,
            trigger: None,
            elevation_m: None,
            source: "test".into(),
        }
    }
}

/// A problem with an observation file or output that stops the ingest; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ObservationError {
    #[error("observation file not found: {path} (an [[observations]] path is relative to the site folder)")]
    NotFound { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: no column `{column}` (mapped to {field}); the file's columns are {}{hint}", show_header(.header))]
    MissingColumn { path: PathBuf, column: String, field: String, header: Vec<String>, hint: String },
    #[error("{path}: a CSV source needs `x` and `y` in its [observations.columns]")]
    NoCoordinateColumns { path: PathBuf },
    #[error("{path}: unreadable CSV at line {line}: {message}")]
    Csv { path: PathBuf, line: u64, message: String },
    #[error("{path}: invalid GeoJSON: {message}")]
    GeoJson { path: PathBuf, message: String },
    #[error("{path}: the file declares CRS `{declared}` but site.toml says {configured} for it: fix one of them")]
    CrsMismatch { path: PathBuf, declared: String, configured: String },
    #[error("no events table at {path}: run the observation ingest first")]
    NoTable { path: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Table { action: &'static str, path: PathBuf, source: Box<polars::error::PolarsError> },
    #[error("{site}: no [[observations]] entry to read {path} with; add one (format, CRS, columns)")]
    NoMapping { site: PathBuf, path: PathBuf },
    #[error(transparent)]
    Geo(#[from] GeoError),
}

fn show_header(header: &[String]) -> String {
    if header.is_empty() {
        return "none (empty file?)".to_owned();
    }
    let cols: Vec<String> = header.iter().map(|h| format!("`{h}`")).collect();
    cols.join(", ")
}

/// What [`read_events`] returns: kept events, one report per file, weather rows of the events.
pub type SiteObservations = (Vec<Event>, Vec<FileReport>, Vec<DailyWeather>);

/// Reads every `[[observations]]` source of `site`: the kept events (file order, sources in configuration order),
/// one report per file, and the weather rows of the sources that map weather. Writes nothing.
pub fn read_events(site: &Site) -> Result<SiteObservations, ObservationError> {
    let today = date::today(site.timezone);
    let (mut events, mut reports, mut weather) = (Vec::new(), Vec::new(), Vec::new());
    for src in &site.observations {
        let records = match src.format {
            ObservationFormat::Csv => csv_file::read(src)?,
            ObservationFormat::GeoJson => geojson_file::read(src)?,
        };
        let file = normalise::normalise(site, src, records, today)?;
        let r = &file.report;
        let (path, excluded) = (r.path.display(), r.excluded_total());
        info!(site = %site.id, file = %path, records = r.records, kept = r.kept, excluded, "observations read");
        if r.records > 0 && r.kept == 0 {
            warn!(site = %site.id, file = %path, "no record kept: check the CRS, the x/y mapping and the site bounds");
        }
        events.extend(file.events);
        weather.extend(file.weather);
        reports.push(file.report);
    }
    Ok((events, reports, weather))
}

/// `site` reading `records` instead of its own files, with the column mapping of its first `[[observations]]` entry:
/// how records of a new winter are scored without touching the site's store.
pub fn with_records(site: &Site, records: &Path) -> Result<Site, ObservationError> {
    let Some(reader) = site.observations.first().cloned() else {
        return Err(ObservationError::NoMapping { site: site.file.clone(), path: records.to_owned() });
    };
    let observations = vec![crate::config::ObservationSource { path: records.to_owned(), ..reader }];
    Ok(Site { observations, ..site.clone() })
}

pub fn ingest(site: &Site, store: &Store) -> Result<ObservationSummary, ObservationError> {
    let (events, files, weather) = read_events(site)?;
    let events_path = store.events(&site.id);
    let weather_path = store.event_weather(&site.id);
    let table_err = |path: &PathBuf| {
        let path = path.clone();
        move |e| ObservationError::Table { action: "build the table for", path, source: Box::new(e) }
    };
    let mut ev = table::events_frame(&events).map_err(table_err(&events_path))?;
    let mut wx = schema::to_frame(&weather, site.timezone).map_err(table_err(&weather_path))?;
    let staged_events = Staged::new(&events_path)?;
    let staged_weather = Staged::new(&weather_path)?;
    table::write_parquet(&mut ev, staged_events.path())?;
    table::write_parquet(&mut wx, staged_weather.path())?;
    staged_events.commit()?;
    staged_weather.commit()?;
    info!(site = %site.id, events = events.len(), weather_rows = weather.len(), "observations written");
    Ok(ObservationSummary {
        site: site.id.clone(),
        files,
        events: events.len(),
        weather_rows: weather.len(),
        events_path,
        weather_path,
    })
}
