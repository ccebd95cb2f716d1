//! Observation ingest on the bundled real records (SLF accidents in swiss-alps, LAWIS incidents in tyrol-west), an
//! excerpt of CAIC Colorado records, a GeoJSON in the Swiss grid, and a catalogue of bad inputs that must each end in
//! a clear error or a counted exclusion, never in a half-written output.
//!
//! Expected positions come from `gdaltransform -s_srs <file CRS> -t_srs <site CRS> -output_xy` on the same points.
use std::collections::HashMap;

use avarisk::config;
use avarisk::ingest::observations::{self as obs, Note, Reason};
use avarisk::store::Store;
use chrono::{Datelike, NaiveDate};

use super::*;

fn real_site(id: &str) -> config::Site {
    config::load(&repo()).unwrap_or_else(|r| panic!("{r}")).site(id).unwrap().clone()
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/observations").join(name)
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

/// Every kept event sits in the grid cell it names.
fn assert_on_grid(site: &config::Site, events: &[obs::Event]) {
    for e in events {
        assert_eq!(site.grid.cell_at(e.x, e.y), Some((e.col, e.row)), "{e:?}");
    }
}

#[test]
fn slf_accidents_keep_all_but_the_jura_records_and_two_repeated_rows() {
    let site = real_site("swiss-alps");
    let (events, reports, weather) = obs::read_events(&site).unwrap();
    let r = &reports[0];
    assert_eq!((r.records, r.kept, r.excluded_total()), (3025, 3020, 5), "{r}");
    // gdaltransform puts 3022 of the 3025 start zones in the LV95 grid: rows 90 (Rances), 2449 (Gingins) and 2894
    // (La Rippe) lie in the Vaud Jura, west of the site's 6.75 E.
    assert_eq!(r.excluded[&Reason::OutsideGrid].examples, [90, 2449, 2894]);
    // Rows 2206 and 2319 repeat rows 2201 and 2318 field for field (the file has no id column).
    assert_eq!(r.excluded[&Reason::Duplicate].examples, [2206, 2319]);
    assert!(r.notes.is_empty(), "{r}");
    assert_eq!(events.len(), 3020);
    assert_on_grid(&site, &events);
    // Row 1: 1998-01-04, Langwies, 2500 m, IMIS means -3.87 degC, 79.7 cm snow, 4.25 cm new snow, 1.43 m/s.
    let (e, w) = (&events[0], &weather[0]);
    assert_eq!(
        (e.id.as_str(), e.date, e.elevation_m, e.source.as_str()),
        ("SLF-1", day("1998-01-04"), Some(2500.0), "SLF")
    );
    assert_eq!((w.point_id.as_str(), w.source.as_str(), w.date), ("event:SLF-1", "event", day("1998-01-04")));
    assert_eq!((w.longitude, w.latitude, w.elevation_m), (9.7903528213501, 46.8250694274902, 2500.0));
    assert_eq!(w.values.t_mean_c, Some(-3.87291669845581));
    assert_eq!(w.values.snow_depth_cm, Some(79.66666666666667));
    assert_eq!(w.values.new_snow_cm, Some(4.2500001192092896));
    assert_eq!(w.values.wind_speed_ms, Some(1.42916667461395));
    assert_eq!(weather.len(), events.len());
    // Empty IMIS cells stay null, never zero (468 of the 3025 rows have no temperature).
    let no_temp = weather.iter().filter(|w| w.values.t_mean_c.is_none()).count();
    assert!((460..=468).contains(&no_temp), "{no_temp}");
}

#[test]
fn lawis_incidents_keep_their_local_day_and_snow_depth_in_cm() {
    let site = real_site("tyrol-west");
    let (events, reports, weather) = obs::read_events(&site).unwrap();
    let r = &reports[0];
    // The file covers all of Tyrol; 298 incidents fall on the 10-11 E grid (gdaltransform to EPSG:31287 agrees), the
    // other 555 lie east of it.
    assert_eq!((r.records, r.kept, r.count(Reason::OutsideGrid), r.excluded_total()), (853, 298, 555, 555), "{r}");
    // Open-Meteo snow depths above 20 m (e.g. 33.33 m) cannot be right: null, counted.
    assert_eq!(r.noted(Note::WeatherOutOfRange), 5, "{r}");
    assert_eq!(r.notes[&Note::WeatherOutOfRange].examples, [24, 309, 504, 613, 637]);
    assert_on_grid(&site, &events);

    // LAWIS date-times are local: the file's own `week_day` (Monday = 0) agrees with every kept day, including the
    // 00:00:00 records that a UTC reading would move to the day before.
    let mut file = csv::Reader::from_path(&site.observations[0].path).unwrap();
    let head = file.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (id_c, date_c, wd_c) = (col("id"), col("date"), col("week_day"));
    let written: HashMap<String, (String, u32)> = file
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[id_c].to_owned(), (r[date_c].to_owned(), r[wd_c].parse().unwrap())))
        .collect();
    for e in &events {
        let (text, week_day) = &written[&e.id];
        assert_eq!(e.date.to_string(), text[..10], "{e:?}");
        assert_eq!(e.date.weekday().num_days_from_monday(), *week_day, "{e:?}");
    }
    assert!(events.iter().any(|e| written[&e.id].0.ends_with("00:00:00")));

    // 9355: 2018-02-17 12:42:00 at Furglerscharte, slab, 3001 m, snow depth 1.73 m, -5.52 degC.
    let e = events.iter().find(|e| e.id == "9355").unwrap();
    assert_eq!((e.date, e.kind.as_deref(), e.elevation_m), (day("2018-02-17"), Some("slab"), Some(3001.0)));
    let w = weather.iter().find(|w| w.point_id == "event:9355").unwrap();
    assert!(close(w.values.snow_depth_cm.unwrap(), 173.0, 1e-9), "{w:?}");
    assert_eq!((w.longitude, w.latitude, w.values.t_mean_c), (10.512, 47.04033, Some(-5.52)));
    assert_eq!((w.values.new_snow_cm, w.values.precip_mm), (None, None), "unmapped columns stay null");
    let depths: Vec<f64> = weather.iter().filter_map(|w| w.values.snow_depth_cm).collect();
    assert_eq!(depths.len(), 298 - 5);
    assert!(depths.iter().all(|d| (0.0..=2000.0).contains(d)));
}

/// A UTM 13N site around Gunnison and Crested Butte (lon -107.3..-106.8, lat 38.8..39.1) for the CAIC excerpt.
fn caic_site() -> String {
    format!(
        r#"id = "gunnison"
name = "Gunnison test"
crs = "EPSG:26913"
resolution_m = 90.0
timezone = "America/Denver"
[bounds]
xmin = 298000.0
ymin = 4295000.0
xmax = 346000.0
ymax = 4332000.0
[[dem]]
path = "{dem}"
[[observations]]
path = "{obs}"
format = "csv"
source = "CAIC"
[observations.columns]
id = "Observation ID"
date = "Date"
x = "Longitude"
y = "latitude"
type = "Type"
size = "avalanche_size"
trigger = "Trigger"
[[attribution]]
data = "observations"
source = "CAIC via github:dylo3261/CSCI-5240-Project"
licence = "MIT"
"#,
        dem = srtm("N47E010"),
        obs = fixture("caic_colorado_excerpt.csv").display()
    )
}

#[test]
fn caic_utc_times_become_colorado_days() {
    let p = temp_project(&[("gunnison", &caic_site())]);
    let site = config::load(p.path()).unwrap_or_else(|r| panic!("{r}")).site("gunnison").unwrap().clone();
    let (events, reports, weather) = obs::read_events(&site).unwrap();
    let r = &reports[0];
    assert_eq!((r.records, r.kept), (8, 6), "{r}");
    assert_eq!(r.excluded[&Reason::OutsideGrid].examples, [1], "Steamboat is 90 km north of the site");
    assert_eq!(r.excluded[&Reason::Duplicate].examples, [8], "row 8 repeats row 7");
    assert_eq!(r.notes[&Note::RepeatedId].examples, [3], "one CAIC observation id covers two avalanches");
    assert!(weather.is_empty(), "no weather mapping");
    assert_on_grid(&site, &events);
    let got: Vec<(&str, NaiveDate)> = events.iter().map(|e| (e.id.as_str(), e.date)).collect();
    assert_eq!(
        got,
        [
            ("79ab3f92-2b99-41e6-aaf8-3918060a139f", day("2026-02-12")), // 19:50 UTC = 12:50 MST
            ("79ab3f92-2b99-41e6-aaf8-3918060a139f#3", day("2026-02-12")),
            ("CAIC-4", day("2026-02-11")), // no id in the file
            ("5a134e38-0a67-4752-ab91-9edda81cdbdc", day("2026-01-02")), // 2026-01-03 03:00 UTC = 20:00 MST
            ("7171770c-f622-434f-ab2f-e65c4839a388", day("2025-03-06")), // 07:00 UTC = local midnight
            ("cc6f4984-5f1d-4f69-a208-8cf3f86d4776", day("2025-01-02")), // 02:00 UTC = 19:00 MST
        ]
    );
    let e = &events[0];
    assert_eq!((e.kind.as_deref(), e.size.as_deref(), e.trigger.as_deref()), (Some("SS"), Some("2.0"), Some("N")));
    assert_eq!((events[1].kind.as_deref(), e.elevation_m), (None, None));
    // gdaltransform: -107.058766 38.919702 -> 321518.341 4309880.871 (EPSG:26913).
    assert!(close(e.x, 321518.341, 0.01) && close(e.y, 4309880.871, 0.01), "{e:?}");
}

fn davos_utm_site() -> String {
    format!(
        r#"id = "davos-utm"
name = "Davos in UTM 32N"
crs = "EPSG:32632"
resolution_m = 90.0
timezone = "Europe/Zurich"
[bounds]
xmin = 561000.0
ymin = 5177500.0
xmax = 570500.0
ymax = 5187000.0
[[dem]]
path = "{dem}"
[[observations]]
path = "{obs}"
format = "geojson"
crs = "EPSG:2056"
source = "synthetic"
[observations.columns]
id = "id"
date = "date"
type = "type"
size = "size"
trigger = "trigger"
elevation = "elevation"
[[attribution]]
data = "observations"
source = "synthetic test records"
licence = "CC0"
"#,
        dem = srtm("N46E009"),
        obs = fixture("davos_lv95.geojson").display()
    )
}

#[test]
fn a_geojson_in_the_swiss_grid_lands_on_a_utm_site_with_its_outline_and_labels() {
    let p = temp_project(&[("davos-utm", &davos_utm_site())]);
    let site = config::load(p.path()).unwrap_or_else(|r| panic!("{r}")).site("davos-utm").unwrap().clone();
    let store = Store::new(p.path().join("out"));
    let summary = obs::ingest(&site, &store).unwrap();
    assert_eq!((summary.records(), summary.events, summary.excluded(), summary.weather_rows), (3, 3, 0, 0));
    let text = summary.to_string();
    assert!(text.contains("3 records, 3 kept, 0 excluded"), "{text}");

    let events = obs::load_events(&store.events("davos-utm")).unwrap();
    assert_eq!(events.len(), 3);
    assert_on_grid(&site, &events);
    let [d1, d2, d3] = &events[..] else { unreachable!() };
    // D1, a point: gdaltransform 2783000 1185000 -> 563787.362 5182279.114.
    assert!(close(d1.x, 563787.362, 0.01) && close(d1.y, 5182279.114, 0.01), "{d1:?}");
    assert_eq!((d1.date, d1.elevation_m, d1.polygon_wkt.as_deref()), (day("2021-02-15"), Some(2450.0), None));
    // D2, a 200 m square: its centroid is the start point (gdaltransform of the LV95 centre 2784100 1186100:
    // 564908.658 5183356.592), the outline is kept in UTM (first vertex 2784000 1186000 -> 564806.72 5183258.64).
    assert!(close(d2.x, 564908.658, 0.05) && close(d2.y, 5183356.592, 0.05), "{d2:?}");
    let wkt = d2.polygon_wkt.as_deref().unwrap();
    assert!(wkt.starts_with("POLYGON ((564806.72 5183258.64, "), "{wkt}");
    assert_eq!(wkt.matches(',').count(), 4, "five vertices: {wkt}");
    assert_eq!((d2.date, d2.elevation_m, d2.trigger.as_deref()), (day("2021-02-15"), Some(2600.0), Some("human")));
    // D3: 2021-02-16T23:30Z is 00:30 in Zurich on the 17th; its elevation is null in the file.
    assert_eq!((d3.date, d3.elevation_m, d3.kind.as_deref()), (day("2021-02-17"), None, Some("loose")));

    // The weather table exists, canonical and empty.
    assert!(obs::load_event_weather(&store.event_weather("davos-utm")).unwrap().is_empty());

    // Labels of 15 February: D1 and D2 with a 100 m radius on the 90 m grid.
    let date = day("2021-02-15");
    let dest = store.labels("davos-utm", date);
    let stats = obs::write_labels(&events, &site.grid, date, 100.0, &dest).unwrap();
    assert_eq!(stats.events, 2);
    let (data, w, h, _) = read_band(&dest, 1);
    assert_eq!((w, h), (site.grid.width, site.grid.height));
    assert_eq!(data, obs::label_raster(&events, &site.grid, date, 100.0));
    assert_eq!(data.iter().filter(|v| **v == 1.0).count(), stats.positive_cells);
    // Brute force: a cell is 1 when its centre is within 100 m of D1 or D2, or when it holds one of them.
    for row in 0..h {
        for col in 0..w {
            let (cx, cy) = site.grid.cell_centre(col, row);
            let near = [d1, d2].iter().any(|e| (e.col, e.row) == (col, row) || (cx - e.x).hypot(cy - e.y) <= 100.0);
            assert_eq!(data[row * w + col], if near { 1.0 } else { 0.0 }, "cell {col} {row}");
        }
    }
    assert!(stats.positive_cells >= 4, "{}", stats.positive_cells);
    assert_eq!(data[d1.row * w + d1.col], 1.0);
    assert_eq!(data[d3.row * w + d3.col], 0.0, "D3 is another day");
    let ds = gdal::Dataset::open(&dest).unwrap();
    assert_eq!(ds.geo_transform().unwrap(), site.grid.transform);
    use gdal::Metadata;
    assert_eq!(ds.metadata_item("AVARISK_LABEL_DATE", "").as_deref(), Some("2021-02-15"));
    let leftovers: Vec<_> = std::fs::read_dir(dest.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the label raster, no temporary file");
}

/// How a bad input must end.
enum Expect {
    /// `ingest` fails; the message contains each of these.
    Error(&'static [&'static str]),
    /// `ingest` succeeds with `kept` events, these exclusions and these notes (all others zero).
    Counted { kept: usize, excluded: &'static [(Reason, usize)], notes: &'static [(Note, usize)] },
}

struct Case {
    name: &'static str,
    /// File name (its extension picks the format) and content.
    file: &'static str,
    content: String,
    /// Remove the file after the configuration is loaded (config::load refuses a missing file itself).
    remove: bool,
    expect: Expect,
}

const HEADER: &str = "id,date,lon,lat,elev,hs\n";
/// A good record: 9.8358 E 46.7910 N is inside the Davos site (LV95 2783000 1185000).
const GOOD: &str = "ok,2021-02-15,9.8358,46.7910,2450,1.2\n";
const GOOD_FEATURE: &str = concat!(
    r#"{"type":"Feature","properties":{"id":"ok","date":"2021-02-15"},"#,
    r#""geometry":{"type":"Point","coordinates":[9.8358,46.791]}}"#
);

fn csv_case(name: &'static str, content: impl Into<String>, expect: Expect) -> Case {
    Case { name, file: "obs.csv", content: content.into(), remove: false, expect }
}

fn catalogue() -> Vec<Case> {
    use Expect::*;
    use Reason::*;
    let csv = |rows: &str| format!("{HEADER}{GOOD}{rows}");
    let features = |f: &str| format!(r#"{{"type":"FeatureCollection","features":[{GOOD_FEATURE},{f}]}}"#);
    vec![
        Case {
            name: "missing file",
            remove: true,
            ..csv_case("", csv(""), Error(&["observation file not found", "obs.csv"]))
        },
        csv_case(
            "missing mapped column",
            format!("id,date,longitude,lat,elev,hs\n{GOOD}"),
            Error(&["obs.csv", "column `lon` (mapped to x)", "`longitude`, `lat`"]),
        ),
        csv_case(
            "semicolons with the default comma delimiter",
            format!("{}{}", HEADER.replace(',', ";"), GOOD.replace(',', ";")),
            Error(&["column `date`", "`id;date;lon;lat;elev;hs`", "set `delimiter = \";\"`"]),
        ),
        csv_case(
            "a row with an extra field",
            csv("x,2021-02-15,9.8,46.8,2000,1,extra\n"),
            Error(&["unreadable CSV at line 3", "7 fields where the header has 6"]),
        ),
        csv_case("an empty file", "", Error(&["column `date`", "columns are none (empty file?)"])),
        csv_case(
            "latitude and longitude swapped",
            csv("s1,2021-02-15,46.7910,9.8358,2450,1.2\ns2,2021-02-16,46.80,9.84,2450,1.2\n"),
            Counted { kept: 1, excluded: &[(SwappedLatLon, 2)], notes: &[] },
        ),
        csv_case(
            "outside the site",
            csv("o1,2021-02-15,8.5,46.5,2000,1\no2,2021-02-15,-107.0,38.9,3000,1\n"),
            Counted { kept: 1, excluded: &[(OutsideGrid, 2)], notes: &[] },
        ),
        csv_case(
            "coordinates out of range or not numbers",
            csv("r1,2021-02-15,190.0,46.8,2000,1\nr2,2021-02-15,9.8°,46.8,2000,1\n"),
            Counted { kept: 1, excluded: &[(BadCoordinates, 2)], notes: &[] },
        ),
        csv_case(
            "empty coordinates",
            csv("e1,2021-02-15,,46.8,2000,1\ne2,2021-02-15,NA,NA,2000,1\n"),
            Counted { kept: 1, excluded: &[(MissingCoordinates, 2)], notes: &[] },
        ),
        csv_case(
            "unparseable dates",
            csv(concat!(
                "d1,15.02.2021,9.8358,46.7910,2450,1\n",
                "d2,2021-02-30,9.8358,46.7910,2450,1\n",
                "d3,,9.8358,46.7910,2450,1\n"
            )),
            Counted { kept: 1, excluded: &[(BadDate, 3)], notes: &[] },
        ),
        csv_case(
            "impossible dates",
            csv("i1,1850-01-01,9.8358,46.7910,2450,1\ni2,2199-01-01 10:00:00,9.8358,46.7910,2450,1\n"),
            Counted { kept: 1, excluded: &[(ImpossibleDate, 2)], notes: &[] },
        ),
        csv_case(
            "duplicates",
            // An identical row, and the same id, date and cell with another elevation.
            csv(&format!("{GOOD}ok,2021-02-15,9.83585,46.79105,2500,1.2\nok,2021-02-16,9.8358,46.7910,2450,1.2\n")),
            Counted { kept: 2, excluded: &[(Duplicate, 2)], notes: &[(Note::RepeatedId, 1)] },
        ),
        csv_case(
            "non-numeric elevation and weather values",
            csv(concat!(
                "n1,2021-02-15,9.84,46.80,2450 m,1.2\n",
                "n2,2021-02-15,9.85,46.80,2450,deep\n",
                "n3,2021-02-15,9.86,46.80,2450,45\n"
            )),
            Counted {
                kept: 4,
                excluded: &[],
                notes: &[(Note::BadElevation, 1), (Note::BadWeatherValue, 1), (Note::WeatherOutOfRange, 1)],
            },
        ),
        Case {
            name: "invalid GeoJSON",
            file: "obs.geojson",
            content: r#"{"type": "FeatureCollection", "features": ["#.into(),
            remove: false,
            expect: Error(&["obs.geojson", "invalid GeoJSON"]),
        },
        Case {
            name: "a bare GeoJSON geometry",
            file: "obs.geojson",
            content: r#"{"type": "Point", "coordinates": [9.8358, 46.791]}"#.into(),
            remove: false,
            expect: Error(&["obs.geojson", "bare geometry"]),
        },
        Case {
            name: "GeoJSON features without geometry or with a line",
            file: "obs.geojson",
            content: features(concat!(
                r#"{"type":"Feature","properties":{"id":"n","date":"2021-02-15"},"geometry":null},"#,
                r#"{"type":"Feature","properties":{"id":"l","date":"2021-02-15"},"#,
                r#""geometry":{"type":"LineString","coordinates":[[9.83,46.79],[9.84,46.8]]}}"#
            )),
            remove: false,
            expect: Counted { kept: 1, excluded: &[(MissingCoordinates, 1), (UnsupportedGeometry, 1)], notes: &[] },
        },
        Case {
            name: "GeoJSON without the mapped date property",
            file: "obs.geojson",
            content: concat!(
                r#"{"type":"FeatureCollection","features":[{"type":"Feature","#,
                r#""properties":{"id":"x","when":"2021-02-15"},"#,
                r#""geometry":{"type":"Point","coordinates":[9.8358,46.791]}}]}"#
            )
            .into(),
            remove: false,
            expect: Error(&["column `date` (mapped to date)", "`id`, `when`"]),
        },
        Case {
            name: "GeoJSON declaring another CRS than site.toml",
            file: "obs.geojson",
            content: concat!(
                r#"{"type":"FeatureCollection","#,
                r#""crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::2056"}},"features":[]}"#
            )
            .into(),
            remove: false,
            expect: Error(&["declares CRS `urn:ogc:def:crs:EPSG::2056`", "EPSG:4326"]),
        },
    ]
}

/// A 10 km EPSG:2056 site around Davos whose one observation source is `file`, mapped as in the catalogue.
fn davos_catalogue_site(file: &str) -> String {
    let format = if file.ends_with(".csv") { "csv" } else { "geojson" };
    let xy = if format == "csv" { "x = \"lon\"\ny = \"lat\"\nelevation = \"elev\"\n" } else { "" };
    let weather = if format == "csv" {
        "[observations.weather]\nsnow_depth_cm = { column = \"hs\", unit = \"m\" }\n"
    } else {
        ""
    };
    format!(
        "id = \"davos\"\nname = \"Davos\"\ncrs = \"EPSG:2056\"\nresolution_m = 90.0\ntimezone = \"Europe/Zurich\"\n\
         [bounds]\nxmin = 2780000.0\nymin = 1180000.0\nxmax = 2790000.0\nymax = 1190000.0\n\
         [[dem]]\npath = \"{dem}\"\n\
         [[observations]]\npath = \"{file}\"\nformat = \"{format}\"\nsource = \"T\"\n\
         [observations.columns]\nid = \"id\"\ndate = \"date\"\n{xy}{weather}\
         [[attribution]]\ndata = \"all\"\nsource = \"test\"\nlicence = \"CC0\"\n",
        dem = srtm("N46E009"),
    )
}

#[test]
fn bad_inputs_end_in_a_clear_error_or_a_counted_exclusion_and_never_in_half_written_output() {
    let cases = catalogue();
    assert!(cases.len() >= 10);
    for case in cases {
        let p = temp_project(&[("davos", &davos_catalogue_site(case.file))]);
        let data = p.path().join("sites/davos").join(case.file);
        std::fs::write(&data, case.content).unwrap();
        let site =
            config::load(p.path()).unwrap_or_else(|r| panic!("{}: {r}", case.name)).site("davos").unwrap().clone();
        if case.remove {
            std::fs::remove_file(&data).unwrap();
        }
        // Outputs of an earlier run, which a failed run must leave as they were.
        let store = Store::new(p.path().join("out"));
        let (events_path, weather_path) = (store.events("davos"), store.event_weather("davos"));
        std::fs::create_dir_all(events_path.parent().unwrap()).unwrap();
        std::fs::write(&events_path, "previous events").unwrap();
        std::fs::write(&weather_path, "previous weather").unwrap();

        let result = obs::ingest(&site, &store);
        let mut files: Vec<String> = std::fs::read_dir(events_path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["event_weather.parquet", "events.parquet"], "{}: no temporary file is left", case.name);
        match (case.expect, result) {
            (Expect::Error(parts), Err(e)) => {
                let msg = e.to_string();
                for part in parts {
                    assert!(msg.contains(part), "{}: `{part}` not in: {msg}", case.name);
                }
                assert_eq!(std::fs::read_to_string(&events_path).unwrap(), "previous events", "{}", case.name);
                assert_eq!(std::fs::read_to_string(&weather_path).unwrap(), "previous weather", "{}", case.name);
            }
            (Expect::Counted { kept, excluded, notes }, Ok(summary)) => {
                let r = &summary.files[0];
                let text = summary.to_string();
                assert_eq!((r.kept, summary.events), (kept, kept), "{}: {text}", case.name);
                assert_eq!(r.records, kept + r.excluded_total(), "{}: every record is kept or counted", case.name);
                for reason in Reason::ALL {
                    let want = excluded.iter().find(|(w, _)| *w == reason).map_or(0, |(_, n)| *n);
                    assert_eq!(r.count(reason), want, "{}: {reason:?} in {text}", case.name);
                }
                for &(note, n) in notes {
                    assert_eq!(r.noted(note), n, "{}: {note:?} in {text}", case.name);
                }
                assert_eq!(
                    r.notes.values().map(|t| t.count).sum::<usize>(),
                    notes.iter().map(|(_, n)| n).sum::<usize>()
                );
                for (reason, _) in excluded {
                    assert!(text.contains(reason.describe()), "{}: {text}", case.name);
                }
                assert_eq!(obs::load_events(&events_path).unwrap().len(), kept, "{}", case.name);
            }
            (Expect::Error(_), Ok(s)) => panic!("{}: expected an error, got\n{s}", case.name),
            (Expect::Counted { .. }, Err(e)) => panic!("{}: expected counted exclusions, got: {e}", case.name),
        }
    }
}

#[test]
fn event_weather_values_are_converted_and_range_checked() {
    let p = temp_project(&[("davos", &davos_catalogue_site("obs.csv"))]);
    let rows = format!("{HEADER}{GOOD}w2,2021-02-16,9.84,46.80,,0.35\nw3,2021-02-17,9.85,46.80,2500,25\n");
    std::fs::write(p.path().join("sites/davos/obs.csv"), rows).unwrap();
    let site = config::load(p.path()).unwrap().site("davos").unwrap().clone();
    let store = Store::new(p.path().join("out"));
    let summary = obs::ingest(&site, &store).unwrap();
    assert_eq!(summary.weather_rows, 3);
    let rows = obs::load_event_weather(&store.event_weather("davos")).unwrap();
    let by_id = |id: &str| rows.iter().find(|r| r.point_id == format!("event:{id}")).unwrap();
    assert!(close(by_id("ok").values.snow_depth_cm.unwrap(), 120.0, 1e-9));
    assert!(close(by_id("w2").values.snow_depth_cm.unwrap(), 35.0, 1e-9));
    assert!(by_id("w2").elevation_m.is_nan(), "no elevation recorded");
    assert_eq!(by_id("w3").values.snow_depth_cm, None, "25 m of snow is out of range");
    assert_eq!(summary.files[0].noted(Note::WeatherOutOfRange), 1);
    assert!(close(by_id("ok").longitude, 9.8358, 1e-12) && close(by_id("ok").latitude, 46.791, 1e-12));
}
