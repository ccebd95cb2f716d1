//! Weather ingest against a real HTTP server on 127.0.0.1 answering in the Open-Meteo shape with real recorded
//! values, with faults injected: retries, Retry-After, timeouts, malformed and truncated bodies, missing variables,
//! nulls, duplicate and missing dates, declared units. A failed fetch must leave the store as it was.
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;

use super::http_server::{open_meteo_answer, Reply, Server};
use super::*;
use avarisk::config::{self, Site};
use avarisk::ingest::weather::fetch::{FetchParams, Fetcher};
use avarisk::ingest::weather::{self, store};

fn recorded() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("sites/swiss-alps/weather/recorded/valais.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A server whose path prefix `/<scenario>` selects the behaviour.
fn server() -> Server {
    let rec = recorded();
    Server::start(Arc::new(move |target: &str, n: usize| {
        let scenario = target.trim_start_matches('/').split('/').next().unwrap_or("");
        let ok = || open_meteo_answer(&rec, target);
        let json = |v: serde_json::Value| Reply::Json(v.to_string());
        match scenario {
            "ok" => json(ok()),
            "fail-once" if n == 0 => Reply::Status(500, vec![], "{\"error\":true,\"reason\":\"upstream\"}".into()),
            "fail-once" => json(ok()),
            "throttled" if n == 0 => Reply::Status(429, vec![("Retry-After".into(), "1".into())], String::new()),
            "throttled" => json(ok()),
            "hang" => Reply::Hang(Duration::from_secs(5)),
            "bad-request" => Reply::Status(400, vec![], "{\"error\":true,\"reason\":\"Cannot initialize WeatherVariable from invalid String value snowfal_sum\"}".into()),
            "malformed" => Reply::Json("{\"latitude\": 46.2, \"daily\": [oops".into()),
            "truncated" => Reply::Truncated(ok().to_string()),
            "cut-json" => {
                let s = ok().to_string();
                Reply::Json(s[..s.len() / 2].to_owned())
            }
            "missing-variable" => {
                let mut v = ok();
                v["daily"].as_object_mut().unwrap().remove("snowfall_sum");
                json(v)
            }
            "nulls" => {
                let mut v = ok();
                v["daily"]["snowfall_sum"][2] = serde_json::Value::Null;
                v["daily"]["temperature_2m_max"][2] = serde_json::Value::Null;
                json(v)
            }
            "duplicate-dates" => {
                let mut v = ok();
                let t = v["daily"]["time"].as_array_mut().unwrap();
                t[3] = t[2].clone();
                json(v)
            }
            "missing-dates" => {
                let mut v = ok();
                for (_, arr) in v["daily"].as_object_mut().unwrap() {
                    arr.as_array_mut().unwrap().remove(4);
                }
                json(v)
            }
            "snowfall-in-mm" => {
                let mut v = ok();
                v["daily_units"]["snowfall_sum"] = "mm".into();
                json(v)
            }
            "temperature-in-percent" => {
                let mut v = ok();
                v["daily_units"]["temperature_2m_max"] = "%".into();
                json(v)
            }
            "length-mismatch" => {
                let mut v = ok();
                v["daily"]["rain_sum"].as_array_mut().unwrap().pop();
                json(v)
            }
            _ => Reply::Status(404, vec![], String::new()),
        }
    }))
}

fn site_toml(base_url: &str) -> String {
    format!(
        r#"id = "wx"
name = "Weather test (around Sion)"
crs = "EPSG:2056"
resolution_m = 90.0
timezone = "Europe/Zurich"
[bounds]
xmin = 2570000.0
ymin = 1105000.0
xmax = 2600000.0
ymax = 1135000.0
[[dem]]
path = "{dem}"
[weather]
type = "open_meteo"
base_url = "{base_url}"
daily = ["snowfall_sum", "rain_sum", "temperature_2m_mean", "temperature_2m_min", "temperature_2m_max"]
hourly = []
[[weather.points]]
id = "valais"
latitude = 46.22144
longitude = 7.1770334
elevation_m = 488.0
[[attribution]]
data = "weather"
source = "Open-Meteo"
licence = "CC BY 4.0"
"#,
        dem = srtm("N46E007")
    )
}

fn site(base_url: &str) -> (tempfile::TempDir, Site) {
    let p = temp_project(&[("wx", &site_toml(base_url))]);
    let plan = config::load(p.path()).unwrap_or_else(|r| panic!("{r}"));
    let site = plan.site("wx").unwrap().clone();
    (p, site)
}

fn quick() -> FetchParams {
    FetchParams {
        concurrency: 4,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(400),
        retries: 2,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_secs(2),
    }
}

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 2, day).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// Ingests scenario `name` for 2021-02-`from`..=`to` into `dir`/daily.parquet with a cache in `dir`/cache.
fn ingest(
    srv: &Server,
    name: &str,
    dir: &Path,
    from: u32,
    to: u32,
    params: FetchParams,
) -> Result<weather::WeatherIngest, String> {
    let (_p, site) = site(&format!("{}/{name}", srv.base));
    let fetcher = Fetcher::new(params, &dir.join("cache"), false).unwrap();
    rt().block_on(weather::ingest(&site, &dir.join("daily.parquet"), d(from), d(to), &fetcher))
        .map_err(|e| e.to_string())
}

#[test]
fn real_answers_land_in_the_store_and_a_rerun_does_not_refetch() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let w = ingest(&srv, "ok", dir.path(), 1, 14, quick()).unwrap();
    assert_eq!((w.rows, w.upsert.inserted), (14, 14));
    let rows = store::load(&dir.path().join("daily.parquet")).unwrap();
    // Values are the recorded ones (Sion, 2021-02-10), in canonical units.
    let rec = recorded();
    let i = rec["daily"]["time"].as_array().unwrap().iter().position(|t| t == "2021-02-10").unwrap();
    let r = rows.iter().find(|r| r.date == d(10)).unwrap();
    assert_eq!(r.values.t_max_c, rec["daily"]["temperature_2m_max"][i].as_f64());
    assert_eq!(r.values.new_snow_cm, rec["daily"]["snowfall_sum"][i].as_f64());
    assert_eq!(r.values.wind_speed_ms, None, "not requested: missing, not zero");
    let hits = srv.hits();
    ingest(&srv, "ok", dir.path(), 1, 14, quick()).unwrap();
    assert_eq!(srv.hits(), hits, "the re-run is answered by the cache");

    // Offline with an empty cache and no recorded answers: says what is missing.
    let (_p, site) = site(&format!("{}/ok", srv.base));
    let fetcher = Fetcher::new(quick(), &dir.path().join("empty-cache"), true).unwrap();
    let err = rt()
        .block_on(weather::ingest(&site, &dir.path().join("x.parquet"), d(1), d(3), &fetcher))
        .unwrap_err()
        .to_string();
    assert!(err.contains("offline and not in the cache") && err.contains("start_date=2021-02-01"), "{err}");
}

#[test]
fn a_server_error_is_retried() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    ingest(&srv, "fail-once", dir.path(), 1, 5, quick()).unwrap();
    assert_eq!(srv.hits(), 2);
}

#[test]
fn a_429_waits_for_retry_after() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    ingest(&srv, "throttled", dir.path(), 1, 5, quick()).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(950), "{:?}", t.elapsed());
    assert_eq!(srv.hits(), 2);
}

#[test]
fn a_hang_past_the_read_timeout_is_retried_then_reported_and_the_store_is_untouched() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    ingest(&srv, "ok", dir.path(), 1, 5, quick()).unwrap();
    let before = std::fs::read(dir.path().join("daily.parquet")).unwrap();
    let t = Instant::now();
    let err = ingest(&srv, "hang", dir.path(), 6, 9, quick()).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(4), "timeouts bound the wait: {:?}", t.elapsed());
    assert!(err.contains("site `wx`") && err.contains("/hang/v1/archive?") && err.contains("3 attempt(s)"), "{err}");
    assert!(err.to_lowercase().contains("timed out"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("daily.parquet")).unwrap(), before);
}

#[test]
fn client_errors_are_not_retried() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let err = ingest(&srv, "bad-request", dir.path(), 1, 5, quick()).unwrap_err();
    assert_eq!(srv.hits(), 1);
    assert!(err.contains("HTTP 400") && err.contains("snowfal_sum"), "{err}");
}

/// Each broken answer is refused with a message naming what is wrong; the store keeps its earlier content.
#[test]
fn broken_answers_are_refused_and_leave_the_store_untouched() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    ingest(&srv, "ok", dir.path(), 1, 5, quick()).unwrap();
    let before = std::fs::read(dir.path().join("daily.parquet")).unwrap();
    for (scenario, expected) in [
        ("malformed", "not Open-Meteo JSON"),
        ("cut-json", "not Open-Meteo JSON"),
        ("truncated", "3 attempt(s)"),
        ("missing-variable", "lacks `daily.snowfall_sum`"),
        ("duplicate-dates", "lists 2021-02-08 twice"),
        ("temperature-in-percent", "`daily_units.temperature_2m_max` is `%`"),
        ("length-mismatch", "`daily.rain_sum` has 3 values for 4 times"),
    ] {
        let err = ingest(&srv, scenario, dir.path(), 6, 9, quick()).unwrap_err();
        assert!(err.contains(expected) && err.contains("site `wx`"), "{scenario}: {err}");
        assert_eq!(std::fs::read(dir.path().join("daily.parquet")).unwrap(), before, "{scenario} changed the store");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "only the store and the cache: no temporary files");
}

#[test]
fn nulls_and_missing_days_stay_missing_and_declared_units_are_converted() {
    let srv = server();
    let dir = tempfile::tempdir().unwrap();
    let rec = recorded();
    let at = |var: &str, day: &str| {
        let i = rec["daily"]["time"].as_array().unwrap().iter().position(|t| t == day).unwrap();
        rec["daily"][var][i].as_f64()
    };

    ingest(&srv, "nulls", dir.path(), 1, 10, quick()).unwrap();
    let rows = store::load(&dir.path().join("daily.parquet")).unwrap();
    let third = rows.iter().find(|r| r.date == d(3)).unwrap();
    assert_eq!((third.values.new_snow_cm, third.values.t_max_c), (None, None));
    assert_eq!(third.values.rain_mm, at("rain_sum", "2021-02-03"));

    let dir = tempfile::tempdir().unwrap();
    ingest(&srv, "missing-dates", dir.path(), 1, 10, quick()).unwrap();
    let rows = store::load(&dir.path().join("daily.parquet")).unwrap();
    assert_eq!(rows.len(), 9);
    assert!(rows.iter().all(|r| r.date != d(5)), "the missing day is absent, not zero");
    let f = avarisk::features::weather::daily_features("wx", &rows, d(5), &Default::default());
    assert!(f.unwrap_err().to_string().contains("no point has data for that day"));

    let dir = tempfile::tempdir().unwrap();
    ingest(&srv, "snowfall-in-mm", dir.path(), 1, 10, quick()).unwrap();
    let rows = store::load(&dir.path().join("daily.parquet")).unwrap();
    let r = rows.iter().find(|r| r.date == d(7)).unwrap();
    let mm = at("snowfall_sum", "2021-02-07").unwrap();
    assert!((r.values.new_snow_cm.unwrap() - mm / 10.0).abs() < 1e-9, "declared mm are converted to cm");
}

#[test]
fn the_cli_ingests_weather_and_writes_channels_offline_from_recorded_answers() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let o = avarisk(&repo(), &["--root", r, "ingest", "dem", "--site", "tyrol-west"]);
    assert!(o.status.success(), "{}", text(&o));
    let ingest_weather = |from: &str, to: &str| {
        avarisk(
            &repo(),
            &["--root", r, "ingest", "weather", "--site", "tyrol-west", "--from", from, "--to", to, "--offline"],
        )
    };
    let o = ingest_weather("2021-01-20", "2021-02-15");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("27 day-point rows") && text(&o).contains("from recorded answers"), "{}", text(&o));
    let o = avarisk(&repo(), &["--root", r, "features", "weather", "--site", "tyrol-west", "--date", "2021-02-15"]);
    assert!(o.status.success(), "{}", text(&o));
    let tif = root.path().join("sites/tyrol-west/weather/features/2021-02-15.tif");
    let ds = gdal::Dataset::open(&tif).unwrap();
    use gdal::Metadata;
    assert_eq!(ds.raster_count(), avarisk::features::weather::Channel::ALL.len());
    assert!(ds.metadata_item("AVARISK_UNAVAILABLE", "").unwrap().contains("wind_speed"));
    // Colder higher up: the lapse rate applies.
    use avarisk::features::weather::Channel;
    let t_mean_band = Channel::ALL.iter().position(|c| *c == Channel::TMean).unwrap() + 1;
    let (t, ..) = read_band(&tif, t_mean_band);
    let (z, ..) = read_band(&root.path().join("sites/tyrol-west/terrain/dem.tif"), 1);
    let (lo, hi) = (
        z.iter().zip(&t).filter(|(z, _)| **z > 0.0 && **z < 1000.0).map(|(_, t)| *t).next().unwrap(),
        z.iter().zip(&t).filter(|(z, _)| **z > 3000.0).map(|(_, t)| *t).next().unwrap(),
    );
    assert!(hi < lo - 10.0, "t_mean at >3000 m ({hi}) well below that under 1000 m ({lo})");
    // A day after the recorded answers (they end on 2023-12-31) is refused offline, naming what is missing.
    let o = ingest_weather("2024-01-01", "2024-01-02");
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(out.contains("tyrol-west") && out.contains("holds no day of 2024-01-01..2024-01-02"), "{out}");
}
