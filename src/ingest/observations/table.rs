//! `events.parquet`: one row per kept event, and the Parquet plumbing shared with `event_weather.parquet`.
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `id` | string | the source's id, else `<source>-<row>`; `#<row>` appended when repeated |
//! | `date` | date | site-local calendar day |
//! | `x`, `y` | f64 | start point in the site CRS, metres (an outline's area centroid) |
//! | `col`, `row` | u32 | grid cell of the start point (0, 0 = north-west) |
//! | `polygon_wkt` | string, null | outline in the site CRS (WKT), when the source has one |
//! | `type`, `size`, `trigger` | string, null | as written in the source |
//! | `elevation_m` | f64, null | start-zone elevation as recorded, metres above sea level |
//! | `source` | string | `ObservationSource::source` |
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;

use super::{Event, ObservationError};
use crate::ingest::weather::schema::{self, DailyWeather};

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// The events as a DataFrame, in the order given.
pub fn events_frame(events: &[Event]) -> PolarsResult<DataFrame> {
    let strs = |f: fn(&Event) -> Option<&str>| events.iter().map(f).collect::<Vec<Option<&str>>>();
    let cols = vec![
        Column::new("id".into(), events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>()),
        Column::new("date".into(), events.iter().map(|e| (e.date - EPOCH).num_days() as i32).collect::<Vec<_>>())
            .cast(&DataType::Date)?,
        Column::new("x".into(), events.iter().map(|e| e.x).collect::<Vec<_>>()),
        Column::new("y".into(), events.iter().map(|e| e.y).collect::<Vec<_>>()),
        Column::new("col".into(), events.iter().map(|e| e.col as u32).collect::<Vec<_>>()),
        Column::new("row".into(), events.iter().map(|e| e.row as u32).collect::<Vec<_>>()),
        Column::new("polygon_wkt".into(), strs(|e| e.polygon_wkt.as_deref())),
        Column::new("type".into(), strs(|e| e.kind.as_deref())),
        Column::new("size".into(), strs(|e| e.size.as_deref())),
        Column::new("trigger".into(), strs(|e| e.trigger.as_deref())),
        Column::new("elevation_m".into(), events.iter().map(|e| e.elevation_m).collect::<Vec<_>>()),
        Column::new("source".into(), events.iter().map(|e| e.source.as_str()).collect::<Vec<_>>()),
    ];
    DataFrame::new(events.len(), cols)
}

/// Events back from a frame written by [`events_frame`].
pub fn events_from_frame(df: &DataFrame) -> PolarsResult<Vec<Event>> {
    let s = |name: &str| -> PolarsResult<StringChunked> { Ok(df.column(name)?.str()?.clone()) };
    let f = |name: &str| -> PolarsResult<Float64Chunked> { Ok(df.column(name)?.f64()?.clone()) };
    let u =
        |name: &str| -> PolarsResult<UInt32Chunked> { Ok(df.column(name)?.cast(&DataType::UInt32)?.u32()?.clone()) };
    let date = df.column("date")?.cast(&DataType::Int32)?;
    let date = date.i32()?;
    let (id, wkt, kind, size, trigger, source) =
        (s("id")?, s("polygon_wkt")?, s("type")?, s("size")?, s("trigger")?, s("source")?);
    let (x, y, elev) = (f("x")?, f("y")?, f("elevation_m")?);
    let (col, row) = (u("col")?, u("row")?);
    let owned = |c: &StringChunked, i: usize| c.get(i).map(str::to_owned);
    Ok((0..df.height())
        .map(|i| Event {
            id: owned(&id, i).unwrap_or_default(),
            date: EPOCH + chrono::Duration::days(date.get(i).unwrap_or(0) as i64),
            x: x.get(i).unwrap_or(f64::NAN),
            y: y.get(i).unwrap_or(f64::NAN),
            col: col.get(i).unwrap_or(0) as usize,
            row: row.get(i).unwrap_or(0) as usize,
            polygon_wkt: owned(&wkt, i),
            kind: owned(&kind, i),
            size: owned(&size, i),
            trigger: owned(&trigger, i),
            elevation_m: elev.get(i),
            source: owned(&source, i).unwrap_or_default(),
        })
        .collect())
}

/// Writes `df` to `path` as Parquet (the caller stages it: see `geo::raster::Staged`).
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), ObservationError> {
    let err = |e| ObservationError::Table { action: "write", path: path.to_owned(), source: Box::new(e) };
    let file = fs_err::File::create(path).map_err(|e| ObservationError::Io { path: path.to_owned(), source: e })?;
    ParquetWriter::new(file).finish(df).map_err(err)?;
    Ok(())
}

/// Writes `events` as `events.parquet` at `path`, staged and renamed into place.
pub fn save_events(events: &[Event], path: &Path) -> Result<(), ObservationError> {
    let staged = crate::geo::raster::Staged::new(path)?;
    let mut df = events_frame(events).map_err(|e| ObservationError::Table {
        action: "build",
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    write_parquet(&mut df, staged.path())?;
    staged.commit()?;
    Ok(())
}

/// Reads a Parquet file.
pub fn read_parquet(path: &Path) -> Result<DataFrame, ObservationError> {
    let file = fs_err::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ObservationError::NoTable { path: path.to_owned() },
        _ => ObservationError::Io { path: path.to_owned(), source: e },
    })?;
    ParquetReader::new(file.into_parts().0).finish().map_err(|e| ObservationError::Table {
        action: "read",
        path: path.to_owned(),
        source: Box::new(e),
    })
}

/// Reads `events.parquet` back (see [`crate::store::Store::events`]).
pub fn load_events(path: &Path) -> Result<Vec<Event>, ObservationError> {
    let df = read_parquet(path)?;
    events_from_frame(&df).map_err(|e| ObservationError::Table {
        action: "read events from",
        path: path.to_owned(),
        source: Box::new(e),
    })
}

/// Reads `event_weather.parquet` back (the canonical daily table, see [`crate::ingest::weather::schema`]).
pub fn load_event_weather(path: &Path) -> Result<Vec<DailyWeather>, ObservationError> {
    let df = read_parquet(path)?;
    schema::from_frame(&df).map_err(|e| ObservationError::Table {
        action: "read weather rows from",
        path: path.to_owned(),
        source: Box::new(e),
    })
}
