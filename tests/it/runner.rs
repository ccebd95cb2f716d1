//! The pipeline runner through the binary: ledger, skip and rerun decisions, lock (exit 75), failing sites (exit 1),
//! backfill, SIGKILL at several points then a re-run (outputs identical to an uninterrupted run), SIGTERM at a unit
//! boundary, shards, dry runs, JSON logs, and `site add` on a real DEM.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::*;

/// A pipeline with undated (dem, terrain) and dated (weather, weather_features) stages.
const FIXTURE_PIPELINE: &str = r#"
description = "Runner fixture: DEM and terrain once per site, weather and its channels per date"
[[stages]]
stage = "weather_features"
[[stages]]
stage = "terrain"
features = ["slope", "aspect", "tri", "roughness", "vrm", "wind_shelter", "pra"]
vrm_window = 3
[[stages]]
stage = "weather"
[[stages]]
stage = "dem"
"#;

/// A 90 m site on the bundled SRTM tile N47E010 (Tyrol), with the recorded Open-Meteo answers of tyrol-west
/// (real values at Chur, winter 2020/21; recorded answers are found by point id) as its offline weather, placed at
/// the site centre. `x0`/`y0` place it (EPSG:31287, metres); `km` is its size.
fn site(id: &str, x0: f64, y0: f64, km: f64) -> String {
    let (lon, lat) = {
        use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
        let mut from = SpatialRef::from_epsg(31287).unwrap();
        from.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let mut to = SpatialRef::from_epsg(4326).unwrap();
        to.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let (mut x, mut y) = ([x0 + km * 500.0], [y0 + km * 500.0]);
        CoordTransform::new(&from, &to).unwrap().transform_coords(&mut x, &mut y, &mut []).unwrap();
        (x[0], y[0])
    };
    format!(
        r#"
id = "{id}"
name = "Runner fixture {id}"
crs = "EPSG:31287"
resolution_m = 90.0
timezone = "Europe/Vienna"
[bounds]
xmin = {x0}
ymin = {y0}
xmax = {xmax}
ymax = {ymax}
[[dem]]
path = "{dem}"
[weather]
type = "open_meteo"
endpoint = "archive"
daily = ["snowfall_sum", "rain_sum", "temperature_2m_mean", "temperature_2m_min", "temperature_2m_max"]
hourly = []
recorded = "{recorded}"
[[weather.points]]
id = "graubuenden"
latitude = {lat}
longitude = {lon}
elevation_m = 600.0
[[attribution]]
data = "DEM and weather"
source = "NASA/USGS SRTMGL3; Open-Meteo"
licence = "public domain; CC BY 4.0"
"#,
        xmax = x0 + km * 1000.0,
        ymax = y0 + km * 1000.0,
        dem = srtm("N47E010"),
        recorded = repo().join("sites/tyrol-west/weather/recorded").display(),
    )
}

/// Three sites of different sizes (about 130, 100 and 440 cells square); `fail` adds a fourth whose DEM tile misses it (valid config, fails at run time).
fn project(fail: bool) -> tempfile::TempDir {
    let a = site("alpha", 150000.0, 350000.0, 12.0);
    let b = site("bravo", 170000.0, 360000.0, 9.0);
    // The largest, so that the kill points in its terrain stage are reached while the run is busy with it.
    let c = site("charlie", 170000.0, 360000.0, 40.0);
    let elsewhere = site("elsewhere", 150000.0, 350000.0, 10.0).replace(&srtm("N47E010"), &srtm("N46E007"));
    let mut sites = vec![("alpha", a.as_str()), ("bravo", b.as_str()), ("charlie", c.as_str())];
    if fail {
        sites.push(("elsewhere", elsewhere.as_str()));
    }
    let p = temp_project(&sites);
    std::fs::write(p.path().join("pipelines/fixture.toml"), FIXTURE_PIPELINE).unwrap();
    p
}

fn run(p: &Path, root: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--root", root.to_str().unwrap(), "run", "fixture", "--offline"];
    args.extend_from_slice(extra);
    avarisk(p, &args)
}

fn spawn(p: &Path, root: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_avarisk"))
        .args(["--root", root.to_str().unwrap(), "run", "fixture", "--offline"])
        .args(extra)
        .env("AVARISK_PROJECT", p)
        .env("AVARISK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

const RANGE: [&str; 4] = ["--from", "2021-02-13", "--to", "2021-02-15"];

/// Every file under `root/sites` (relative path -> bytes).
fn outputs(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&root.join("sites"), root, &mut out);
    out
}

fn mtimes(root: &Path) -> BTreeMap<PathBuf, SystemTime> {
    outputs(root).keys().map(|k| (k.clone(), std::fs::metadata(root.join(k)).unwrap().modified().unwrap())).collect()
}

/// (stage, site, date) -> (status, attempts) from the ledger.
fn ledger(root: &Path) -> BTreeMap<(String, String, String), (String, i64)> {
    let c = rusqlite::Connection::open(root.join("ledger.sqlite")).unwrap();
    let mut q = c.prepare("SELECT stage, site, date, status, attempts FROM units").unwrap();
    let rows = q
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), (r.get(3)?, r.get(4)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

fn statuses(root: &Path) -> Vec<String> {
    ledger(root).into_values().map(|(s, _)| s).collect()
}

/// The uninterrupted reference run of the fixture over [`RANGE`], shared by the tests that compare against it.
fn reference() -> &'static (tempfile::TempDir, BTreeMap<PathBuf, Vec<u8>>) {
    static REF: std::sync::OnceLock<(tempfile::TempDir, BTreeMap<PathBuf, Vec<u8>>)> = std::sync::OnceLock::new();
    REF.get_or_init(|| {
        let p = project(false);
        let root = p.path().join("out");
        let o = run(p.path(), &root, &RANGE);
        assert!(o.status.success(), "{}", text(&o));
        let files = outputs(&root);
        (p, files)
    })
}

#[test]
fn a_backfill_runs_each_date_in_order_and_undated_units_once() {
    let (p, files) = reference();
    let root = p.path().join("out");
    // 3 sites x (dem + terrain) + 3 sites x 3 dates x (weather + weather_features).
    let l = ledger(&root);
    assert_eq!(l.len(), 3 * 2 + 3 * 3 * 2, "{l:?}");
    assert!(l.values().all(|(s, a)| s == "done" && *a == 1), "{l:?}");
    for site in ["alpha", "bravo", "charlie"] {
        assert!(l.contains_key(&("terrain".into(), site.into(), "-".into())));
        for day in ["2021-02-13", "2021-02-14", "2021-02-15"] {
            assert!(
                files.contains_key(&PathBuf::from(format!("sites/{site}/weather/features/{day}.tif"))),
                "{site} {day}"
            );
            assert!(l.contains_key(&("weather_features".into(), site.into(), day.into())));
        }
    }
    // Dates run in order: each date's channels finished before the next date's weather started.
    let c = rusqlite::Connection::open(root.join("ledger.sqlite")).unwrap();
    let order: Vec<String> = c
        .prepare("SELECT date FROM units WHERE date != '-' ORDER BY started_at")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    // `status` prints the table, and JSON lines for machines.
    let o = avarisk(p.path(), &["--root", root.to_str().unwrap(), "status", "--date", "2021-02-14"]);
    assert!(o.status.success(), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.lines().count(), 1 + 3 * 2 + 3 * 2, "header, undated units, the date's units:\n{table}");
    let o = avarisk(p.path(), &["--root", root.to_str().unwrap(), "status", "--json"]);
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), l.len());
    assert!(rows.iter().all(|r| r["status"] == "done" && r["input_hash"].as_str().unwrap().len() == 64));
}

#[test]
fn a_rerun_skips_everything_and_rewrites_nothing() {
    let p = project(false);
    let root = p.path().join("out");
    let o = run(p.path(), &root, &["--date", "2021-02-15"]);
    assert!(o.status.success(), "{}", text(&o));
    let before = mtimes(&root);
    assert_eq!(before.len(), 3 * 4, "dem, features, weather store, channels per site: {before:?}");
    std::thread::sleep(Duration::from_millis(50));
    let o = run(p.path(), &root, &["--date", "2021-02-15"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().filter(|l| l.starts_with("skip ")).count(), 12, "{out}");
    assert!(out.contains("0 done, 12 skipped, 0 failed"), "{out}");
    assert_eq!(mtimes(&root), before, "a skipped unit rewrites nothing");
}

#[test]
fn a_changed_input_reruns_only_the_affected_units() {
    let p = project(false);
    let root = p.path().join("out");
    assert!(run(p.path(), &root, &["--date", "2021-02-15"]).status.success());
    let before = outputs(&root);
    // 1. Another terrain parameter: the terrain units run again, nothing else.
    let pipe = p.path().join("pipelines/fixture.toml");
    std::fs::write(&pipe, FIXTURE_PIPELINE.replace("vrm_window = 3", "vrm_window = 5")).unwrap();
    let o = run(p.path(), &root, &["--date", "2021-02-15"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}");
    let ran: Vec<&str> = out.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(ran.len(), 3, "{out}");
    assert!(ran.iter().all(|l| l.contains(" terrain ")), "{out}");
    let after = outputs(&root);
    for (k, v) in &before {
        let changed = after[k] != *v;
        assert_eq!(changed, k.ends_with("terrain/features.tif"), "{}", k.display());
    }
    // 2. A deleted output: only its unit runs again, and writes the same bytes.
    let channels = root.join("sites/bravo/weather/features/2021-02-15.tif");
    std::fs::remove_file(&channels).unwrap();
    let o = run(p.path(), &root, &["--date", "2021-02-15"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let ran: Vec<&str> = out.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(ran.len(), 1, "{out}");
    assert!(ran[0].contains("bravo") && ran[0].contains("weather_features"), "{out}");
    assert_eq!(std::fs::read(&channels).unwrap(), after[&PathBuf::from("sites/bravo/weather/features/2021-02-15.tif")]);
    // 3. Another date: the undated units are not redone, the dated ones run for the new date.
    let o = run(p.path(), &root, &["--date", "2021-02-14"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("6 done, 6 skipped"), "{out}");
}

#[test]
fn a_run_exits_75_while_another_holds_the_lock_and_wait_queues_behind_it() {
    use fs4::FileExt;
    let p = project(false);
    let root = p.path().join("out");
    std::fs::create_dir_all(&root).unwrap();
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(root.join("avarisk.lock")).unwrap();
    FileExt::try_lock(&lock).unwrap();
    let o = run(p.path(), &root, &["--date", "2021-02-15", "--sites", "bravo"]);
    assert_eq!(o.status.code(), Some(75), "{}", text(&o));
    assert!(text(&o).contains("another avarisk run holds"), "{}", text(&o));
    assert!(!root.join("sites/bravo").exists(), "nothing ran");
    let waiting = spawn(p.path(), &root, &["--date", "2021-02-15", "--sites", "bravo", "--wait"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!root.join("sites/bravo").exists(), "--wait waits");
    FileExt::unlock(&lock).unwrap();
    let o = waiting.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(root.join("sites/bravo/weather/features/2021-02-15.tif").exists());
}

#[test]
fn one_failing_site_exits_1_the_others_are_done_and_retries_stop_at_the_limit() {
    let p = project(true);
    let root = p.path().join("out");
    let o = run(p.path(), &root, &["--date", "2021-02-15", "--jobs", "2"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("does not cover site `elsewhere`"), "{out}");
    for s in ["alpha", "bravo", "charlie"] {
        assert!(root.join(format!("sites/{s}/weather/features/2021-02-15.tif")).exists(), "{s}: {out}");
    }
    let l = ledger(&root);
    assert_eq!(l[&("dem".into(), "elsewhere".into(), "-".into())], ("failed".into(), 1));
    assert!(!l.contains_key(&("terrain".into(), "elsewhere".into(), "-".into())), "later stages are not attempted");
    assert!(String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("BLOCKED elsewhere")), "{out}");
    // Retried on each run up to --max-attempts, then left alone until its inputs change.
    for attempt in 2..=3 {
        let o = run(p.path(), &root, &["--date", "2021-02-15", "--max-attempts", "3"]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(ledger(&root)[&("dem".into(), "elsewhere".into(), "-".into())], ("failed".into(), attempt));
    }
    let o = run(p.path(), &root, &["--date", "2021-02-15", "--max-attempts", "3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("GAVE-UP elsewhere"), "{}", text(&o));
    assert_eq!(ledger(&root)[&("dem".into(), "elsewhere".into(), "-".into())].1, 3, "not attempted again");
}

/// Starts the fixture run over [`RANGE`] and SIGKILLs it once `ready` holds, then re-runs it to the end; the outputs
/// must equal the uninterrupted run's and the ledger must hold every unit done.
fn kill_when(what: &str, ready: impl Fn(&Path) -> bool, left_running: bool) {
    let (_, expected) = reference();
    let p = project(false);
    let root = p.path().join("out");
    let mut child = spawn(p.path(), &root, &RANGE);
    let t = Instant::now();
    loop {
        if ready(&root) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what}: the run ended ({status}) before the kill point was reached");
        }
        assert!(t.elapsed() < Duration::from_secs(120), "{what}: kill point not reached");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(outputs(&root).len() < expected.len(), "{what}: killed before the end");
    if left_running {
        assert!(statuses(&root).iter().any(|s| s == "running"), "{what}: the killed unit is left `running`");
    }
    let o = run(p.path(), &root, &RANGE);
    assert!(o.status.success(), "{what}: the re-run fails: {}", text(&o));
    let got = outputs(&root);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: the same files, no leftovers"
    );
    for (k, v) in expected {
        assert!(got[k] == *v, "{what}: {} differs from the uninterrupted run", k.display());
    }
    let s = statuses(&root);
    assert!(s.len() == 24 && s.iter().all(|s| s == "done"), "{what}: {:?}", ledger(&root));
    let c = rusqlite::Connection::open(root.join("ledger.sqlite")).unwrap();
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

fn running(root: &Path, stage: &str) -> bool {
    let Ok(c) =
        rusqlite::Connection::open_with_flags(root.join("ledger.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return false;
    };
    c.query_row("SELECT count(*) FROM units WHERE status = 'running' AND stage = ?1", [stage], |r| r.get::<_, i64>(0))
        .map(|n| n > 0)
        .unwrap_or(false)
}

fn staged_file_exists(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".tmp")))
        .unwrap_or(false)
}

#[test]
fn sigkill_after_the_first_output_then_a_rerun_matches_an_uninterrupted_run() {
    kill_when("after the first DEM", |root| root.join("sites/alpha/terrain/dem.tif").exists(), false);
}

#[test]
fn sigkill_in_the_middle_of_a_terrain_write_then_a_rerun_matches() {
    kill_when(
        "mid-write of the terrain stack",
        |root| running(root, "terrain") && staged_file_exists(&root.join("sites/charlie/terrain")),
        true,
    );
}

#[test]
fn sigkill_during_the_weather_of_the_second_date_then_a_rerun_matches() {
    kill_when(
        "after the first date's channels",
        |root| root.join("sites/charlie/weather/features/2021-02-13.tif").exists(),
        false,
    );
}

#[test]
fn sigterm_stops_at_a_unit_boundary_and_a_rerun_finishes() {
    let (_, expected) = reference();
    let p = project(false);
    let root = p.path().join("out");
    let child = spawn(p.path(), &root, &RANGE);
    let t = Instant::now();
    while !running(&root, "terrain") {
        assert!(t.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let s = statuses(&root);
    assert!(!s.iter().any(|s| s == "running"), "a graceful stop leaves no unit running: {:?}", ledger(&root));
    assert!(s.len() < 24, "stopped before the end: {:?}", ledger(&root));
    let o = run(p.path(), &root, &RANGE);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(&outputs(&root), expected);
}

#[test]
fn shards_split_the_sites_with_a_ledger_each_that_status_reads_together() {
    let p = project(false);
    let root = p.path().join("out");
    let mut seen = Vec::new();
    for i in 0..2 {
        let shard = format!("{i}/2");
        let o = run(p.path(), &root, &["--date", "2021-02-15", "--shard", &shard]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(root.join(format!("ledger.shard-{i}-of-2.sqlite")).exists());
        for line in String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("ok ") && l.contains(" dem ")) {
            seen.push(line.split_whitespace().nth(1).unwrap().to_owned());
        }
    }
    seen.sort();
    assert_eq!(seen, ["alpha", "bravo", "charlie"], "every site in exactly one shard");
    let o = avarisk(p.path(), &["--root", root.to_str().unwrap(), "status", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 12, "{}", text(&o));
    assert_eq!(avarisk(p.path(), &["run", "fixture", "--shard", "2/2"]).status.code(), Some(2));
}

#[test]
fn a_dry_run_prints_the_plan_and_runs_nothing() {
    let p = project(false);
    let root = p.path().join("out");
    let o = run(p.path(), &root, &["--dry-run", "--from", "2021-02-14", "--to", "2021-02-15"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("plan: 18 unit(s), 18 to run, 0 to skip"), "{out}");
    assert!(!root.join("sites").exists() && !root.join("ledger.sqlite").exists());
    assert!(run(p.path(), &root, &["--date", "2021-02-15"]).status.success());
    let o = run(p.path(), &root, &["--dry-run", "--from", "2021-02-14", "--to", "2021-02-15"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    // Undated units and the 15th are done; the 14th runs.
    assert!(out.contains("plan: 18 unit(s), 6 to run, 12 to skip"), "{out}");
}

#[test]
fn json_logs_carry_run_id_site_stage_and_date() {
    let p = project(false);
    let root = p.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_avarisk"))
        .args(["--root", root.to_str().unwrap(), "--log-format", "json", "run", "fixture", "--offline"])
        .args(["--date", "2021-02-15", "--sites", "bravo"])
        .env("AVARISK_PROJECT", p.path())
        .env("AVARISK_LOG", "info")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let unit_lines: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["spans"].as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "unit"))).collect();
    assert!(unit_lines.len() >= 4, "{lines:?}");
    for l in &unit_lines {
        let spans = l["spans"].as_array().unwrap();
        let field = |k: &str| spans.iter().find_map(|s| s.get(k)).cloned();
        assert!(field("run_id").is_some_and(|v| v.as_str().unwrap().len() > 10), "{l}");
        assert_eq!(field("site"), Some("bravo".into()), "{l}");
        assert!(field("stage").is_some() && field("date").is_some(), "{l}");
    }
}

#[test]
fn site_add_scaffolds_a_site_from_the_avawog_dem_that_onboards() {
    let p = temp_project(&[]);
    let dem = format!("/vsizip/{}/sites/avawog/dem/avaWog.zip/avaWog.asc", repo().display());
    let args = ["site", "add", "wog", "--dem", &dem, "--crs", "EPSG:31287", "--timezone", "Europe/Vienna"];
    let o = avarisk(p.path(), &args);
    assert!(o.status.success(), "{}", text(&o));
    let toml = std::fs::read_to_string(p.path().join("sites/wog/site.toml")).unwrap();
    // The grid is the file's: its cell size (4.9977 m in the ASCII header, where sites/avawog/site.toml rounds to
    // 5 m) and its extent (about 167453..169902 x 361953..364727 in EPSG:31287).
    let gt = gdal::Dataset::open(&dem).unwrap().geo_transform().unwrap();
    let raw: toml::Value = toml::from_str(&toml).unwrap();
    assert_eq!(raw["crs"].as_str(), Some("EPSG:31287"), "{toml}");
    assert_eq!(raw["resolution_m"].as_float(), Some(gt[1]), "{toml}");
    assert!((gt[1] - 5.0).abs() < 0.01);
    assert_eq!(raw["bounds"]["xmin"].as_float(), Some(gt[0]), "{toml}");
    assert_eq!(raw["bounds"]["ymax"].as_float(), Some(gt[3]), "{toml}");
    assert!((raw["bounds"]["xmin"].as_float().unwrap() - 167455.0).abs() < 5.0, "{toml}");
    assert!(toml.contains("crs = \"EPSG:31287\"   # the file carries none"), "{toml}");
    assert!(avarisk(p.path(), &["validate"]).status.success());
    // Never overwritten.
    let o = avarisk(p.path(), &args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("exists already"), "{}", text(&o));
    // Without --crs the CRS-less grid is refused, saying what to pass.
    let o = avarisk(p.path(), &["site", "add", "wog2", "--dem", &dem]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("pass --crs"), "{}", text(&o));
    // Then onboarding takes it to its terrain features.
    let root = p.path().join("out");
    let o = avarisk(p.path(), &["--root", root.to_str().unwrap(), "run", "onboard", "--sites", "wog"]);
    assert!(o.status.success(), "{}", text(&o));
    let (slope, w, h, _) = read_band(&root.join("sites/wog/terrain/features.tif"), 1);
    let (dem_w, dem_h) = {
        let ds = gdal::Dataset::open(&dem).unwrap();
        ds.raster_size()
    };
    assert_eq!((w, h), (dem_w, dem_h), "the site grid is the DEM's grid");
    assert!(slope.iter().any(|s| *s > 30.0), "avaWog is steep");
}
