//! From raw records to events. Each record goes through the checks in order and is either kept or excluded with the
//! first [`Reason`] it fails: date, coordinates, position on the site grid (with the swapped-axes test), duplicate.
//! Kept records then have their optional fields read (a bad elevation or weather value becomes null and is noted).
use std::collections::HashSet;

use chrono::NaiveDate;

use crate::config::plan::ObservationSource;
use crate::config::Site;
use crate::geo::Crs;
use crate::ingest::weather::schema::{DailyWeather, Values};

use super::date::{self, DateProblem};
use super::points::PointTransform;
use super::polygon;
use super::record::{RawLocation, RawRecord};
use super::report::{FileReport, Note, Reason};
use super::{Event, ObservationError};

/// Elevations accepted for a start zone, metres above sea level (below the Dead Sea shore or above Everest is a
/// unit or typing error).
pub const ELEVATION_RANGE_M: (f64, f64) = (-500.0, 9000.0);

/// Cell texts that mean "no value" in exported tables (compared case-insensitively).
const NO_VALUE: [&str; 6] = ["na", "n/a", "nan", "null", "none", "-"];

/// Events, their weather rows and the report of one file.
#[derive(Debug)]
pub struct FileEvents {
    pub events: Vec<Event>,
    pub weather: Vec<DailyWeather>,
    pub report: FileReport,
}

/// Where a record is, in the file's CRS, once its coordinates parsed.
enum Shape {
    Point(f64, f64),
    Polygons(Vec<Vec<Vec<(f64, f64)>>>),
}

/// A record placed on the site grid.
struct Placed {
    rec: RawRecord,
    date: NaiveDate,
    x: f64,
    y: f64,
    col: usize,
    row: usize,
    polygon_wkt: Option<String>,
    /// The point as written (file CRS), for points; outlines have none.
    file_point: Option<(f64, f64)>,
}

/// Checks and normalises the records of one source. `today` is the site-local day after which dates are impossible.
pub fn normalise(
    site: &Site,
    src: &ObservationSource,
    records: Vec<RawRecord>,
    today: NaiveDate,
) -> Result<FileEvents, ObservationError> {
    let mut report = FileReport::new(&src.path, &src.source);
    report.records = records.len();
    let mut parsed = Vec::new();
    for rec in records {
        let date = match date::local_day(rec.date.as_deref().unwrap_or(""), site.timezone, today) {
            Ok(d) => d,
            Err(DateProblem::Unparseable) => {
                report.exclude(Reason::BadDate, rec.row);
                continue;
            }
            Err(DateProblem::Impossible) => {
                report.exclude(Reason::ImpossibleDate, rec.row);
                continue;
            }
        };
        match shape(&rec.location) {
            Ok(s) => parsed.push((rec, date, s)),
            Err(reason) => report.exclude(reason, rec.row),
        }
    }
    let placed = place(site, src, parsed, &mut report)?;
    let placed = drop_duplicates(placed, &mut report);
    let (events, weather) = finish(site, src, placed, &mut report)?;
    report.kept = events.len();
    Ok(FileEvents { events, weather, report })
}

/// Parses the coordinates of a record (no CRS check yet).
fn shape(loc: &RawLocation) -> Result<Shape, Reason> {
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    match loc {
        RawLocation::Text { x: Some(x), y: Some(y) } => match (number(x), number(y)) {
            (Ok(Some(x)), Ok(Some(y))) => Ok(Shape::Point(x, y)),
            (Ok(None), _) | (_, Ok(None)) => Err(Reason::MissingCoordinates),
            _ => Err(Reason::BadCoordinates),
        },
        RawLocation::Text { .. } | RawLocation::Missing => Err(Reason::MissingCoordinates),
        RawLocation::Point(x, y) if finite(&(*x, *y)) => Ok(Shape::Point(*x, *y)),
        RawLocation::Polygons(p)
            if !p.is_empty()
                && p.iter().all(|rings| rings.first().is_some_and(|r| r.len() >= 4))
                && p.iter().flatten().flatten().all(finite) =>
        {
            Ok(Shape::Polygons(p.clone()))
        }
        RawLocation::Point(..) | RawLocation::Polygons(_) | RawLocation::Invalid => Err(Reason::BadCoordinates),
        RawLocation::Unsupported(_) => Err(Reason::UnsupportedGeometry),
    }
}

/// A number cell: `Ok(None)` when empty or a no-value token, `Err` when not a finite number.
fn number(text: &str) -> Result<Option<f64>, ()> {
    let t = text.trim();
    if t.is_empty() || NO_VALUE.iter().any(|n| t.eq_ignore_ascii_case(n)) {
        return Ok(None);
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(()),
    }
}

/// A parsed record in the site CRS.
enum InSite {
    /// Start point, and the outline as WKT for polygons.
    At((f64, f64), Option<String>),
    /// A vertex the transformation cannot map (not a position of the file CRS, or far beyond the site CRS's area).
    Unmappable,
    /// An outline of zero area.
    Degenerate,
}

impl Shape {
    fn vertices(&self) -> Vec<(f64, f64)> {
        match self {
            Shape::Point(x, y) => vec![(*x, *y)],
            Shape::Polygons(p) => p.iter().flatten().flatten().copied().collect(),
        }
    }
}

/// Transforms the records to the site CRS and finds their grid cells. A record outside the grid is tested with x and
/// y exchanged: inside that way, it is reported as swapped (and still excluded: which axis is wrong is a guess).
fn place(
    site: &Site,
    src: &ObservationSource,
    parsed: Vec<(RawRecord, NaiveDate, Shape)>,
    report: &mut FileReport,
) -> Result<Vec<Placed>, ObservationError> {
    let t = PointTransform::new(&src.crs, &site.grid.crs)?;
    // Every vertex of every record in one batch: PROJ per call is the cost, not per point.
    let vertices: Vec<(f64, f64)> = parsed.iter().flat_map(|(_, _, s)| s.vertices()).collect();
    let moved = t.apply(&vertices);
    let mut next = 0;
    let mut located = Vec::with_capacity(parsed.len());
    for (rec, date, s) in parsed {
        let n = s.vertices().len();
        let out: Option<Vec<(f64, f64)>> = moved[next..next + n].iter().copied().collect();
        next += n;
        let in_site = match (&s, out) {
            (_, None) => InSite::Unmappable,
            (Shape::Point(..), Some(v)) => InSite::At(v[0], None),
            (Shape::Polygons(p), Some(v)) => {
                // The same nesting as the file's polygons, with the moved vertices.
                let mut it = v.into_iter();
                let moved: Vec<Vec<Vec<(f64, f64)>>> =
                    p.iter().map(|rings| rings.iter().map(|r| it.by_ref().take(r.len()).collect()).collect()).collect();
                match polygon::centroid(&moved) {
                    Some(c) => InSite::At(c, Some(polygon::wkt(&moved))),
                    None => InSite::Degenerate,
                }
            }
        };
        located.push((rec, date, s, in_site));
    }

    // Records off the grid: would they be on it with the axes exchanged? (An outline is tested by its mean vertex.)
    let cell = |p: &InSite| match p {
        InSite::At((x, y), _) => site.grid.cell_at(*x, *y),
        _ => None,
    };
    let off_grid = |p: &InSite| !matches!(p, InSite::Degenerate) && cell(p).is_none();
    let swapped: Vec<(f64, f64)> = located
        .iter()
        .filter(|(_, _, _, p)| off_grid(p))
        .map(|(_, _, s, _)| {
            let v = s.vertices();
            let n = v.len() as f64;
            (v.iter().map(|p| p.1).sum::<f64>() / n, v.iter().map(|p| p.0).sum::<f64>() / n)
        })
        .collect();
    let mut swapped = t.apply(&swapped).into_iter();

    let mut placed = Vec::with_capacity(located.len());
    for (rec, date, s, p) in located {
        if let (Some((col, row)), InSite::At((x, y), polygon_wkt)) = (cell(&p), &p) {
            let file_point = match s {
                Shape::Point(x, y) => Some((x, y)),
                Shape::Polygons(_) => None,
            };
            let (x, y, polygon_wkt) = (*x, *y, polygon_wkt.clone());
            placed.push(Placed { rec, date, x, y, col, row, polygon_wkt, file_point });
            continue;
        }
        let reason = if !off_grid(&p) {
            Reason::BadCoordinates
        } else if swapped.next().flatten().and_then(|(x, y)| site.grid.cell_at(x, y)).is_some() {
            Reason::SwappedLatLon
        } else if !s.vertices().iter().all(|v| t.plausible(*v)) {
            Reason::BadCoordinates
        } else {
            Reason::OutsideGrid
        };
        report.exclude(reason, rec.row);
    }
    Ok(placed)
}

/// The record's id: the mapped column, else `<source>-<row>`.
fn record_id(src: &ObservationSource, rec: &RawRecord) -> String {
    rec.id.clone().unwrap_or_else(|| format!("{}-{}", src.source, rec.row))
}

/// Drops later records with the same (date, cell, id) as an earlier one, or the same content. Only records that
/// passed every other check take part: an exact copy of an excluded row is excluded for the same reason.
fn drop_duplicates(placed: Vec<Placed>, report: &mut FileReport) -> Vec<Placed> {
    let mut keys = HashSet::new();
    let mut contents = HashSet::new();
    let mut kept = Vec::with_capacity(placed.len());
    for p in placed {
        // The id as written (`None` for generated ids, which are unique by construction).
        let key = p.rec.id.clone().map(|id| (p.date, p.col, p.row, id));
        let new_key = key.is_none_or(|k| keys.insert(k));
        let new_content = contents.insert(p.rec.content.clone());
        if new_key && new_content {
            kept.push(p);
        } else {
            report.exclude(Reason::Duplicate, p.rec.row);
        }
    }
    kept
}

/// Builds the events (unique ids, optional fields) and, when the source maps weather, one weather row per event.
fn finish(
    site: &Site,
    src: &ObservationSource,
    placed: Vec<Placed>,
    report: &mut FileReport,
) -> Result<(Vec<Event>, Vec<DailyWeather>), ObservationError> {
    let mut used: HashSet<String> = HashSet::new();
    let mut events = Vec::with_capacity(placed.len());
    for p in &placed {
        let mut id = record_id(src, &p.rec);
        if used.contains(&id) {
            report.note(Note::RepeatedId, p.rec.row);
            id = format!("{id}#{}", p.rec.row);
        }
        used.insert(id.clone());
        let elevation_m = match p.rec.elevation.as_deref().map(number) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(v))) if (ELEVATION_RANGE_M.0..=ELEVATION_RANGE_M.1).contains(&v) => Some(v),
            Some(_) => {
                report.note(Note::BadElevation, p.rec.row);
                None
            }
        };
        events.push(Event {
            id,
            date: p.date,
            x: p.x,
            y: p.y,
            col: p.col,
            row: p.row,
            polygon_wkt: p.polygon_wkt.clone(),
            kind: p.rec.kind.clone(),
            size: p.rec.size.clone(),
            trigger: p.rec.trigger.clone(),
            elevation_m,
            source: src.source.clone(),
        });
    }
    if src.weather.is_empty() {
        return Ok((events, Vec::new()));
    }

    // WGS84 position: a point from its coordinates as written (exact when the file is in WGS84), an outline from
    // its centroid in the site CRS.
    let from_file = PointTransform::new(&src.crs, &Crs::wgs84())?
        .apply(&placed.iter().map(|p| p.file_point.unwrap_or((f64::NAN, f64::NAN))).collect::<Vec<_>>());
    let from_site = PointTransform::new(&site.grid.crs, &Crs::wgs84())?
        .apply(&events.iter().map(|e| (e.x, e.y)).collect::<Vec<_>>());
    let lonlat =
        placed.iter().zip(from_file).zip(from_site).map(|((p, f), s)| if p.file_point.is_some() { f } else { s });
    let mut weather = Vec::with_capacity(events.len());
    for ((e, p), ll) in events.iter().zip(&placed).zip(lonlat) {
        let mut values = Values::default();
        for ((var, spec), text) in src.weather.iter().zip(&p.rec.weather) {
            let v = match text.as_deref().map(number) {
                None | Some(Ok(None)) => None,
                Some(Err(())) => {
                    report.note(Note::BadWeatherValue, p.rec.row);
                    None
                }
                Some(Ok(Some(v))) => {
                    let (lo, hi) = var.valid_range();
                    match spec.unit.convert(v, var.unit()) {
                        Some(c) if (lo..=hi).contains(&c) => Some(c),
                        _ => {
                            report.note(Note::WeatherOutOfRange, p.rec.row);
                            None
                        }
                    }
                }
            };
            values.set(*var, v);
        }
        let (longitude, latitude) = ll.unwrap_or((f64::NAN, f64::NAN));
        weather.push(DailyWeather {
            date: e.date,
            point_id: format!("event:{}", e.id),
            source: "event".to_owned(),
            longitude,
            latitude,
            elevation_m: e.elevation_m.unwrap_or(f64::NAN),
            values,
        });
    }
    Ok((events, weather))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_cells() {
        assert_eq!(number(" 2.5 "), Ok(Some(2.5)));
        assert_eq!(number("-1e3"), Ok(Some(-1000.0)));
        for t in ["", "  ", "NA", "nan", "NULL", "-"] {
            assert_eq!(number(t), Ok(None), "{t}");
        }
        for t in ["abc", "1,5", "inf", "12 m"] {
            assert_eq!(number(t), Err(()), "{t}");
        }
    }
}
