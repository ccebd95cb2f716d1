//! Daily station files: NRCS SNOTEL, SLF IMIS, or any CSV with a declared column mapping, converted to the canonical
//! table ([`super::schema`]) by [`read_stations`] (or [`read_source`] for a compiled `[weather] type = "station_csv"`).
//! (Longer than 600 lines only with its tests: each format's conventions are tested beside the reader.)
//!
//! # Conventions
//! - **One row per station and day.** Every station gives one [`DailyWeather`] per day of its file inside the window
//!   `from..=to` (`point_id` = station id, `source` = `station_csv`, position from the site's station entry). A second
//!   row with the same day for one station is an error ([`StationError::DuplicateDate`]): sub-daily files must be
//!   aggregated to days first.
//! - **Dates.** A date cell holds `YYYY-MM-DD` (or ISO 8601 basic `YYYYMMDD`, as MeteoSwiss writes) or an ISO 8601
//!   date-time (`2024-10-05T12:00:00Z`, `2024-10-05 06:00`, `2024-10-05T06:00:00+01:00`). A date-time counts for the
//!   calendar date written in it, with no time-zone conversion: the file's day is taken as the site-local day of the
//!   canonical table.
//!   - SNOTEL: `Date` is the station's local (standard-time) day; temperatures and precipitation increment cover it.
//!   - IMIS (the SLF daily measurements export): `date` is the UTC calendar day over which the 30-min values were
//!     aggregated; it equals the date part of `measure_date`, the first 30-min timestamp of that day (`00:00:00Z`,
//!     later on a station's first day). That UTC day runs 01:00-01:00 CET (02:00-02:00 CEST): one hour off the Swiss
//!     local day, which we accept.
//! - **Missing values**: empty cells and `-`, `NA`, `N/A`, `NaN`, `null` (any case) become null, never 0.
//! - **Out of range**: after conversion to the canonical unit, a value outside [`Variable::valid_range`] becomes null
//!   and is counted in the [`StationReport`] (a wrongly declared unit shows up there: 20 degC read as K is -253 degC).
//! - **Window**: every row's station code and date are checked (an unparseable date or a duplicate day anywhere is an
//!   error); numbers are parsed in the rows inside the window only, so an old broken row does not block recent days.
//! - **Files**: lines starting with `#` are comments (SNOTEL's header block); a UTF-8 byte-order mark and spaces
//!   around fields are ignored. Several stations may share one file only when it has a station column.
pub use crate::vocab::weather::StationFormat;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use tracing::{debug, warn};

use super::schema::{DailyWeather, Values, Variable};
use super::units::{ColumnSpec, Unit};
use crate::config::plan::Station;
use crate::config::WeatherSource;

/// The `source` of the canonical rows this module produces.
pub const SOURCE: &str = "station_csv";

/// Cell contents read as missing (compared without case, after trimming).
pub const MISSING_MARKERS: [&str; 6] = ["", "-", "NA", "N/A", "NaN", "null"];

/// How to read a set of station files: the fields of a compiled [`WeatherSource::StationCsv`], borrowed.
#[derive(Debug, Clone, Copy)]
pub struct StationFiles<'a> {
    pub format: StationFormat,
    /// Field separator, e.g. `b';'`.
    pub delimiter: u8,
    /// The date column; `None`: the format's default.
    pub date_column: Option<&'a str>,
    /// The station-code column of multi-station files; `None`: the format's default (none for SNOTEL and csv).
    pub station_column: Option<&'a str>,
    /// Canonical variable <- source column and its unit.
    pub columns: &'a [(Variable, ColumnSpec)],
    pub stations: &'a [Station],
}

impl<'a> StationFiles<'a> {
    /// The reading instructions of a `station_csv` source; `None` for other sources.
    pub fn from_source(source: &'a WeatherSource) -> Option<StationFiles<'a>> {
        match source {
            WeatherSource::StationCsv { format, delimiter, date_column, station_column, columns, stations } => {
                Some(StationFiles {
                    format: *format,
                    delimiter: *delimiter,
                    date_column: date_column.as_deref(),
                    station_column: station_column.as_deref(),
                    columns,
                    stations,
                })
            }
            _ => None,
        }
    }
}

/// Why station files could not be read. Each variant names the file and, where known, station, line and column.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    #[error("the weather source is not `station_csv`")]
    NotStationCsv,
    #[error("empty date window: {from} is after {to}")]
    Window { from: NaiveDate, to: NaiveDate },
    #[error("format {format:?} has no default date column: set `date_column`")]
    NoDateColumn { format: StationFormat },
    #[error("no weather columns are mapped: map at least one canonical column in `columns`")]
    NoColumns,
    #[error("column `{column}` is declared in {unit}, which cannot measure {variable} ({canonical})")]
    UnitMismatch { column: String, variable: &'static str, unit: Unit, canonical: Unit },
    #[error("station {stations}: {source}")]
    Io {
        path: PathBuf,
        stations: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not readable as CSV: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{}: {}", path.display(), if *header_found { "a header but no data rows" } else { "empty (no header)" })]
    Empty { path: PathBuf, header_found: bool },
    #[error(
        "{}: no column `{column}` ({role}); the header has {}{}",
        path.display(),
        list(header, 40),
        delimiter_hint(header, *delimiter)
    )]
    MissingColumn { path: PathBuf, column: String, role: String, header: Vec<String>, delimiter: u8 },
    #[error(
        "{}: stations {} share this file but no station column tells their rows apart: set `station_column`",
        path.display(),
        stations.join(", ")
    )]
    SharedFile { path: PathBuf, stations: Vec<String> },
    #[error(
        "{}: station `{station}` has code `{code}`, which no row of column `{column}` holds; codes present: {}",
        path.display(),
        list(present, 30)
    )]
    UnknownStation { path: PathBuf, station: String, code: String, column: String, present: Vec<String> },
    #[error(
        "{}, line {line}, column `{column}`: `{value}` is not a date (use YYYY-MM-DD, YYYYMMDD or ISO 8601 date-time)",
        path.display()
    )]
    BadDate { path: PathBuf, line: u64, column: String, value: String },
    #[error(
        "{}, line {line}: station `{station}` has {date} twice (first on line {first_line}); a station file holds one \
         row per day",
        path.display()
    )]
    DuplicateDate { path: PathBuf, station: String, date: NaiveDate, first_line: u64, line: u64 },
    #[error("{}, line {line}, column `{column}` (station `{station}`): `{value}` is not a number", path.display())]
    BadNumber { path: PathBuf, station: String, line: u64, column: String, value: String },
}

fn list(items: &[String], max: usize) -> String {
    let shown: Vec<String> = items.iter().take(max).map(|s| format!("`{s}`")).collect();
    match items.len() {
        0 => "none".to_owned(),
        n if n > max => format!("{} ... ({n} in all)", shown.join(", ")),
        _ => shown.join(", "),
    }
}

fn delimiter_hint(header: &[String], delimiter: u8) -> String {
    if header.len() == 1 {
        format!(" (a single column: is the delimiter `{}` right?)", delimiter as char)
    } else {
        String::new()
    }
}

/// What reading found, per station (in the order of the stations given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StationReport {
    pub stations: Vec<StationStats>,
}

/// Counts for one station.
#[derive(Debug, Clone, PartialEq)]
pub struct StationStats {
    pub id: String,
    pub path: PathBuf,
    /// Rows of this station in its file, all dates.
    pub rows_read: usize,
    /// Rows inside the window: the canonical rows produced.
    pub days_kept: usize,
    /// Missing cells in the kept rows, per mapped variable (0 included).
    pub missing: BTreeMap<Variable, usize>,
    /// Values outside [`Variable::valid_range`] in the kept rows, set to null, per mapped variable (0 included).
    pub out_of_range: BTreeMap<Variable, usize>,
}

impl StationReport {
    pub fn station(&self, id: &str) -> Option<&StationStats> {
        self.stations.iter().find(|s| s.id == id)
    }
}

impl StationStats {
    fn new(station: &Station, columns: &[(Variable, ColumnSpec)]) -> StationStats {
        let zero: BTreeMap<Variable, usize> = columns.iter().map(|(v, _)| (*v, 0)).collect();
        StationStats {
            id: station.id.clone(),
            path: station.path.clone(),
            rows_read: 0,
            days_kept: 0,
            missing: zero.clone(),
            out_of_range: zero,
        }
    }
}

impl fmt::Display for StationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.stations {
            writeln!(f, "{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for StationStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = |m: &BTreeMap<Variable, usize>| {
            let parts: Vec<String> =
                m.iter().filter(|(_, n)| **n > 0).map(|(v, n)| format!("{} {n}", v.column())).collect();
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join(", ")
            }
        };
        write!(
            f,
            "station `{}` ({}): {} rows read, {} days kept; missing: {}; out of range: {}",
            self.id,
            self.path.display(),
            self.rows_read,
            self.days_kept,
            counts(&self.missing),
            counts(&self.out_of_range)
        )
    }
}

/// Reads the stations of a compiled `station_csv` weather source for the days `from..=to`.
pub fn read_source(
    source: &WeatherSource,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<DailyWeather>, StationReport), StationError> {
    let files = StationFiles::from_source(source).ok_or(StationError::NotStationCsv)?;
    read_stations(&files, from, to)
}

/// Reads every station's rows for the days `from..=to` into canonical rows (sorted by date, then station id), with
/// a report of what was kept, missing and out of range. See the module docs for the conventions.
pub fn read_stations(
    files: &StationFiles<'_>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<DailyWeather>, StationReport), StationError> {
    if from > to {
        return Err(StationError::Window { from, to });
    }
    let format = files.format;
    let date_column =
        files.date_column.or(format.default_date_column()).ok_or(StationError::NoDateColumn { format })?;
    if files.columns.is_empty() {
        return Err(StationError::NoColumns);
    }
    for (v, spec) in files.columns {
        if spec.unit.convert(0.0, v.unit()).is_none() {
            return Err(StationError::UnitMismatch {
                column: spec.column.clone(),
                variable: v.column(),
                unit: spec.unit,
                canonical: v.unit(),
            });
        }
    }
    let layout = Layout {
        delimiter: files.delimiter,
        date_column,
        station_column: files.station_column.or(format.default_station_column()),
        columns: files.columns,
        from,
        to,
    };
    // Stations grouped by file, in order of first appearance: a shared file is read once.
    let mut groups: Vec<(&Path, Vec<usize>)> = Vec::new();
    for (i, st) in files.stations.iter().enumerate() {
        match groups.iter_mut().find(|(p, _)| *p == st.path.as_path()) {
            Some((_, members)) => members.push(i),
            None => groups.push((st.path.as_path(), vec![i])),
        }
    }
    let mut rows = Vec::new();
    let mut stats: Vec<Option<StationStats>> = vec![None; files.stations.len()];
    for (path, members) in groups {
        let stations: Vec<&Station> = members.iter().map(|&i| &files.stations[i]).collect();
        let (file_rows, file_stats) = read_file(&layout, path, &stations)?;
        rows.extend(file_rows);
        for (i, s) in members.into_iter().zip(file_stats) {
            stats[i] = Some(s);
        }
    }
    rows.sort_by(|a, b| (a.date, &a.point_id).cmp(&(b.date, &b.point_id)));
    let report = StationReport { stations: stats.into_iter().flatten().collect() };
    for s in &report.stations {
        log_stats(s);
    }
    Ok((rows, report))
}

fn log_stats(s: &StationStats) {
    debug!(station = %s.id, rows_read = s.rows_read, days_kept = s.days_kept, "station file read");
    if s.days_kept == 0 {
        warn!(station = %s.id, path = %s.path.display(), "no rows in the date window");
    }
    for (v, &n) in &s.out_of_range {
        if n == 0 {
            continue;
        }
        let present = s.days_kept.saturating_sub(s.missing[v]);
        if 2 * n > present {
            warn!(station = %s.id, variable = v.column(), count = n, of = present,
                "most values are outside the valid range and were set to null: is the declared unit right?");
        } else {
            warn!(station = %s.id, variable = v.column(), count = n, "values outside the valid range set to null");
        }
    }
}

/// What [`read_file`] needs, resolved from [`StationFiles`].
struct Layout<'a> {
    delimiter: u8,
    date_column: &'a str,
    station_column: Option<&'a str>,
    columns: &'a [(Variable, ColumnSpec)],
    from: NaiveDate,
    to: NaiveDate,
}

/// Reads the rows of `stations` (all sharing `path`); stats come back in the order of `stations`.
fn read_file(
    layout: &Layout<'_>,
    path: &Path,
    stations: &[&Station],
) -> Result<(Vec<DailyWeather>, Vec<StationStats>), StationError> {
    let io_err = |source| StationError::Io {
        path: path.to_owned(),
        stations: stations.iter().map(|s| format!("`{}`", s.id)).collect::<Vec<_>>().join(", "),
        source,
    };
    let csv_err = |source| StationError::Csv { path: path.to_owned(), source };
    let file = fs_err::File::open(path).map_err(io_err)?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(layout.delimiter)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let header: Vec<String> =
        rdr.headers().map_err(csv_err)?.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_owned()).collect();
    if header.iter().all(|h| h.is_empty()) {
        return Err(StationError::Empty { path: path.to_owned(), header_found: false });
    }
    let find = |column: &str, role: &str| {
        header.iter().position(|h| h == column).ok_or_else(|| StationError::MissingColumn {
            path: path.to_owned(),
            column: column.to_owned(),
            role: role.to_owned(),
            header: header.clone(),
            delimiter: layout.delimiter,
        })
    };
    let date_idx = find(layout.date_column, "the date")?;
    let station_idx = layout.station_column.map(|c| find(c, "the station codes")).transpose()?;
    let value_idx: Vec<(Variable, &ColumnSpec, usize)> = layout
        .columns
        .iter()
        .map(|(v, spec)| find(&spec.column, v.column()).map(|i| (*v, spec, i)))
        .collect::<Result<_, _>>()?;
    if station_idx.is_none() && stations.len() > 1 {
        return Err(StationError::SharedFile {
            path: path.to_owned(),
            stations: stations.iter().map(|s| s.id.clone()).collect(),
        });
    }
    let by_code: HashMap<&str, usize> = stations.iter().enumerate().map(|(k, s)| (s.code.as_str(), k)).collect();

    let mut stats: Vec<StationStats> = stations.iter().map(|s| StationStats::new(s, layout.columns)).collect();
    let mut seen: Vec<HashMap<NaiveDate, u64>> = vec![HashMap::new(); stations.len()];
    let mut codes_present = BTreeSet::new();
    let mut data_rows = 0usize;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while rdr.read_record(&mut record).map_err(csv_err)? {
        data_rows += 1;
        let line = record.position().map_or(0, |p| p.line());
        let k = match station_idx {
            Some(si) => {
                let code = &record[si];
                match by_code.get(code) {
                    Some(&k) => k,
                    None => {
                        if !codes_present.contains(code) {
                            codes_present.insert(code.to_owned());
                        }
                        continue;
                    }
                }
            }
            None => 0,
        };
        let station = stations[k];
        let raw_date = &record[date_idx];
        let date = parse_day(raw_date).ok_or_else(|| StationError::BadDate {
            path: path.to_owned(),
            line,
            column: layout.date_column.to_owned(),
            value: raw_date.to_owned(),
        })?;
        if let Some(first_line) = seen[k].insert(date, line) {
            return Err(StationError::DuplicateDate {
                path: path.to_owned(),
                station: station.id.clone(),
                date,
                first_line,
                line,
            });
        }
        let st = &mut stats[k];
        st.rows_read += 1;
        if date < layout.from || date > layout.to {
            continue;
        }
        st.days_kept += 1;
        let mut values = Values::default();
        for &(v, spec, i) in &value_idx {
            let cell = &record[i];
            if is_missing(cell) {
                *st.missing.entry(v).or_default() += 1;
                continue;
            }
            let x: f64 = cell.parse().map_err(|_| StationError::BadNumber {
                path: path.to_owned(),
                station: station.id.clone(),
                line,
                column: spec.column.clone(),
                value: cell.to_owned(),
            })?;
            let (lo, hi) = v.valid_range();
            match spec.unit.convert(x, v.unit()) {
                Some(c) if (lo..=hi).contains(&c) => values.set(v, Some(c)),
                _ => *st.out_of_range.entry(v).or_default() += 1,
            }
        }
        rows.push(DailyWeather {
            date,
            point_id: station.id.clone(),
            source: SOURCE.to_owned(),
            longitude: station.longitude,
            latitude: station.latitude,
            elevation_m: station.elevation_m,
            values,
        });
    }
    if data_rows == 0 {
        return Err(StationError::Empty { path: path.to_owned(), header_found: true });
    }
    if let Some(si) = station_idx {
        if let Some(s) = stats.iter().position(|s| s.rows_read == 0) {
            return Err(StationError::UnknownStation {
                path: path.to_owned(),
                station: stations[s].id.clone(),
                code: stations[s].code.clone(),
                column: header[si].clone(),
                present: codes_present.into_iter().collect(),
            });
        }
    }
    Ok((rows, stats))
}

fn is_missing(cell: &str) -> bool {
    let cell = cell.trim();
    MISSING_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(cell))
}

/// The calendar day of a `YYYY-MM-DD` (or `YYYYMMDD`) date or an ISO 8601 date-time, as written (no time-zone
/// conversion).
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        // ISO 8601 basic format, e.g. MeteoSwiss `20190101`.
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        // The local date of the offset written, e.g. 2024-10-05 for 2024-10-05T23:30:00+01:00.
        return Some(dt.naive_local().date());
    }
    const NAIVE: [&str; 4] = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"];
    let bare = s.strip_suffix('Z').unwrap_or(s);
    NAIVE.iter().find_map(|f| NaiveDateTime::parse_from_str(bare, f).ok()).map(|dt| dt.date())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn station(id: &str, path: &Path) -> Station {
        Station {
            id: id.into(),
            path: path.to_owned(),
            code: id.into(),
            latitude: 46.8,
            longitude: 9.8,
            elevation_m: 2500.0,
        }
    }

    /// Reads `text` as a one-station generic CSV with `t_mean_c <- t [degC]`, `precip_mm <- p [in]`.
    fn read_text(text: &str) -> Result<(Vec<DailyWeather>, StationReport), StationError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, text).unwrap();
        let columns = [
            (Variable::TMean, ColumnSpec { column: "t".into(), unit: Unit::DegreeCelsius }),
            (Variable::Precip, ColumnSpec { column: "p".into(), unit: Unit::Inch }),
        ];
        let stations = [station("s1", &path)];
        let files = StationFiles {
            format: StationFormat::Csv,
            delimiter: b',',
            date_column: Some("day"),
            station_column: None,
            columns: &columns,
            stations: &stations,
        };
        read_stations(&files, day("2024-01-01"), day("2024-12-31"))
    }

    #[test]
    fn days_from_dates_and_date_times_as_written() {
        let d = day("2024-10-05");
        for s in [
            "2024-10-05",
            " 2024-10-05 ",
            "2024-10-05T12:00:00Z",
            "2024-10-05T00:00:00",
            "2024-10-05T00:00:00.000Z",
            "2024-10-05 06:00",
            "2024-10-05T06:00",
            "2024-10-05T23:30:00+01:00",
            "2024-10-05T00:30:00-07:00",
            "20241005",
        ] {
            assert_eq!(parse_day(s), Some(d), "{s}");
        }
        for s in [
            "",
            "05.10.2024",
            "2024-13-01",
            "2024-02-30",
            "2024-10-05X",
            "yesterday",
            "20241305",
            "2024105",
            "1728086400",
        ] {
            assert_eq!(parse_day(s), None, "{s}");
        }
    }

    #[test]
    fn missing_markers_are_missing_and_zero_is_not() {
        for s in ["", " ", "-", "NA", "na", "N/A", "NaN", "nan", "null"] {
            assert!(is_missing(s), "{s:?}");
        }
        for s in ["0", "0.0", "-1", "n"] {
            assert!(!is_missing(s), "{s:?}");
        }
    }

    #[test]
    fn imis_reads_the_aggregation_day_and_no_averaged_direction() {
        assert_eq!(StationFormat::Imis.default_date_column(), Some("date"));
        assert!(StationFormat::Imis.default_columns().iter().all(|(v, _)| *v != Variable::WindDir));
        assert_eq!(StationFormat::Snotel.default_date_column(), Some("Date"));
        assert_eq!(StationFormat::Csv.default_date_column(), None);
    }

    #[test]
    fn values_convert_and_missing_cells_stay_null() {
        let (rows, report) = read_text("# a comment\nday,t,p\n2024-02-01,-3.5,1.0\n2024-02-02,,NA\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].values.t_mean_c, Some(-3.5));
        assert!((rows[0].values.precip_mm.unwrap() - 25.4).abs() < 1e-9);
        assert_eq!(rows[1].values, Values::default());
        let s = report.station("s1").unwrap();
        assert_eq!((s.rows_read, s.days_kept), (2, 2));
        assert_eq!(s.missing[&Variable::TMean], 1);
        assert_eq!(s.missing[&Variable::Precip], 1);
        assert_eq!(rows[0].source, SOURCE);
    }

    #[test]
    fn errors_name_the_line_after_comment_lines() {
        let err = read_text("# one\n# two\nday,t,p\n2024-02-01,1,0\n2024-02-02,warm,0\n").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StationError::BadNumber { line: 5, .. }), "{msg}");
        assert!(msg.contains("line 5") && msg.contains("`t`") && msg.contains("`warm`"), "{msg}");
        let err = read_text("day,t,p\n2024-02-01,1,0\n2024-02-01,2,0\n").unwrap_err();
        assert!(matches!(err, StationError::DuplicateDate { first_line: 2, line: 3, .. }), "{err}");
    }

    #[test]
    fn out_of_range_values_are_null_and_counted() {
        let (rows, report) = read_text("day,t,p\n2024-02-01,75,-0.5\n2024-02-02,-12,0.2\n").unwrap();
        assert_eq!(rows[0].values, Values::default());
        assert_eq!(rows[1].values.t_mean_c, Some(-12.0));
        let s = &report.stations[0];
        assert_eq!(s.out_of_range[&Variable::TMean], 1);
        assert_eq!(s.out_of_range[&Variable::Precip], 1);
        assert_eq!(s.missing[&Variable::TMean], 0);
        let shown = report.to_string();
        assert!(
            shown.contains("2 rows read, 2 days kept; missing: none; out of range: precip_mm 1, t_mean_c 1"),
            "{shown}"
        );
    }
}
