//! The per-site weather store: the canonical daily table in one Parquet file, upserted by (date, point, source) and
//! always replaced atomically (written next to it, then renamed), so a failed fetch leaves it as it was.
use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use chrono_tz::Tz;
use polars::prelude::*;

use super::schema::{self, DailyWeather};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("weather store {path}: {message}")]
    Polars { path: String, message: String },
    #[error("weather store {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// What an upsert changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upsert {
    pub inserted: usize,
    pub replaced: usize,
    pub total: usize,
}

/// Reads the store; an absent store is empty.
pub fn load(path: &Path) -> Result<Vec<DailyWeather>, StoreError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let p = path.display().to_string();
    let file = fs_err::File::open(path).map_err(|e| StoreError::Io { path: p.clone(), source: e })?.into_parts().0;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| StoreError::Polars { path: p.clone(), message: e.to_string() })?;
    schema::from_frame(&df).map_err(|e| StoreError::Polars { path: p, message: e.to_string() })
}

/// Inserts `rows`, replacing existing rows with the same (date, point_id, source).
pub fn upsert(path: &Path, rows: &[DailyWeather], tz: Tz) -> Result<Upsert, StoreError> {
    let mut all: BTreeMap<(NaiveDate, String, String), DailyWeather> =
        load(path)?.into_iter().map(|r| ((r.date, r.point_id.clone(), r.source.clone()), r)).collect();
    let (mut inserted, mut replaced) = (0, 0);
    for r in rows {
        match all.insert((r.date, r.point_id.clone(), r.source.clone()), r.clone()) {
            Some(_) => replaced += 1,
            None => inserted += 1,
        }
    }
    let rows: Vec<DailyWeather> = all.into_values().collect();
    write(path, &rows, tz)?;
    Ok(Upsert { inserted, replaced, total: rows.len() })
}

/// Writes `rows` as the canonical table at `path`, atomically.
pub fn write(path: &Path, rows: &[DailyWeather], tz: Tz) -> Result<(), StoreError> {
    let p = path.display().to_string();
    let io = |e| StoreError::Io { path: p.clone(), source: e };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir).map_err(io)?;
    let mut df =
        schema::to_frame(rows, tz).map_err(|e| StoreError::Polars { path: p.clone(), message: e.to_string() })?;
    let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    ParquetWriter::new(tmp.as_file())
        .finish(&mut df)
        .map_err(|e| StoreError::Polars { path: p.clone(), message: e.to_string() })?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::schema::Values;
    use super::*;

    fn row(day: u32, snow: f64) -> DailyWeather {
        DailyWeather {
            date: NaiveDate::from_ymd_opt(2021, 2, day).unwrap(),
            point_id: "p".into(),
            source: "open_meteo".into(),
            longitude: 9.0,
            latitude: 46.0,
            elevation_m: 1500.0,
            values: Values { new_snow_cm: Some(snow), ..Default::default() },
        }
    }

    #[test]
    fn upsert_replaces_by_date_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w/daily.parquet");
        let tz: Tz = "Europe/Zurich".parse().unwrap();
        assert_eq!(
            upsert(&path, &[row(1, 1.0), row(2, 2.0)], tz).unwrap(),
            Upsert { inserted: 2, replaced: 0, total: 2 }
        );
        assert_eq!(
            upsert(&path, &[row(2, 5.0), row(3, 3.0)], tz).unwrap(),
            Upsert { inserted: 1, replaced: 1, total: 3 }
        );
        let back = load(&path).unwrap();
        let snow: Vec<_> = back.iter().map(|r| r.values.new_snow_cm.unwrap()).collect();
        assert_eq!(snow, [1.0, 5.0, 3.0]);
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary files left: {names:?}");
    }
}
