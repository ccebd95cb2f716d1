//! A case per validation rule of [`compile`]: each edits one file of a small valid configuration in one place and
//! expects exactly the errors that rule reports there, by key and a fragment of the message.
//!
//! The configuration is TOML text, parsed in memory. `compile` reads no files, so the files it names need not exist
//! (`config::check_inputs` looks for them, after compiling).
use serde::de::DeserializeOwned;

use super::*;
use crate::config::parse::parse_strict;

/// Pretrained on its own records. The rule cases edit the target; an error of the source's own is reported for the
/// source alone (`an_invalid_source_site_is_not_reported_missing`).
const SOURCE: &str = r#"
id = "source"
name = "Source"
crs = "EPSG:2056"
resolution_m = 90.0
timezone = "Europe/Zurich"

[bounds]
xmin = 2770000.0
ymin = 1170000.0
xmax = 2800000.0
ymax = 1200000.0

[[dem]]
path = "/vsizip/../_shared/srtm3/N46E009.SRTMGL3.hgt.zip/N46E009.hgt"

[model]

[[attribution]]
data = "DEM"
source = "NASA/USGS SRTMGL3"
licence = "public domain"
"#;

/// Starts from the source's bundle, and has every other table a site can have. An array of tables that a case
/// empties (`attribution` here, `dem` in [`STATIONS`], weather points and stations) directly follows the keys of its
/// parent table, where one edit turns it into `key = []`.
const TARGET: &str = r#"
id = "target"
name = "Target"
crs = "EPSG:31287"
resolution_m = 100.0
timezone = "Europe/Vienna"

[[attribution]]
data = "DEM"
source = "NASA/USGS SRTMGL3"
licence = "public domain"

[bounds]
xmin = 180000.0
ymin = 360000.0
xmax = 200000.0
ymax = 380000.0

[[dem]]
path = "/vsizip/../_shared/srtm3/N47E010.SRTMGL3.hgt.zip/N47E010.hgt"
crs = "EPSG:4326"

[[observations]]
path = "observations/incidents.csv"
format = "csv"
delimiter = ";"
[observations.columns]
date = "date"
x = "longitude"
y = "latitude"
[observations.weather]
t_mean_c = "temperature"
snow_depth_cm = { column = "snow_depth", unit = "m" }

[[reference]]
kind = "release_areas"
path = "release_areas.shp"

[weather]
type = "open_meteo"
endpoint = "archive"
daily = ["snowfall_sum", "temperature_2m_mean"]
hourly = ["snow_depth"]
[[weather.points]]
id = "valley"
latitude = 47.2
longitude = 10.6
elevation_m = 900.0

[model]
from = "source"
mode = "freeze"

[danger]
thresholds = [0.01, 0.02, 0.05, 0.1]
zone_min_level = 3
alert_level = 3
alert_min_area_km2 = 5.0
zone_min_area_km2 = 0.5

[publish]
target = "s3://avarisk-maps/tyrol"
"#;

/// A site without a model (as `avawog`), with weather from station files.
const STATIONS: &str = r#"
id = "stations"
name = "Stations"
crs = "EPSG:2056"
resolution_m = 90.0
timezone = "Europe/Zurich"

[[dem]]
path = "dem/davos.tif"

[bounds]
xmin = 2770000.0
ymin = 1170000.0
xmax = 2800000.0
ymax = 1200000.0

[weather]
type = "station_csv"
format = "imis"
[[weather.stations]]
id = "davos"
path = "weather/imis.csv"
latitude = 46.8
longitude = 9.836
elevation_m = 1560.0

[[attribution]]
data = "weather"
source = "SLF IMIS"
licence = "CC BY 4.0"
"#;

const ONBOARD: &str = r#"
description = "Onboard a site"

[[stages]]
stage = "dem"
resampling = "bilinear"

[[stages]]
stage = "observations"
label_radius_m = 135

[[stages]]
stage = "terrain"
features = ["slope", "aspect", "vrm"]
vrm_window = 3
[stages.wind_shelter]
radius_m = 60
direction_deg = 0
tolerance_deg = 180
quantile = 0.5

[[stages]]
stage = "model"
epochs = 10
lr = 0.002

[[stages]]
stage = "hazard"
"#;

const DAILY: &str = r#"
description = "Daily maps"

[[stages]]
stage = "weather"
concurrency = 8
connect_timeout_s = 10
read_timeout_s = 30
retries = 4
backoff_s = 0.5

[[stages]]
stage = "weather_features"
lapse_rate_c_per_km = -6.5
snowfall_gradient_per_100m = 0.05
idw_power = 2.0
max_gap_days = 2

[[stages]]
stage = "predict"
tile = 256
overlap = 64
batch = 4
mc_passes = 0

[[stages]]
stage = "publish"
test = false
target = "s3://avarisk-maps/daily"
"#;

const PRETRAIN: &str = r#"
description = "Pretrain on the source site"

[[stages]]
stage = "train"
sites = ["source"]
patch = 160
context = 32
epochs = 15
batch = 16
lr = 0.002
"#;

/// Sites by folder name, in the order `config::read_all` lists them.
const SITES: [(&str, &str); 3] = [("source", SOURCE), ("stations", STATIONS), ("target", TARGET)];
const PIPELINES: [(&str, &str); 3] = [("daily", DAILY), ("onboard", ONBOARD), ("pretrain", PRETRAIN)];

/// (file, text found once in it, its replacement, every error expected in that file as (key, message fragment)).
type Case = (&'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

fn file(name: &str) -> PathBuf {
    if SITES.iter().any(|(id, _)| *id == name) {
        PathBuf::from(format!("/project/sites/{name}/site.toml"))
    } else {
        PathBuf::from(format!("/project/pipelines/{name}.toml"))
    }
}

/// The baseline configuration, with `edit` (file, text, replacement) applied.
fn raw_config(edit: Option<(&str, &str, &str)>) -> Result<RawConfig, String> {
    let text = |name: &str, baseline: &str| match edit {
        Some((f, from, to)) if f == name => match baseline.matches(from).count() {
            1 => Ok(baseline.replacen(from, to, 1)),
            n => Err(format!("`{from}` occurs {n} times in {name}, not once")),
        },
        _ => Ok(baseline.to_owned()),
    };
    let mut raw = RawConfig::default();
    for (id, baseline) in SITES {
        raw.sites.push((file(id), parse(&file(id), &text(id, baseline)?)?));
    }
    for (name, baseline) in PIPELINES {
        raw.pipelines.insert(name.to_owned(), (file(name), parse(&file(name), &text(name, baseline)?)?));
    }
    Ok(raw)
}

fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, String> {
    let (value, errors) = parse_strict::<T>(file, text);
    value.ok_or_else(|| format!("does not parse: {errors:#?}"))
}

/// Runs every case, then fails once, naming each case that failed and what it got.
fn check(cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|&(edited, from, to, expected)| {
            let case = format!("{edited}: `{from}` -> `{to}`");
            let errors = match raw_config(Some((edited, from, to))) {
                Ok(raw) => compile(&raw).err().unwrap_or_default(),
                Err(why) => return Some(format!("{case}\n  {why}")),
            };
            let matches = errors.len() == expected.len()
                && errors.iter().zip(expected).all(|(e, (key, fragment))| {
                    e.file == file(edited) && e.key == *key && e.message.contains(fragment)
                });
            (!matches).then(|| format!("{case}\n  expected (in {edited}): {expected:?}\n  got: {errors:#?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn the_baseline_compiles() {
    let plan = compile(&raw_config(None).unwrap()).unwrap_or_else(|e| panic!("{e:#?}"));
    let ids: Vec<&str> = plan.sites.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["source", "stations", "target"]);
    assert_eq!(plan.pipelines.len(), 3);
}

#[test]
fn site_rules() {
    check(&[
        ("target", r#"id = "target""#, r#"id = "Target""#, &[("id", "is not a valid site id")]),
        ("target", r#"id = "target""#, r#"id = "other""#, &[("id", "differs from the site's folder name `target`")]),
        // Ids equal folder names, so a duplicate id is always in the wrong folder too.
        (
            "target",
            r#"id = "target""#,
            r#"id = "stations""#,
            &[("id", "site id `stations` is used by another site"), ("id", "differs from the site's folder name")],
        ),
        ("target", r#"name = "Target""#, r#"name = " ""#, &[("name", "must not be empty")]),
        ("target", r#"crs = "EPSG:31287""#, r#"crs = "EPSG:4326""#, &[("crs", "is not a projected CRS in metres")]),
        ("target", r#"crs = "EPSG:31287""#, r#"crs = "Austria Lambert""#, &[("crs", "write it as EPSG:<code>")]),
        ("target", r#"crs = "EPSG:31287""#, r#"crs = "EPSG:99999""#, &[("crs", "not in the EPSG registry")]),
        ("target", "resolution_m = 100.0", "resolution_m = 0.0", &[("resolution_m", "must be a positive number")]),
        ("target", "resolution_m = 100.0", "resolution_m = 0.001", &[("resolution_m", "is the resolution in metres?")]),
        ("target", "resolution_m = 100.0", "resolution_m = 10000.0", &[("bounds", "only 4 cell(s) at 10000 m")]),
        ("target", "xmax = 200000.0", "xmax = 170000.0", &[("bounds", "need finite xmin < xmax and ymin < ymax")]),
        // Its other reason, bounds that cannot be transformed to longitude/latitude, is not reached from TOML: GDAL
        // clamps even bounds of 1e20 m to the globe.
        ("target", "xmin = 180000.0", "xmin = -100000.0", &[("bounds", "not in the valid area of EPSG:31287")]),
        ("target", r#""Europe/Vienna""#, r#""Europe/Atlantis""#, &[("timezone", "is not an IANA time zone")]),
        ("stations", "[[dem]]\npath = \"dem/davos.tif\"\n", "dem = []\n", &[("dem", "at least one DEM source")]),
        ("target", r#"crs = "EPSG:4326""#, r#"crs = "WGS 84""#, &[("dem[0].crs", "unknown CRS `WGS 84`")]),
        ("target", r#"format = "csv""#, r#"format = "xlsx""#, &[("observations[0].format", "use csv or geojson")]),
        (
            "target",
            r#"format = "csv""#,
            "format = \"csv\"\ncrs = \"EPSG:99999\"",
            &[("observations[0].crs", "unknown CRS `EPSG:99999`")],
        ),
        ("target", r#"delimiter = ";""#, r#"delimiter = ";;""#, &[("observations[0].delimiter", "single-character")]),
        ("target", "y = \"latitude\"\n", "", &[("observations[0].columns", "a CSV needs `x` and `y` columns")]),
        (
            "target",
            "t_mean_c = ",
            "t_avg_c = ",
            &[("observations[0].weather.t_avg_c", "not a canonical weather column")],
        ),
        (
            "target",
            r#"unit = "m""#,
            r#"unit = "degC""#,
            &[("observations[0].weather.snow_depth_cm.unit", "`degC` cannot be converted to cm")],
        ),
        (
            "target",
            r#"unit = "m""#,
            r#"unit = "metres""#,
            &[("observations[0].weather.snow_depth_cm.unit", "unknown unit `metres`")],
        ),
        (
            "target",
            r#"kind = "release_areas""#,
            r#"kind = "slopes""#,
            &[("reference[0].kind", "not a known layer kind")],
        ),
        ("target", r#"mode = "freeze""#, r#"mode = "frozen""#, &[("model.mode", "`frozen` is not a mode")]),
        ("source", "[model]\n", "[model]\nmode = \"full\"\n", &[("model.mode", "`mode` is for a site with `from`")]),
        ("target", r#"from = "source""#, r#"from = "target""#, &[("model.from", "cannot start from its own bundle")]),
        ("target", r#"from = "source""#, r#"from = "nowhere""#, &[("model.from", "no site `nowhere` is configured")]),
        ("target", r#"from = "source""#, r#"from = "stations""#, &[("model.from", "`stations` is not a source site")]),
        ("target", "s3://avarisk-maps/tyrol", "/srv/maps", &[("publish.target", "not an object-storage URL")]),
        (
            "target",
            "s3://avarisk-maps/tyrol",
            "s3://Avarisk_Maps/tyrol",
            &[("publish.target", "bucket `Avarisk_Maps`")],
        ),
        ("target", "s3://avarisk-maps/tyrol", "s3://avarisk-maps/a//b", &[("publish.target", "prefix `a//b`")]),
        (
            "target",
            "[[attribution]]\ndata = \"DEM\"\nsource = \"NASA/USGS SRTMGL3\"\nlicence = \"public domain\"\n",
            "attribution = []\n",
            &[("attribution", "say where the site's data come from")],
        ),
        (
            "target",
            r#"licence = "public domain""#,
            r#"licence = """#,
            &[("attribution[0].licence", "must not be empty")],
        ),
    ]);
}

#[test]
fn weather_rules() {
    check(&[
        // Open-Meteo
        ("target", "latitude = 47.2", "latitude = 147.2", &[("weather.points[0]", "`valley`: latitude 147.2")]),
        ("target", "latitude = 47.2", "latitude = 48.2", &[("weather.points[0]", "lies far outside the site bounds")]),
        (
            "target",
            r#""temperature_2m_mean"]"#,
            r#""temperature_mean"]"#,
            &[("weather.daily", "`temperature_mean` is not an Open-Meteo variable")],
        ),
        (
            "target",
            r#"hourly = ["snow_depth"]"#,
            r#"hourly = ["snow_height"]"#,
            &[("weather.hourly", "`snow_height` is not an Open-Meteo variable")],
        ),
        (
            "target",
            "daily = [\"snowfall_sum\", \"temperature_2m_mean\"]\nhourly = [\"snow_depth\"]",
            "daily = []\nhourly = []",
            &[("weather.daily", "request at least one variable")],
        ),
        ("target", r#""archive""#, r#""history""#, &[("weather.endpoint", "unknown Open-Meteo endpoint `history`")]),
        (
            "target",
            r#"endpoint = "archive""#,
            "endpoint = \"archive\"\nbase_url = \"ftp://meteo.example\"",
            &[("weather.base_url", "is not an http(s) URL")],
        ),
        (
            "target",
            "[[weather.points]]\nid = \"valley\"\nlatitude = 47.2\nlongitude = 10.6\nelevation_m = 900.0\n",
            "points = []\n",
            &[("weather.points", "at least one query point")],
        ),
        (
            "target",
            "elevation_m = 900.0",
            "elevation_m = 900.0\n[[weather.points]]\nid = \"valley\"\nlatitude = 47.1\nlongitude = 10.6\n\
             elevation_m = 1500.0",
            &[("weather.points[1].id", "`valley` is used twice")],
        ),
        // Station files
        (
            "stations",
            r#"format = "imis""#,
            r#"format = "imiss""#,
            // Read as the generic format, the station files then also lack its keys.
            &[("weather.format", "unknown station format `imiss`"), ("weather", "the generic `csv` format needs")],
        ),
        ("stations", r#""imis""#, r#""csv""#, &[("weather", "needs `date_column` and `columns`")]),
        (
            "stations",
            r#"format = "imis""#,
            "format = \"imis\"\ndelimiter = \"tab\"",
            &[("weather.delimiter", "`tab` is not a single-character separator")],
        ),
        (
            "stations",
            r#"format = "imis""#,
            "format = \"imis\"\ncolumns = { new_snow = \"HN_1D\" }",
            &[("weather.columns.new_snow", "not a canonical weather column")],
        ),
        (
            "stations",
            "[[weather.stations]]\nid = \"davos\"\npath = \"weather/imis.csv\"\nlatitude = 46.8\nlongitude = 9.836\n\
             elevation_m = 1560.0\n",
            "stations = []\n",
            &[("weather.stations", "at least one station")],
        ),
        (
            "stations",
            "elevation_m = 1560.0",
            "elevation_m = 1560.0\n[[weather.stations]]\nid = \"davos\"\npath = \"weather/other.csv\"\n\
             latitude = 46.8\nlongitude = 9.836\nelevation_m = 1560.0",
            &[("weather.stations[1].id", "`davos` is used twice")],
        ),
        (
            "stations",
            "elevation_m = 1560.0",
            "elevation_m = 1560.0\n[[weather.stations]]\nid = \"davos-2\"\npath = \"./weather/imis.csv\"\n\
             code = \"davos\"\nlatitude = 46.8\nlongitude = 9.836\nelevation_m = 1560.0",
            &[("weather.stations[1].code", "`davos` names another station of weather/imis.csv")],
        ),
        ("stations", "longitude = 9.836", "longitude = 189.8", &[("weather.stations[0]", "out of range")]),
    ]);
}

#[test]
fn danger_rules() {
    check(&[
        ("target", "0.05, 0.1]", "0.05]", &[("danger.thresholds", "give 4 probabilities")]),
        ("target", "0.02, 0.05", "0.05, 0.02", &[("danger.thresholds", "must be strictly increasing in (0, 1)")]),
        ("target", "0.05, 0.1]", "0.05, 1.0]", &[("danger.thresholds", "must be strictly increasing in (0, 1)")]),
        ("target", "zone_min_level = 3", "zone_min_level = 1", &[("danger.zone_min_level", "from 2 to 5, found 1")]),
        ("target", "alert_level = 3", "alert_level = 6", &[("danger.alert_level", "from 2 to 5, found 6")]),
        (
            "target",
            "alert_min_area_km2 = 5.0",
            "alert_min_area_km2 = -1.0",
            &[("danger.alert_min_area_km2", "found -1")],
        ),
        ("target", "zone_min_area_km2 = 0.5", "zone_min_area_km2 = nan", &[("danger.zone_min_area_km2", "found NaN")]),
    ]);
}

#[test]
fn pipeline_rules() {
    check(&[
        ("pretrain", r#""Pretrain on the source site""#, r#"" ""#, &[("description", "say what the pipeline is for")]),
        (
            "pretrain",
            "[[stages]]\nstage = \"train\"\nsites = [\"source\"]\npatch = 160\ncontext = 32\nepochs = 15\nbatch = 16\n\
             lr = 0.002\n",
            "stages = []\n",
            &[("stages", "a pipeline needs at least one stage")],
        ),
        (
            "pretrain",
            "lr = 0.002",
            "lr = 0.002\n[[stages]]\nstage = \"train\"\nsites = [\"source\"]",
            &[("stages[1].stage", "stage `train` appears twice")],
        ),
        // train
        ("pretrain", r#"sites = ["source"]"#, "sites = []", &[("stages[0].sites", "name at least one source site")]),
        ("pretrain", r#""source"]"#, r#""source", "x"]"#, &[("stages[0].sites", "no site `x` is configured")]),
        ("pretrain", "patch = 160", "patch = 162", &[("stages[0].patch", "must be a multiple of 4, at least 8")]),
        ("pretrain", "context = 32", "context = 79", &[("stages[0].context", "2 x 79 + 4 > patch 160")]),
        ("pretrain", "epochs = 15", "epochs = 0", &[("stages[0].epochs", "must be at least 1")]),
        ("pretrain", "batch = 16", "batch = 0", &[("stages[0].batch", "must be at least 1")]),
        ("pretrain", "epochs = 15", "epochs = 15\npatience = 0", &[("stages[0].patience", "must be at least 1")]),
        ("pretrain", "lr = 0.002", "lr = 1.5", &[("stages[0].lr", "must be in (0, 1), got 1.5")]),
        // dem, observations, terrain, model
        ("onboard", r#""bilinear""#, r#""bicubic""#, &[("stages[0].resampling", "unknown resampling `bicubic`")]),
        ("onboard", "label_radius_m = 135", "label_radius_m = -1", &[("stages[1].label_radius_m", "[0, 5000] metres")]),
        (
            "onboard",
            r#""aspect", "vrm""#,
            r#""aspekt", "vrm""#,
            &[("stages[2].features[1]", "unknown terrain feature `aspekt`")],
        ),
        (
            "onboard",
            r#""aspect", "vrm""#,
            r#""aspect", "slope""#,
            &[("stages[2].features[2]", "`slope` is listed twice")],
        ),
        (
            "onboard",
            r#"features = ["slope", "aspect", "vrm"]"#,
            "features = []",
            &[("stages[2].features", "list at least one feature")],
        ),
        ("onboard", "vrm_window = 3", "vrm_window = 4", &[("stages[2].vrm_window", "an odd number of cells from 3")]),
        ("onboard", "radius_m = 60", "radius_m = 0", &[("stages[2].wind_shelter.radius_m", "(0, 5000] metres")]),
        (
            "onboard",
            "direction_deg = 0",
            "direction_deg = 400",
            &[("stages[2].wind_shelter.direction_deg", "[0, 360]")],
        ),
        (
            "onboard",
            "tolerance_deg = 180",
            "tolerance_deg = 0",
            &[("stages[2].wind_shelter.tolerance_deg", "(0, 180]")],
        ),
        ("onboard", "quantile = 0.5", "quantile = 1.5", &[("stages[2].wind_shelter.quantile", "must be in [0, 1]")]),
        (
            "onboard",
            r#"stage = "model""#,
            "stage = \"model\"\nsites = [\"source\"]",
            &[("stages[3].sites", "remove `sites` (it belongs to a `train` stage)")],
        ),
        ("onboard", "lr = 0.002", "lr = 0.0", &[("stages[3].lr", "must be in (0, 1), got 0")]),
        (
            "onboard",
            "lr = 0.002",
            "lr = 0.002\nweight_decay = -1e-4",
            &[("stages[3].weight_decay", "must be in [0, 1)")],
        ),
        ("onboard", "lr = 0.002", "lr = 0.002\nheld_back_from = 218", &[("stages[3].held_back_from", "got 218")]),
        (
            "onboard",
            "stage = \"hazard\"",
            "stage = \"hazard\"\nheld_back_from = 2018",
            &[("stages[4].held_back_from", "remove `held_back_from` here")],
        ),
        // weather, weather_features
        ("daily", "concurrency = 8", "concurrency = 0", &[("stages[0].concurrency", "must be 1 to 256")]),
        ("daily", "connect_timeout_s = 10", "connect_timeout_s = 0", &[("stages[0].connect_timeout_s", "(0, 3600]")]),
        ("daily", "read_timeout_s = 30", "read_timeout_s = 7200", &[("stages[0].read_timeout_s", "(0, 3600]")]),
        ("daily", "backoff_s = 0.5", "backoff_s = -0.5", &[("stages[0].backoff_s", "(0, 3600] seconds")]),
        ("daily", "retries = 4", "retries = 21", &[("stages[0].retries", "at most 20, got 21")]),
        ("daily", "= -6.5", "= 6.5", &[("stages[1].lapse_rate_c_per_km", "not a plausible lapse rate")]),
        ("daily", "= 0.05", "= 5.0", &[("stages[1].snowfall_gradient_per_100m", "5 is not plausible")]),
        ("daily", "idw_power = 2.0", "idw_power = 7.0", &[("stages[1].idw_power", "must be in [0, 6]")]),
        ("daily", "max_gap_days = 2", "max_gap_days = 11", &[("stages[1].max_gap_days", "cannot be filled honestly")]),
        // predict: each problem of `PredictParams::problems` under its own key
        ("daily", "tile = 256", "tile = 250", &[("stages[2].tile", "tile must be a multiple of 4, at least 32")]),
        ("daily", "overlap = 64", "overlap = 62", &[("stages[2].overlap", "overlap must be a multiple of 4")]),
        ("daily", "overlap = 64", "overlap = 128", &[("stages[2].overlap", "overlap must be less than half the tile")]),
        ("daily", "batch = 4", "batch = 0", &[("stages[2].batch", "batch must be at least 1")]),
        ("daily", "mc_passes = 0", "mc_passes = 101", &[("stages[2].mc_passes", "mc_passes must be at most 100")]),
        // publish
        ("daily", "s3://avarisk-maps/daily", "/srv/maps", &[("stages[3].target", "not an object-storage URL")]),
    ]);
}

/// A source site with an error of its own gets that error only: its targets are not told it is missing.
#[test]
fn an_invalid_source_site_is_not_reported_missing() {
    let errors = compile(&raw_config(Some(("source", r#"name = "Source""#, r#"name = """#))).unwrap()).unwrap_err();
    let found: Vec<(PathBuf, &str)> = errors.iter().map(|e| (e.file.clone(), e.key.as_str())).collect();
    assert_eq!(found, [(file("source"), "name")]);
}

#[test]
fn vsizip_paths_resolve_against_the_site_folder() {
    let (p, local) = resolve_gdal_path(Path::new("/p/sites/a"), "/vsizip/../_shared/x.zip/N46E007.hgt");
    assert_eq!(p, "/vsizip//p/sites/_shared/x.zip/N46E007.hgt");
    assert_eq!(local, Some(PathBuf::from("/p/sites/_shared/x.zip")));
    let (p, local) = resolve_gdal_path(Path::new("/p/sites/a"), "dem/a.tif");
    assert_eq!((p.as_str(), local), ("/p/sites/a/dem/a.tif", Some(PathBuf::from("/p/sites/a/dem/a.tif"))));
    assert_eq!(resolve_gdal_path(Path::new("/x"), "/vsis3/bucket/a.tif").1, None);
}
