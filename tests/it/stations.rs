//! Station files (`ingest::weather::station_csv`) on real subsets in `tests/fixtures/weather/` (provenance in its
//! README): NRCS SNOTEL Berthoud Summit, SLF IMIS daily measurements, MeteoSwiss NBCN Sion as a generic CSV. Expected
//! values are the file's cells converted by hand (1 in = 25.4 mm, degC = (degF - 32) x 5/9). Then a catalogue of bad
//! inputs, each ending in a clear error or the documented handling.
use std::path::{Path, PathBuf};

use avarisk::config::plan::Station;
use avarisk::ingest::weather::schema::{DailyWeather, Variable};
use avarisk::ingest::weather::station_csv::{
    read_source, read_stations, StationError, StationFiles, StationFormat, StationReport,
};
use avarisk::ingest::weather::units::{ColumnSpec, Unit};
use chrono::NaiveDate;

use super::*;

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/weather").join(name)
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// SNOTEL 335 Berthoud Summit, position from `caic_colorado/data_processed_snotel_stations.csv`.
fn berthoud(path: &Path) -> Station {
    Station {
        id: "berthoud_summit".into(),
        path: path.to_owned(),
        code: "335".into(),
        latitude: 39.80364,
        longitude: -105.77786,
        elevation_m: 3444.24,
    }
}

/// IMIS stations by code, position from the `imis_stations.csv` fixture (SLF), reading `path`.
fn imis_stations(codes: &[&str], path: &Path) -> Vec<Station> {
    let mut rdr =
        csv::ReaderBuilder::new().delimiter(b';').from_path(fixture("imis_stations.csv")).expect("stations fixture");
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    codes
        .iter()
        .map(|code| {
            let r = rows.iter().find(|r| &r[0] == *code).unwrap_or_else(|| panic!("{code} in imis_stations.csv"));
            Station {
                id: code.to_lowercase(),
                path: path.to_owned(),
                code: code.to_string(),
                longitude: r[2].parse().unwrap(),
                latitude: r[3].parse().unwrap(),
                elevation_m: r[4].parse().unwrap(),
            }
        })
        .collect()
}

/// The arguments of one read, owned, with the format's defaults.
struct Read {
    format: StationFormat,
    delimiter: u8,
    date_column: Option<&'static str>,
    station_column: Option<&'static str>,
    columns: Vec<(Variable, ColumnSpec)>,
    stations: Vec<Station>,
}

impl Read {
    fn new(format: StationFormat, stations: Vec<Station>) -> Read {
        Read {
            format,
            delimiter: format.default_delimiter(),
            date_column: None,
            station_column: None,
            columns: format.default_columns(),
            stations,
        }
    }
    fn snotel(path: &Path) -> Read {
        Read::new(StationFormat::Snotel, vec![berthoud(path)])
    }
    fn imis(path: &Path, codes: &[&str]) -> Read {
        Read::new(StationFormat::Imis, imis_stations(codes, path))
    }
    fn run(&self, from: &str, to: &str) -> Result<(Vec<DailyWeather>, StationReport), StationError> {
        let files = StationFiles {
            format: self.format,
            delimiter: self.delimiter,
            date_column: self.date_column,
            station_column: self.station_column,
            columns: &self.columns,
            stations: &self.stations,
        };
        read_stations(&files, day(from), day(to))
    }
}

fn row<'a>(rows: &'a [DailyWeather], id: &str, date: &str) -> &'a DailyWeather {
    rows.iter().find(|r| r.point_id == id && r.date == day(date)).unwrap_or_else(|| panic!("row {id} {date}"))
}

#[test]
fn snotel_inches_and_fahrenheit_become_mm_and_celsius() {
    let (rows, report) = Read::snotel(&fixture("snotel_335_berthoud.csv")).run("2018-02-11", "2018-04-11").unwrap();
    assert_eq!(rows.len(), 60);
    // 2018-04-06,15.3,22.9,36,26,30,1.00
    let r = row(&rows, "berthoud_summit", "2018-04-06");
    assert!(close(r.values.precip_mm, 25.4), "{r:?}");
    assert!(close(r.values.t_max_c, 20.0 / 9.0), "{r:?}"); // (36 - 32) x 5/9
    assert!(close(r.values.t_min_c, -30.0 / 9.0), "{r:?}"); // (26 - 32) x 5/9
    assert!(close(r.values.t_mean_c, -10.0 / 9.0), "{r:?}"); // (30 - 32) x 5/9
    assert_eq!(
        (r.source.as_str(), r.longitude, r.latitude, r.elevation_m),
        ("station_csv", -105.77786, 39.80364, 3444.24)
    );
    // 2018-02-19,10.2,16.9,32,8,21,0.40
    let r = row(&rows, "berthoud_summit", "2018-02-19");
    assert!(close(r.values.t_max_c, 0.0) && close(r.values.precip_mm, 10.16), "{r:?}");
    // 2018-02-11,10.8,16.0,28,-2,11,0.00: a measured zero stays zero
    let r = row(&rows, "berthoud_summit", "2018-02-11");
    assert!(close(r.values.t_min_c, -170.0 / 9.0) && close(r.values.precip_mm, 0.0), "{r:?}");
    // 2018-04-11,18.3,25.9,,,, : empty cells are missing, not zero
    let r = row(&rows, "berthoud_summit", "2018-04-11");
    assert_eq!((r.values.precip_mm, r.values.t_max_c, r.values.t_min_c, r.values.t_mean_c), (None, None, None, None));
    let s = report.station("berthoud_summit").unwrap();
    assert_eq!((s.rows_read, s.days_kept), (60, 60));
    for v in [Variable::Precip, Variable::TMax, Variable::TMin, Variable::TMean] {
        assert_eq!((s.missing[&v], s.out_of_range[&v]), (1, 0), "{v:?}");
    }
    assert!(report.to_string().contains("60 rows read, 60 days kept; missing: precip_mm 1, t_mean_c 1"), "{report}");
}

#[test]
fn only_days_inside_the_window_are_kept() {
    let read = Read::snotel(&fixture("snotel_335_berthoud.csv"));
    let (rows, report) = read.run("2018-03-01", "2018-03-10").unwrap();
    let days: Vec<NaiveDate> = rows.iter().map(|r| r.date).collect();
    let want: Vec<NaiveDate> = day("2018-03-01").iter_days().take(10).collect();
    assert_eq!(days, want);
    let s = &report.stations[0];
    assert_eq!((s.rows_read, s.days_kept), (60, 10));
    // A window the file does not reach: no rows, no error (a warning is logged).
    let (rows, report) = read.run("2019-01-01", "2019-01-31").unwrap();
    assert!(rows.is_empty());
    assert_eq!(report.stations[0].days_kept, 0);
}

#[test]
fn imis_multi_station_file_keeps_the_configured_stations() {
    // The fixture holds ADE2, ALB2, ALI1, DAV2 and WFJ2 for 2024-10-05..09; the site uses three of them.
    let path = fixture("imis_daily_2024_measurements.csv");
    let (rows, report) = Read::imis(&path, &["DAV2", "ADE2", "ALI1"]).run("2024-10-05", "2024-10-09").unwrap();
    assert_eq!(rows.len(), 15);
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.point_id.as_str()).collect();
    assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["ade2", "ali1", "dav2"]);
    // DAV2;2024-10-06;2024-10-06T00:00:00Z;12.485;1.108975;...;VW 1.2958
    let r = row(&rows, "dav2", "2024-10-06");
    assert!(close(r.values.snow_depth_cm, 12.485), "{r:?}");
    assert!(close(r.values.t_mean_c, 1.108975), "{r:?}");
    assert!(close(r.values.wind_speed_ms, 1.2958), "{r:?}");
    assert_eq!(r.values.wind_dir_deg, None, "the averaged direction is not mapped by default");
    assert_eq!((r.longitude, r.latitude, r.elevation_m), (9.819411277771, 46.6988868713379, 2558.0));
    // The first day (measure_date 2024-10-05T12:00:00Z) is 2024-10-05.
    assert!(close(row(&rows, "dav2", "2024-10-05").values.snow_depth_cm, 13.765));
    // ALI1 (a wind station) has no snow height: missing, never 0.
    assert!(rows.iter().filter(|r| r.point_id == "ali1").all(|r| r.values.snow_depth_cm.is_none()));
    assert!(close(row(&rows, "ali1", "2024-10-07").values.t_mean_c, 10.143695652173914));
    let ali = report.station("ali1").unwrap();
    assert_eq!((ali.rows_read, ali.days_kept, ali.missing[&Variable::SnowDepth]), (5, 5, 5));
    // ADE2 2024-10-07 has HS -1.4 cm (snow-free ground, sensor noise): outside [0, 2000], null and counted.
    assert_eq!(row(&rows, "ade2", "2024-10-07").values.snow_depth_cm, None);
    assert_eq!(report.station("ade2").unwrap().out_of_range[&Variable::SnowDepth], 1);
    assert!(report.to_string().contains("out of range: snow_depth_cm 1"), "{report}");
}

#[test]
fn imis_date_and_the_date_part_of_measure_date_give_the_same_days() {
    let path = fixture("imis_daily_2024_measurements.csv");
    let by_date = Read::imis(&path, &["ADE2", "WFJ2"]).run("2024-10-05", "2024-10-09").unwrap().0;
    let mut read = Read::imis(&path, &["ADE2", "WFJ2"]);
    read.date_column = Some("measure_date");
    let by_measure_date = read.run("2024-10-05", "2024-10-09").unwrap().0;
    assert_eq!(by_date, by_measure_date);
    assert_eq!(by_date.len(), 10);
}

#[test]
fn a_generic_csv_with_a_declared_mapping_reads_meteoswiss_nbcn() {
    // MeteoSwiss NBCN Sion: `;`, YYYYMMDD dates, `-` for missing, already in mm, cm and degC.
    let path = fixture("meteoswiss_nbcn_sion.csv");
    let spec = |column: &str, unit: Unit| ColumnSpec { column: column.into(), unit };
    let mut read = Read::new(
        StationFormat::Csv,
        vec![Station {
            id: "sion".into(),
            path,
            code: "SIO".into(),
            latitude: 46.2187,
            longitude: 7.3303,
            elevation_m: 482.0,
        }],
    );
    read.delimiter = b';';
    read.date_column = Some("date");
    read.columns = vec![
        (Variable::SnowDepth, spec("hto000d0", Unit::Centimetre)),
        (Variable::Precip, spec("rre150d0", Unit::Millimetre)),
        (Variable::TMean, spec("tre200d0", Unit::DegreeCelsius)),
        (Variable::TMin, spec("tre200dn", Unit::DegreeCelsius)),
        (Variable::TMax, spec("tre200dx", Unit::DegreeCelsius)),
    ];
    let (rows, report) = read.run("2008-10-01", "2018-01-31").unwrap();
    assert_eq!(rows.len(), 15);
    // SIO;20081022;102;-;88;960.8;0.1;232;11.9;7.7;19.3;76.3
    let r = row(&rows, "sion", "2008-10-22");
    assert_eq!(r.values.snow_depth_cm, None);
    assert!(close(r.values.precip_mm, 0.1) && close(r.values.t_max_c, 19.3), "{r:?}");
    // SIO;20180104;3;7;100;954;31.6;0;4.1;2.9;5.9;93.2
    let r = row(&rows, "sion", "2018-01-04");
    assert!(close(r.values.snow_depth_cm, 7.0) && close(r.values.precip_mm, 31.6), "{r:?}");
    assert_eq!(report.stations[0].missing[&Variable::SnowDepth], 1);
}

#[test]
fn a_station_csv_site_reads_through_the_compiled_config() {
    // A 10 km site around Weissfluhjoch (WFJ2 at LV95 2780849 / 1189231) that declares only the format: the date and
    // station columns and the mapping come from `imis`.
    let site = format!(
        r#"
id = "demo"
name = "Demo"
crs = "EPSG:2056"
resolution_m = 90.0
timezone = "Europe/Zurich"
[bounds]
xmin = 2776000.0
ymin = 1185000.0
xmax = 2786000.0
ymax = 1195000.0
[[dem]]
path = "{dem}"
[[attribution]]
data = "DEM"
source = "NASA/USGS SRTMGL3"
licence = "public domain"
[weather]
type = "station_csv"
format = "imis"
[[weather.stations]]
id = "weissfluhjoch"
code = "WFJ2"
path = "{imis}"
latitude = 46.8296394348145
longitude = 9.80928897857666
elevation_m = 2536.0
"#,
        dem = srtm("N46E009"),
        imis = fixture("imis_daily_2024_measurements.csv").display()
    );
    let project = temp_project(&[("demo", &site)]);
    let plan = avarisk::config::load(project.path()).unwrap_or_else(|r| panic!("{r}"));
    let weather = plan.site("demo").unwrap().weather.as_ref().expect("a weather source");
    let (rows, report) = read_source(weather, day("2024-10-06"), day("2024-10-07")).unwrap();
    assert_eq!(rows.len(), 2);
    // WFJ2;2024-10-07;2024-10-07T00:00:00Z;1.506;6.382065217391304;...
    let r = row(&rows, "weissfluhjoch", "2024-10-07");
    assert!(close(r.values.snow_depth_cm, 1.506) && close(r.values.t_mean_c, 6.382065217391304), "{r:?}");
    assert_eq!(report.stations[0].rows_read, 5);

    // The same through the binary: the weather stage reads the station file into the site's store.
    let root = project.path().join("out");
    let o = avarisk(
        project.path(),
        &[
            "--root",
            root.to_str().unwrap(),
            "ingest",
            "weather",
            "--site",
            "demo",
            "--from",
            "2024-10-06",
            "--to",
            "2024-10-07",
        ],
    );
    assert!(o.status.success() && text(&o).contains("station_csv, 1 station(s)"), "{}", text(&o));
    let stored = avarisk::ingest::weather::store::load(&root.join("sites/demo/weather/daily.parquet")).unwrap();
    assert_eq!(stored.len(), 2);
}

// ---- Bad inputs: each ends in a clear error (naming file, station, line, column or value) or documented handling.

/// Writes `text` as `name` in a fresh temp dir (kept alive by the returned guard).
fn scratch(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn snotel_text() -> String {
    std::fs::read_to_string(fixture("snotel_335_berthoud.csv")).unwrap()
}

fn imis_text() -> String {
    std::fs::read_to_string(fixture("imis_daily_2024_measurements.csv")).unwrap()
}

/// The 1-based line of the first line starting with `prefix`.
fn line_of(text: &str, prefix: &str) -> u64 {
    text.lines().position(|l| l.starts_with(prefix)).unwrap() as u64 + 1
}

#[test]
fn bad_missing_file_names_path_and_station() {
    let path = repo().join("tests/fixtures/weather/no_such_station.csv");
    let err = Read::snotel(&path).run("2018-01-01", "2018-12-31").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StationError::Io { .. }), "{msg}");
    assert!(msg.contains("no_such_station.csv") && msg.contains("`berthoud_summit`"), "{msg}");
}

#[test]
fn bad_missing_column_lists_the_header() {
    let text = snotel_text().replace("Air Temperature Average (degF)", "Air Temperature Observed (degF)");
    let (_d, path) = scratch("s.csv", &text);
    let err = Read::snotel(&path).run("2018-01-01", "2018-12-31").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StationError::MissingColumn { .. }), "{msg}");
    assert!(msg.contains("no column `Air Temperature Average (degF)` (t_mean_c)"), "{msg}");
    assert!(msg.contains("`Air Temperature Observed (degF)`") && msg.contains("`Date`"), "{msg}");
}

#[test]
fn bad_delimiter_shows_a_single_column_header_and_says_so() {
    let mut read = Read::imis(&fixture("imis_daily_2024_measurements.csv"), &["DAV2"]);
    read.delimiter = b',';
    let msg = read.run("2024-10-05", "2024-10-09").unwrap_err().to_string();
    assert!(msg.contains("no column `date` (the date)"), "{msg}");
    assert!(msg.contains("a single column: is the delimiter `,` right?"), "{msg}");
}

#[test]
fn bad_number_names_line_column_and_value() {
    // SNOTEL reports sometimes carry a trace flag where a number belongs.
    let text = snotel_text().replace("2018-03-01,11.0,18.0,40,9,24,0.00", "2018-03-01,11.0,18.0,40,9,24,T");
    let line = line_of(&text, "2018-03-01");
    let (_d, path) = scratch("s.csv", &text);
    let err = Read::snotel(&path).run("2018-02-11", "2018-04-11").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StationError::BadNumber { line: l, .. } if l == line), "{msg}");
    assert!(msg.contains(&format!("line {line}, column `Precipitation Increment (in)`")), "{msg}");
    assert!(msg.contains("(station `berthoud_summit`): `T` is not a number"), "{msg}");
    // Outside the window the broken cell is not parsed: recent days still read.
    assert_eq!(Read::snotel(&path).run("2018-04-01", "2018-04-11").unwrap().0.len(), 11);
}

#[test]
fn bad_date_names_line_and_value() {
    // A Swiss-style date in an IMIS row.
    let text = imis_text().replacen("DAV2;2024-10-07;", "DAV2;07.10.2024;", 1);
    let line = line_of(&text, "DAV2;07.10.2024");
    let (_d, path) = scratch("imis.csv", &text);
    let err = Read::imis(&path, &["DAV2"]).run("2024-10-05", "2024-10-09").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StationError::BadDate { line: l, .. } if l == line), "{msg}");
    assert!(msg.contains(&format!("line {line}, column `date`: `07.10.2024` is not a date")), "{msg}");
}

#[test]
fn bad_duplicate_date_names_both_lines() {
    let text = snotel_text().replace("2018-03-02,", "2018-03-01,");
    let (first, second) = (line_of(&text, "2018-03-01"), line_of(&text, "2018-03-01") + 1);
    let (_d, path) = scratch("s.csv", &text);
    let err = Read::snotel(&path).run("2018-04-01", "2018-04-11").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StationError::DuplicateDate { .. }), "{msg}");
    assert!(
        msg.contains(&format!("line {second}: station `berthoud_summit` has 2018-03-01 twice (first on line {first})")),
        "{msg}"
    );
}

#[test]
fn bad_station_code_lists_the_codes_present() {
    let mut read = Read::imis(&fixture("imis_daily_2024_measurements.csv"), &["DAV2"]);
    read.stations[0].code = "DAV9".into();
    let err = read.run("2024-10-05", "2024-10-09").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StationError::UnknownStation { .. }), "{msg}");
    assert!(msg.contains("station `dav2` has code `DAV9`, which no row of column `station_code` holds"), "{msg}");
    assert!(msg.contains("codes present: `ADE2`, `ALB2`, `ALI1`, `DAV2`, `WFJ2`"), "{msg}");
}

#[test]
fn bad_empty_files_are_errors() {
    let snotel_comments: String =
        snotel_text().lines().filter(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let header_only = format!("{snotel_comments}{}\n", snotel_text().lines().find(|l| l.starts_with("Date,")).unwrap());
    for (text, header_found, says) in [
        ("", false, "empty (no header)"),
        (snotel_comments.as_str(), false, "empty (no header)"),
        (header_only.as_str(), true, "a header but no data rows"),
    ] {
        let (_d, path) = scratch("s.csv", text);
        let err = Read::snotel(&path).run("2018-01-01", "2018-12-31").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StationError::Empty { header_found: h, .. } if h == header_found), "{msg}");
        assert!(msg.contains(says) && msg.contains("s.csv"), "{msg}");
    }
}

#[test]
fn bad_out_of_range_value_becomes_null_and_is_counted() {
    // 999 degF is no air temperature: null, counted; the rest of the row stays.
    let text = snotel_text().replace("2018-03-01,11.0,18.0,40,9,24,0.00", "2018-03-01,11.0,18.0,999,9,24,0.00");
    let (_d, path) = scratch("s.csv", &text);
    let (rows, report) = Read::snotel(&path).run("2018-03-01", "2018-03-01").unwrap();
    assert_eq!(rows[0].values.t_max_c, None);
    assert!(close(rows[0].values.t_min_c, -115.0 / 9.0));
    let s = &report.stations[0];
    assert_eq!((s.out_of_range[&Variable::TMax], s.missing[&Variable::TMax]), (1, 0));
}

#[test]
fn bad_unit_declared_makes_values_impossible_and_the_report_shows_it() {
    // SNOTEL temperatures declared in kelvin: 40 K is -233 degC, every one out of range.
    let mut read = Read::snotel(&fixture("snotel_335_berthoud.csv"));
    for (v, spec) in &mut read.columns {
        if *v != Variable::Precip {
            spec.unit = Unit::Kelvin;
        }
    }
    let (rows, report) = read.run("2018-02-11", "2018-04-11").unwrap();
    assert!(rows.iter().all(|r| r.values.t_max_c.is_none() && r.values.t_mean_c.is_none()));
    assert!(rows.iter().any(|r| r.values.precip_mm.is_some()));
    let s = &report.stations[0];
    assert_eq!((s.out_of_range[&Variable::TMax], s.missing[&Variable::TMax]), (59, 1));
    assert!(report.to_string().contains("out of range: t_mean_c 59, t_min_c 59, t_max_c 59"), "{report}");
    // A unit that cannot measure the variable at all is refused before reading.
    read.columns[0].1.unit = Unit::DegreeCelsius;
    let msg = read.run("2018-02-11", "2018-04-11").unwrap_err().to_string();
    assert!(
        msg.contains("column `Precipitation Increment (in)` is declared in degC, which cannot measure precip_mm"),
        "{msg}"
    );
}

#[test]
fn bad_ragged_row_names_the_file() {
    let text = snotel_text().replace("2018-03-01,11.0,18.0,40,9,24,0.00", "2018-03-01,11.0,18.0,40");
    let (_d, path) = scratch("ragged.csv", &text);
    let err = Read::snotel(&path).run("2018-02-11", "2018-04-11").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StationError::Csv { .. }), "{msg}");
    assert!(msg.contains("ragged.csv: not readable as CSV"), "{msg}");
}

#[test]
fn bad_two_stations_in_a_single_station_file() {
    let path = fixture("snotel_335_berthoud.csv");
    let mut other = berthoud(&path);
    other.id = "berthoud_again".into();
    let read = Read::new(StationFormat::Snotel, vec![berthoud(&path), other]);
    let msg = read.run("2018-02-11", "2018-04-11").unwrap_err().to_string();
    assert!(msg.contains("stations berthoud_summit, berthoud_again share this file"), "{msg}");
    assert!(msg.contains("set `station_column`"), "{msg}");
}

#[test]
fn bad_window_and_missing_date_column_are_refused() {
    let read = Read::snotel(&fixture("snotel_335_berthoud.csv"));
    let msg = read.run("2018-04-11", "2018-02-11").unwrap_err().to_string();
    assert!(msg.contains("empty date window: 2018-04-11 is after 2018-02-11"), "{msg}");
    let mut read = Read::new(StationFormat::Csv, vec![berthoud(&fixture("snotel_335_berthoud.csv"))]);
    read.columns = StationFormat::Snotel.default_columns();
    let err = read.run("2018-02-11", "2018-04-11").unwrap_err();
    assert!(matches!(err, StationError::NoDateColumn { .. }), "{err}");
}
