//! A record as read from a source file, before any check: the text of its mapped fields and its raw location.
//! The CSV and GeoJSON readers produce these; `normalise` turns them into events or counted rejections.
use std::path::Path;

use crate::config::plan::ObservationSource;

use super::ObservationError;

/// Where a record says it happened, in the file's CRS.
#[derive(Debug, Clone, PartialEq)]
pub enum RawLocation {
    /// CSV coordinate fields as written (`None`: empty).
    Text { x: Option<String>, y: Option<String> },
    /// A GeoJSON Point.
    Point(f64, f64),
    /// GeoJSON Polygon (one entry) or MultiPolygon: polygons of rings (exterior first) of (x, y) vertices.
    Polygons(Vec<Vec<Vec<(f64, f64)>>>),
    /// A feature without geometry.
    Missing,
    /// A geometry with a position of fewer than two numbers.
    Invalid,
    /// A geometry of another type, named.
    Unsupported(&'static str),
}

/// The mapped fields of one record (trimmed text, `None` when empty or absent).
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    /// 1-based record number in file order (see [`super::report`]).
    pub row: usize,
    pub date: Option<String>,
    pub location: RawLocation,
    pub id: Option<String>,
    pub kind: Option<String>,
    pub size: Option<String>,
    pub trigger: Option<String>,
    pub elevation: Option<String>,
    /// Aligned with `ObservationSource::weather`.
    pub weather: Vec<Option<String>>,
    /// The whole record (every column or the whole feature), to recognise identical rows.
    pub content: String,
}

impl RawRecord {
    /// Builds a record from a lookup of mapped columns (`get(column)` gives the raw text of that column).
    pub fn from_fields(
        src: &ObservationSource,
        row: usize,
        location: RawLocation,
        content: String,
        get: impl Fn(&str) -> Option<String>,
    ) -> RawRecord {
        let c = &src.columns;
        let opt = |col: &Option<String>| col.as_deref().and_then(&get);
        RawRecord {
            row,
            date: get(&c.date),
            location,
            id: opt(&c.id),
            kind: opt(&c.kind),
            size: opt(&c.size),
            trigger: opt(&c.trigger),
            elevation: opt(&c.elevation),
            weather: src.weather.iter().map(|(_, spec)| get(&spec.column)).collect(),
            content,
        }
    }
}

/// Trims a field; empty means absent.
pub fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// The columns (CSV) or properties (GeoJSON) a source's mapping names, each with the field it feeds. `with_xy`:
/// include the coordinate columns (CSV only).
pub fn mapped_columns(src: &ObservationSource, with_xy: bool) -> Vec<(String, String)> {
    let c = &src.columns;
    let mut out = vec![(c.date.clone(), "date".to_owned())];
    if with_xy {
        out.extend(c.x.iter().map(|x| (x.clone(), "x".to_owned())));
        out.extend(c.y.iter().map(|y| (y.clone(), "y".to_owned())));
    }
    for (col, field) in
        [(&c.id, "id"), (&c.kind, "type"), (&c.size, "size"), (&c.trigger, "trigger"), (&c.elevation, "elevation")]
    {
        out.extend(col.iter().map(|col| (col.clone(), field.to_owned())));
    }
    for (var, spec) in &src.weather {
        out.push((spec.column.clone(), format!("weather.{}", var.column())));
    }
    out
}

/// Opens a source file, telling a missing file from another I/O error.
pub fn open(path: &Path) -> Result<fs_err::File, ObservationError> {
    fs_err::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ObservationError::NotFound { path: path.to_owned() },
        _ => ObservationError::Io { path: path.to_owned(), source: e },
    })
}
