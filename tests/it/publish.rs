//! Publishing a day's map: COG layout, STAC Item/Collection against the official schemas (vendored in
//! tests/fixtures/stac-schemas, resolved offline), danger-level boundaries, warning zones on a synthetic raster with
//! known areas, the CAP Alert -> Update -> Cancel sequence, atomic publish under injected failures, the quicklook.
//!
//! The synthetic site: EPSG:2056, 20 m cells, 600 x 520 (wider than one 512 px COG tile), a DEM rising 10 m per
//! cell towards the north (so every slope faces south), probability 0.05 (level 1) with:
//! - a level-3 block (p 0.3) of 100 x 50 cells = 2.0 km2, rows 100..150, cols 100..200;
//! - a level-4 block (p 0.6) of 50 x 40 cells = 0.8 km2, rows 300..340, cols 300..350;
//! - a level-3 speckle of 3 x 3 cells = 0.0036 km2 (dropped: under 0.05 km2), rows 450..453, cols 450..453;
//! - no data in columns 0..10; one cell exactly at the level-3 threshold (0.25) and one just under it.
//!
//! `AVARISK_TEST_KEEP=<dir>` copies the real-terrain test's quicklook there, to look at it.
use std::path::{Path, PathBuf};

use avarisk::publish::{self, cap::MsgType, DangerScale, FailPoint, MapInput, PublishError, PublishParams};
use avarisk::store::Store;
use chrono::NaiveDate;
use gdal::raster::RasterCreationOptions;
use gdal::{DriverManager, Metadata};
use serde_json::Value;

const W: usize = 600;
const H: usize = 520;
const RES: f64 = 20.0;
const X0: f64 = 2_600_000.0;
const Y0: f64 = 1_200_000.0;
const SCALE: DangerScale = DangerScale { thresholds: [0.1, 0.25, 0.5, 0.8] };

pub(crate) fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 2, day).unwrap()
}

/// Writes a Float32 GeoTIFF on the synthetic grid with named bands (nodata -9999).
fn write_bands(path: &Path, bands: &[(&str, Vec<f32>)]) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<f32, _>(path, W, H, bands.len(), &RasterCreationOptions::default())
        .unwrap();
    ds.set_geo_transform(&[X0, RES, 0.0, Y0, 0.0, -RES]).unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(2056).unwrap()).unwrap();
    for (i, (name, data)) in bands.iter().enumerate() {
        let mut band = ds.rasterband(i + 1).unwrap();
        band.set_no_data_value(Some(-9999.0)).unwrap();
        band.set_description(name).unwrap();
        let v: Vec<f32> = data.iter().map(|x| if x.is_nan() { -9999.0 } else { *x }).collect();
        band.write((0, 0), (W, H), &mut gdal::raster::Buffer::new((W, H), v)).unwrap();
    }
}

/// Elevation of row `r` (north highest): 1000 m at the southern edge, +10 m per cell northwards.
fn elev(r: usize) -> f32 {
    1000.0 + (H - r) as f32 * 10.0
}

/// The synthetic probability field; `zones = false` leaves only level 1 (no alert).
fn probability(zones: bool) -> Vec<f32> {
    let mut p = vec![0.05f32; W * H];
    let mut fill = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>, v: f32| {
        for r in rows {
            for c in cols.clone() {
                p[r * W + c] = v;
            }
        }
    };
    fill(0..H, 0..10, f32::NAN);
    if zones {
        fill(100..150, 100..200, 0.3);
        fill(300..340, 300..350, 0.6);
        fill(450..453, 450..453, 0.3);
    }
    p[10 * W + 20] = 0.25;
    p[10 * W + 21] = 0.249_999;
    p
}

pub(crate) struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    dem: PathBuf,
}

impl Site {
    pub(crate) fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("out");
        let dem = dir.path().join("dem.tif");
        let z: Vec<f32> = (0..W * H).map(|i| elev(i / W)).collect();
        write_bands(&dem, &[("elevation", z)]);
        Site { _dir: dir, root, dem }
    }
    pub(crate) fn store(&self) -> Store {
        Store::new(&self.root)
    }
    /// Writes a prediction for `date` and publishes it.
    pub(crate) fn publish(
        &self,
        date: NaiveDate,
        zones: bool,
        params: &PublishParams,
    ) -> Result<publish::Published, PublishError> {
        self.publish_with(date, zones, params, None)
    }
    /// As [`Site::publish`], with the day-level hazard the map was made with.
    fn publish_with(
        &self,
        date: NaiveDate,
        zones: bool,
        params: &PublishParams,
        hazard: Option<publish::DayHazard>,
    ) -> Result<publish::Published, PublishError> {
        let pred = self.root.parent().unwrap().join(format!("pred-{date}.tif"));
        let p = probability(zones);
        let spread: Vec<f32> = p.iter().map(|v| if v.is_nan() { f32::NAN } else { 0.02 }).collect();
        write_bands(&pred, &[("risk_probability", p), ("risk_spread", spread)]);
        let input = MapInput {
            site_id: "synthetic-alps",
            site_name: "Synthetic Alps",
            date,
            time_zone: chrono_tz::Europe::Zurich,
            prediction: &pred,
            dem: &self.dem,
            bundle_id: "synthetic@sha256:0123abcd",
            scale: &SCALE,
            attribution: vec!["Synthetic terrain, generated by the test".into()],
            hazard,
        };
        publish::publish(&self.store(), &input, params)
    }
    fn day(&self, date: NaiveDate) -> PathBuf {
        self.store().published("synthetic-alps", date)
    }
}

pub(crate) fn test_params() -> PublishParams {
    PublishParams { test: true, ..PublishParams::default() }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn cogs_have_cog_layout_metadata_and_exact_levels() {
    let site = Site::new();
    site.publish(d(15), true, &test_params()).unwrap();
    let dir = site.day(d(15));
    let mut files: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(
        files,
        ["alert.cap.xml", "danger_class.tif", "item.json", "quicklook.png", "risk_probability.tif", "zones.geojson"],
        "the map set and nothing else (no .aux.xml sidecars)"
    );

    let prob = gdal::Dataset::open(dir.join("risk_probability.tif")).unwrap();
    assert_eq!(prob.metadata_item("LAYOUT", "IMAGE_STRUCTURE").as_deref(), Some("COG"));
    assert_eq!(prob.metadata_item("COMPRESSION", "IMAGE_STRUCTURE").as_deref(), Some("DEFLATE"));
    assert_eq!(prob.metadata_item("PREDICTOR", "IMAGE_STRUCTURE").as_deref(), Some("3"));
    assert_eq!(prob.metadata_item("AVARISK_MODEL_BUNDLE", "").as_deref(), Some("synthetic@sha256:0123abcd"));
    assert_eq!(prob.raster_count(), 2);
    let b1 = prob.rasterband(1).unwrap();
    assert_eq!(b1.block_size(), (512, 512));
    assert!(b1.overview_count().unwrap() >= 1);
    assert_eq!(b1.no_data_value(), Some(-9999.0));
    assert_eq!(b1.description().unwrap(), "risk_probability");
    assert_eq!(prob.rasterband(2).unwrap().description().unwrap(), "risk_spread");
    assert_eq!(b1.metadata_item("DATE", "").as_deref(), Some("2021-02-15"));
    let v = b1.read_as::<f32>((0, 0), (W, H), (W, H), None).unwrap();
    assert_eq!(v.data()[125 * W + 150], 0.3);
    assert_eq!(v.data()[5], -9999.0);
    publish::cog::check(&dir.join("risk_probability.tif"), publish::cog::Expect::probability(true)).unwrap();

    let class = gdal::Dataset::open(dir.join("danger_class.tif")).unwrap();
    assert_eq!(class.metadata_item("LAYOUT", "IMAGE_STRUCTURE").as_deref(), Some("COG"));
    let cb = class.rasterband(1).unwrap();
    assert_eq!(cb.no_data_value(), Some(0.0));
    assert!(cb.overview_count().unwrap() >= 1);
    let ct = cb.color_table().expect("the EAWS colour table");
    let rgb = |i| {
        let e = ct.entry_as_rgb(i).unwrap();
        (e.r, e.g, e.b)
    };
    assert_eq!(rgb(1), (0xCC, 0xFF, 0x66));
    assert_eq!(rgb(3), (0xFF, 0x99, 0x00));
    assert_eq!(rgb(4), (0xFF, 0x00, 0x00));
    let c = cb.read_as::<u8>((0, 0), (W, H), (W, H), None).unwrap();
    let at = |r: usize, col: usize| c.data()[r * W + col];
    assert_eq!(at(0, 5), 0, "no data stays 0");
    assert_eq!(at(0, 50), 1);
    assert_eq!(at(10, 20), 3, "p = 0.25 is exactly the level-3 threshold");
    assert_eq!(at(10, 21), 2, "p just under 0.25 is level 2");
    assert_eq!(at(125, 150), 3);
    assert_eq!(at(320, 320), 4);
    publish::cog::check(&dir.join("danger_class.tif"), publish::cog::Expect::class()).unwrap();

    // A plain tiled GeoTIFF (no COG layout) must be refused by the check.
    let plain = site.root.parent().unwrap().join("plain.tif");
    write_bands(&plain, &[("risk_probability", vec![0.1; W * H])]);
    let err = publish::cog::check(&plain, publish::cog::Expect::probability(false)).unwrap_err();
    assert!(matches!(err, PublishError::NotCog { .. }), "{err}");

    // gdalinfo (gdal-bin) agrees, when installed.
    if let Ok(o) = std::process::Command::new("gdalinfo").arg(dir.join("danger_class.tif")).output() {
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(t.contains("LAYOUT=COG") && t.contains("Color Table"), "{t}");
    }
}

// ---- STAC -------------------------------------------------------------------------------------------------------

struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let s = uri.as_str();
        let base = crate::repo().join("tests/fixtures/stac-schemas");
        let rel = if let Some(r) = s.strip_prefix("https://schemas.stacspec.org/v1.0.0/") {
            // item-spec/json-schema/item.json -> stac-spec/v1.0.0/item.json
            format!("stac-spec/v1.0.0/{}", r.rsplit('/').next().unwrap())
        } else if let Some(r) = s.strip_prefix("https://geojson.org/schema/") {
            format!("geojson/{r}")
        } else if s.starts_with("https://stac-extensions.github.io/projection/v1.1.0/") {
            "projection/v1.1.0/schema.json".into()
        } else {
            return Err(format!("no local copy of schema {s}: the tests run offline").into());
        };
        Ok(serde_json::from_str(&std::fs::read_to_string(base.join(rel))?)?)
    }
}

fn validator(rel: &str) -> jsonschema::Validator {
    let schema = read_json(&crate::repo().join("tests/fixtures/stac-schemas").join(rel));
    jsonschema::options().with_retriever(LocalSchemas).build(&schema).unwrap()
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn stac_item_and_collection_validate_against_the_schemas() {
    let site = Site::new();
    site.publish(d(14), false, &test_params()).unwrap();
    let published = site.publish(d(15), true, &test_params()).unwrap();
    let item = read_json(&published.item);
    let collection = read_json(&published.collection);

    let item_schema = validator("stac-spec/v1.0.0/item.json");
    let proj_schema = validator("projection/v1.1.0/schema.json");
    let coll_schema = validator("stac-spec/v1.0.0/collection.json");
    assert_eq!(errors(&item_schema, &item), Vec::<String>::new());
    assert_eq!(errors(&proj_schema, &item), Vec::<String>::new());
    assert_eq!(errors(&coll_schema, &collection), Vec::<String>::new());
    // The validators are not vacuous: a broken item and collection fail.
    let mut bad = item.clone();
    bad["properties"].as_object_mut().unwrap().remove("datetime");
    assert!(!errors(&item_schema, &bad).is_empty());
    let mut bad = item.clone();
    bad["properties"]["proj:shape"] = serde_json::json!([520]);
    assert!(!errors(&proj_schema, &bad).is_empty());
    let mut bad = collection.clone();
    bad.as_object_mut().unwrap().remove("extent");
    assert!(!errors(&coll_schema, &bad).is_empty());

    // Projection and provenance.
    let p = &item["properties"];
    assert_eq!(p["proj:epsg"], 2056);
    assert_eq!(p["proj:shape"], serde_json::json!([H, W]));
    assert_eq!(p["proj:transform"], serde_json::json!([RES, 0.0, X0, 0.0, -RES, Y0]));
    assert_eq!(p["avarisk:model_bundle"], "synthetic@sha256:0123abcd");
    // The local day in Zurich (UTC+1 in February).
    assert_eq!(p["datetime"], "2021-02-14T23:00:00Z");
    assert_eq!(p["end_datetime"], "2021-02-15T23:00:00Z");
    assert_eq!(item["assets"]["risk_probability"]["type"], "image/tiff; application=geotiff; profile=cloud-optimized");
    assert_eq!(item["assets"]["alert"]["type"], "application/cap+xml");
    assert_eq!(item["assets"]["zones"]["type"], "application/geo+json");
    // bbox in lon/lat order around the grid: LV95 (2 600 000, 1 200 000) is Bern, about 7.44 E, 46.95 N.
    let b: Vec<f64> = item["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(b[0] > 7.4 && b[0] < 7.5 && b[2] > b[0] && b[2] < 7.7, "{b:?}");
    assert!(b[1] > 46.8 && b[3] < 47.0 && b[3] > b[1], "{b:?}");
    for asset in item["assets"].as_object().unwrap().values() {
        let href = asset["href"].as_str().unwrap();
        assert!(published.dir.join(href).is_file(), "asset {href} exists");
    }

    // The collection spans both days and links both items.
    let interval = &collection["extent"]["temporal"]["interval"][0];
    assert_eq!(interval[0], "2021-02-13T23:00:00Z");
    assert_eq!(interval[1], "2021-02-15T23:00:00Z");
    let items: Vec<&str> = collection["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["rel"] == "item")
        .map(|l| l["href"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["./2021-02-14/item.json", "./2021-02-15/item.json"]);
}

// ---- zones ------------------------------------------------------------------------------------------------------

#[test]
fn zones_have_expected_areas_stats_and_wgs84_geometry() {
    let site = Site::new();
    let published = site.publish(d(15), true, &test_params()).unwrap();
    assert_eq!(published.zones, 2, "the 9-cell speckle is dropped");
    let z = read_json(&published.dir.join("zones.geojson"));
    let f = z["features"].as_array().unwrap();
    assert_eq!(f.len(), 2);
    let (four, three) = (&f[0]["properties"], &f[1]["properties"]);
    assert_eq!(four["level"], 4);
    assert_eq!(four["level_name"], "High");
    assert!((four["area_km2"].as_f64().unwrap() - 0.8).abs() < 1e-9, "{four}");
    assert_eq!(three["level"], 3);
    assert!((three["area_km2"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{three}");
    assert!((three["prob_max"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert!((four["prob_mean"].as_f64().unwrap() - 0.6).abs() < 1e-6);
    // Rows 300..340: elevations elev(339) .. elev(300).
    assert_eq!(four["elev_min_m"].as_f64().unwrap(), elev(339) as f64);
    assert_eq!(four["elev_max_m"].as_f64().unwrap(), elev(300) as f64);
    assert_eq!(four["aspects"], serde_json::json!(["S"]), "the DEM rises to the north: slopes face south");

    // Geometry: lon/lat, exterior counter-clockwise, 4 corners of a rectangle (+ closing point).
    let ring = f[1]["geometry"]["coordinates"][0].as_array().unwrap();
    let pts: Vec<(f64, f64)> = ring.iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect();
    assert_eq!(pts.first(), pts.last());
    assert!(pts.iter().all(|(lon, lat)| (7.4..7.6).contains(lon) && (46.8..47.0).contains(lat)), "{pts:?}");
    let area2: f64 = pts.windows(2).map(|p| p[0].0 * p[1].1 - p[1].0 * p[0].1).sum();
    assert!(area2 > 0.0, "RFC 7946: exterior rings counter-clockwise");
    // The zone's polygon area (projected back approximately: degrees to metres at 47 N) matches 2.0 km2.
    let km2 = area2.abs() / 2.0 * 111.32 * 111.32 * 47f64.to_radians().cos();
    assert!((km2 - 2.0).abs() < 0.02, "{km2}");
}

// ---- CAP --------------------------------------------------------------------------------------------------------

/// Checks the XML is well formed and returns the text of each element by name.
fn cap_fields(path: &Path) -> std::collections::HashMap<String, Vec<String>> {
    use quick_xml::events::Event;
    let xml = std::fs::read_to_string(path).unwrap();
    let mut r = quick_xml::Reader::from_str(&xml);
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut stack: Vec<String> = Vec::new();
    loop {
        match r.read_event().unwrap() {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if name == "alert" {
                    let ns = e.attributes().flatten().find(|a| a.key.as_ref() == b"xmlns").unwrap();
                    assert_eq!(&*ns.value, b"urn:oasis:names:tc:emergency:cap:1.2");
                }
                stack.push(name);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                if let Some(n) = stack.last() {
                    out.entry(n.clone()).or_default().push(t.decode().unwrap().into_owned());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty());
    out
}

#[test]
fn with_a_day_level_hazard_alerts_follow_the_hazard_not_the_area() {
    // The daily maps carry their hazard: an alert goes out when it reaches its threshold, even on a map without
    // zones, and none goes out above the area rule when the hazard is low; names say "avarisk risk class".
    let site = Site::new();
    let params = test_params();
    let h = |max: f64| Some(publish::DayHazard { max, threshold: 0.2 });
    let p1 = site.publish_with(d(13), true, &params, h(0.05)).unwrap();
    assert_eq!(p1.alert, None, "zones above the area rule, but a quiet day");
    let p2 = site.publish_with(d(14), false, &params, h(0.45)).unwrap();
    assert_eq!(p2.alert, Some(MsgType::Alert));
    let a2 = cap_fields(&p2.dir.join("alert.cap.xml"));
    assert_eq!(a2["severity"], ["Severe"], "more than twice the threshold");
    assert!(a2["headline"][0].contains("above the alert threshold") && !a2["headline"][0].contains("EAWS"), "{a2:?}");
    assert!(a2["description"][0].contains("avarisk risk class"), "{a2:?}");
    assert!(a2["description"][0].contains("hazard 0.450 (alert from 0.200)"), "{a2:?}");
    let p3 = site.publish_with(d(15), true, &params, h(0.25)).unwrap();
    assert_eq!(p3.alert, Some(MsgType::Update));
    assert_eq!(cap_fields(&p3.dir.join("alert.cap.xml"))["severity"], ["Moderate"]);
    let p4 = site.publish_with(d(16), true, &params, h(0.1)).unwrap();
    assert_eq!(p4.alert, Some(MsgType::Cancel));
    let item = read_json(&p4.item);
    assert_eq!(item["properties"]["avarisk:hazard"], 0.1);
    assert_eq!(item["properties"]["avarisk:risk_scale"], "avarisk risk class");
    assert_eq!(item["assets"]["danger_class"]["title"], "avarisk risk class (1-5)");
}

#[test]
fn cap_alert_update_cancel_over_three_days() {
    let site = Site::new();
    let params = PublishParams { alert_min_area_km2: 2.5, ..test_params() };
    let p1 = site.publish(d(13), true, &params).unwrap();
    assert_eq!(p1.alert, Some(MsgType::Alert));
    let a1 = cap_fields(&p1.dir.join("alert.cap.xml"));
    assert_eq!(a1["msgType"], ["Alert"]);
    assert_eq!(a1["status"], ["Test"]);
    assert_eq!(a1["identifier"], ["avarisk.synthetic-alps.2021-02-13"]);
    assert_eq!(a1["severity"], ["Severe"], "level 4 is the highest");
    assert!(!a1.contains_key("references"));
    assert_eq!(a1["effective"], ["2021-02-12T23:00:00+00:00"]);
    // Two alerting zones (2.0 + 0.8 km2 >= 2.5), each a rectangle: 5 "lat,lon" pairs, lat first.
    assert_eq!(a1["polygon"].len(), 2);
    for poly in &a1["polygon"] {
        let pairs: Vec<(f64, f64)> = poly
            .split(' ')
            .map(|p| {
                let (lat, lon) = p.split_once(',').unwrap();
                (lat.parse().unwrap(), lon.parse().unwrap())
            })
            .collect();
        assert_eq!(pairs.len(), 5, "{poly}");
        assert_eq!(pairs.first(), pairs.last());
        assert!(pairs.iter().all(|(lat, lon)| (46.8..47.0).contains(lat) && (7.4..7.6).contains(lon)), "{poly}");
    }

    let p2 = site.publish(d(14), true, &params).unwrap();
    assert_eq!(p2.alert, Some(MsgType::Update));
    let a2 = cap_fields(&p2.dir.join("alert.cap.xml"));
    assert_eq!(a2["msgType"], ["Update"]);
    assert_eq!(a2["references"], [format!("avarisk,avarisk.synthetic-alps.2021-02-13,{}", a1["sent"][0])]);

    let p3 = site.publish(d(15), false, &params).unwrap();
    assert_eq!(p3.alert, Some(MsgType::Cancel));
    let a3 = cap_fields(&p3.dir.join("alert.cap.xml"));
    assert_eq!(a3["msgType"], ["Cancel"]);
    assert_eq!(a3["references"], [format!("avarisk,avarisk.synthetic-alps.2021-02-14,{}", a2["sent"][0])]);
    assert!(!a3.contains_key("polygon"));

    // Nothing in force, nothing today: no message.
    let p4 = site.publish(d(16), false, &params).unwrap();
    assert_eq!(p4.alert, None);
    assert!(!p4.dir.join("alert.cap.xml").exists());
    // Below the area threshold (2.8 km2 < 5) no alert either, and Actual status outside dry runs.
    let p5 = site.publish(d(17), true, &PublishParams { alert_min_area_km2: 5.0, ..PublishParams::default() }).unwrap();
    assert_eq!(p5.alert, None);
    let p6 = site.publish(d(18), true, &PublishParams::default()).unwrap();
    assert_eq!(cap_fields(&p6.dir.join("alert.cap.xml"))["status"], ["Actual"]);
    assert_eq!(read_json(&p6.item)["properties"]["avarisk:alert"]["active"], true);
}

// ---- atomic publish ---------------------------------------------------------------------------------------------

/// Every file under `dir` (following `latest`) with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn injected_failures_leave_previous_maps_and_latest_intact() {
    let site = Site::new();
    let params = test_params();
    site.publish(d(14), true, &params).unwrap();
    site.publish(d(15), false, &params).unwrap();
    let site_dir = site.store().published_site("synthetic-alps");
    let latest = site.store().latest("synthetic-alps");
    assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("2021-02-15"));
    let before = snapshot(&site_dir);
    let before_latest = snapshot(&latest);

    for fail in FailPoint::ALL {
        // Re-publishing the same day (with different content) fails: the previous same-day map stays.
        let p = PublishParams { fail_at: Some(fail), ..params.clone() };
        let err = site.publish(d(15), true, &p).unwrap_err();
        assert!(matches!(err, PublishError::Injected(f) if f == fail), "{err}");
        assert_eq!(snapshot(&site_dir), before, "after a failure at `{}`", fail.name());
        assert_eq!(snapshot(&latest), before_latest, "latest after a failure at `{}`", fail.name());
        assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("2021-02-15"));
        // A new day fails: no folder for it, the previous day untouched.
        let err = site.publish(d(16), true, &p).unwrap_err();
        assert!(matches!(err, PublishError::Injected(_)), "{err}");
        assert!(!site.day(d(16)).exists(), "no partial 2021-02-16 after `{}`", fail.name());
        assert_eq!(snapshot(&site_dir), before, "after a failed new day at `{}`", fail.name());
        let hidden: Vec<_> = std::fs::read_dir(&site_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "leftovers {hidden:?} after `{}`", fail.name());
    }

    // Without a failure the same day is replaced and the next day becomes latest.
    let p = site.publish(d(15), true, &params).unwrap();
    assert_eq!(p.zones, 2);
    assert_ne!(snapshot(&site_dir), before);
    let p = site.publish(d(16), true, &params).unwrap();
    assert_eq!(p.latest, d(16));
    assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("2021-02-16"));
    // Back-filling an older day keeps latest on the newest.
    let p = site.publish(d(10), true, &params).unwrap();
    assert_eq!(p.latest, d(16));
    assert_eq!(std::fs::read_link(&latest).unwrap(), Path::new("2021-02-16"));
}

// ---- quicklook --------------------------------------------------------------------------------------------------

#[test]
fn quicklook_is_a_png_with_map_legend_and_title() {
    let site = Site::new();
    let published = site.publish(d(15), true, &test_params()).unwrap();
    let file = std::fs::File::open(published.dir.join("quicklook.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info().unwrap();
    let (w, h) = (reader.info().width as usize, reader.info().height as usize);
    // Layout (src/publish/quicklook.rs): map 600 px wide + 2 x 10 px margin; 40 px title, map 520 px, 12 px gap,
    // legend title 18 px + 5 rows of 20 px, 24 px footer.
    assert_eq!((w, h), (620, 40 + 520 + 12 + 18 + 100 + 24));
    let mut buf = vec![0; reader.output_buffer_size()];
    reader.next_frame(&mut buf).unwrap();
    let px = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    };
    // Inside the level-3 block (map at x 10.., y 40..) the orange dominates the grey hillshade.
    let c = px(10 + 150, 40 + 125);
    assert!(c[0] > c[2] + 60 && c[1] > c[2] + 20, "{c:?}");
    // The level-4 block is red.
    let c = px(10 + 320, 40 + 320);
    assert!(c[0] > c[1] + 60 && c[0] > c[2] + 60, "{c:?}");
    // Columns without a prediction show the bare hillshade (grey), level-1 cells are tinted.
    let c = px(10 + 3, 40 + 200);
    assert!(c[0] == c[1] && c[1] == c[2], "{c:?}");
    let c = px(10 + 50, 40 + 200);
    assert!(c[1] > c[2] + 40, "{c:?}");
    // The legend's level-3 swatch carries the EAWS colour.
    assert_eq!(px(20, 40 + 520 + 12 + 16 + 2 * 20 + 5), [0xFF, 0x99, 0x00]);
}

// ---- real terrain -----------------------------------------------------------------------------------------------

#[test]
fn publishes_a_map_over_real_srtm_terrain() {
    use avarisk::geo::{warp::warp_to_grid, Bounds, Crs, Grid, Resampling};
    // 27 x 27 km of the Lechtal/Arlberg area (bundled SRTM3 N47E010) on an Austrian Lambert 90 m grid.
    let dir = tempfile::tempdir().unwrap();
    let crs = Crs::from_epsg(31287).unwrap();
    let b = Crs::wgs84().transform_bounds([10.2, 47.1, 10.55, 47.35], &crs).unwrap();
    let grid = Grid::from_bounds(crs, Bounds::from_array(b), 90.0);
    let dem_path = dir.path().join("dem.tif");
    let src = gdal::Dataset::open(crate::srtm("N47E010")).unwrap();
    warp_to_grid(&[&src], &grid, Resampling::Bilinear, &dem_path).unwrap();
    let (dem, w, h, _) = crate::read_band(&dem_path, 1);
    // Probability rising with slope (Horn), the way release areas do: 0 under 25 degrees, 0.9 from 45.
    let mut p = vec![0f32; w * h];
    for r in 1..h - 1 {
        for c in 1..w - 1 {
            let z = |dr: usize, dc: usize| dem[(r + dr - 1) * w + c + dc - 1] as f64;
            let gx = ((z(0, 2) + 2.0 * z(1, 2) + z(2, 2)) - (z(0, 0) + 2.0 * z(1, 0) + z(2, 0))) / (8.0 * 90.0);
            let gy = ((z(0, 0) + 2.0 * z(0, 1) + z(0, 2)) - (z(2, 0) + 2.0 * z(2, 1) + z(2, 2))) / (8.0 * 90.0);
            let slope = (gx * gx + gy * gy).sqrt().atan().to_degrees();
            p[r * w + c] = (((slope - 25.0) / 20.0).clamp(0.0, 1.0) * 0.9) as f32;
        }
    }
    let pred = dir.path().join("pred.tif");
    crate::write_tif(&pred, Some(31287), (grid.transform[0], grid.transform[3]), 90.0, (w, h), p, Some(-9999.0));
    let store = Store::new(dir.path().join("out"));
    let input = MapInput {
        site_id: "lechtal",
        site_name: "Lechtal - Arlberg",
        date: d(15),
        time_zone: chrono_tz::Europe::Vienna,
        prediction: &pred,
        dem: &dem_path,
        bundle_id: "slope-rule@sha256:00",
        scale: &SCALE,
        attribution: vec!["SRTM3 (NASA/USGS), public domain".into()],
        hazard: None,
    };
    let published = publish::publish(&store, &input, &test_params()).unwrap();
    assert!(published.zones > 3, "{published:?}");
    assert_eq!(published.alert, Some(MsgType::Alert));

    let z = read_json(&published.dir.join("zones.geojson"));
    let mut sectors = std::collections::BTreeSet::new();
    for f in z["features"].as_array().unwrap() {
        let pr = &f["properties"];
        let (lo, hi) = (pr["elev_min_m"].as_f64().unwrap(), pr["elev_max_m"].as_f64().unwrap());
        assert!(lo >= 800.0 && lo <= hi && hi < 3800.0, "{pr}");
        assert!(pr["area_km2"].as_f64().unwrap() >= 0.05);
        for a in pr["aspects"].as_array().unwrap() {
            sectors.insert(a.as_str().unwrap().to_owned());
        }
    }
    assert!(sectors.len() >= 4, "real slopes face many ways: {sectors:?}");
    let item = read_json(&published.item);
    assert_eq!(errors(&validator("stac-spec/v1.0.0/item.json"), &item), Vec::<String>::new());
    assert_eq!(item["properties"]["proj:epsg"], 31287);
    let bb: Vec<f64> = item["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!((bb[0] - 10.2).abs() < 0.02 && (bb[3] - 47.35).abs() < 0.02, "{bb:?}");
    publish::cog::check(&published.dir.join("danger_class.tif"), publish::cog::Expect::class()).unwrap();
    if let Ok(keep) = std::env::var("AVARISK_TEST_KEEP") {
        std::fs::copy(published.dir.join("quicklook.png"), Path::new(&keep).join("lechtal.png")).unwrap();
    }
}
