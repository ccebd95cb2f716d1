//! Publishing to object storage and serving from it, against a real S3-compatible server: moto's server mode
//! (PyPI `moto[server]`, installed into the torch venv by `make setup`), started on a free port for the test.
//!
//! Two days of the synthetic site of `publish.rs` are published and uploaded; the upload of a third is made to fail
//! after three objects (`fail_after`, the library side of `AVARISK_S3_FAIL_AFTER`): the pointers must still name
//! day 2 and day 2's objects must be untouched, for the bucket and for `avarisk serve --from`; a rerun completes
//! day 3. The season series of a range goes up beside the collection. Without the venv or moto the test says why and skips.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use avarisk::publish::bucket::{upload_day, upload_site_files, BucketError, Connection, Target};
use avarisk::publish::series;
use avarisk::publish::{COLLECTION_JSON, ITEM_JSON};
use object_store::ObjectStoreExt;

use super::publish::{d, test_params, Site};

const SITE: &str = "synthetic-alps";
const BUCKET: &str = "avarisk-test";

/// A moto server (killed on drop) and the `AWS_*` settings that reach it.
struct Moto {
    child: Child,
    vars: Vec<(String, String)>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv() -> PathBuf {
    std::env::var_os("AVARISK_TORCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/avarisk/torch-2.11.0"))
}

/// Starts moto on a free port, or says why it cannot.
fn start_moto() -> Result<Moto, String> {
    let python = venv().join("bin/python");
    let has_moto = Command::new(&python).args(["-c", "import moto.server"]).output();
    match has_moto {
        Ok(o) if o.status.success() => {}
        Ok(_) => return Err(format!("{} has no moto: run `make setup`", python.display())),
        Err(e) => return Err(format!("no venv python at {}: {e}; run `make setup`", python.display())),
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&python)
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto: {e}"))?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let vars = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let moto = Moto { child, vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
    let t = Instant::now();
    // The bucket is made with a plain unsigned PUT (moto does not check signatures); it also says moto is up.
    while http(reqwest::Method::PUT, &format!("{endpoint}/{BUCKET}"), &[]).is_none_or(|(s, _, _)| s != 200) {
        if t.elapsed() > Duration::from_secs(30) {
            return Err("moto did not answer within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(moto)
}

/// One request: status, headers, body; `None` when nothing answers.
fn http(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.ok()?;
        let (status, h) = (r.status().as_u16(), r.headers().clone());
        Some((status, h, r.bytes().await.ok()?.to_vec()))
    })
}

/// The object at `key` (relative to the target's prefix), `None` when absent.
fn object(conn: &Connection, key: &str) -> Option<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = conn.open().unwrap();
        let parts: Vec<&str> = key.split('/').collect();
        match store.get(&conn.target.key(&parts)).await {
            Ok(r) => Some(r.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("{key}: {e}"),
        }
    })
}

/// Every file of a published day folder, by name.
fn local_day(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn assert_day_in_bucket(conn: &Connection, site: &Site, day: chrono::NaiveDate, when: &str) {
    let files = local_day(&site.store().published(SITE, day));
    assert!(files.len() >= 5, "{files:?}");
    for (name, bytes) in files {
        let remote = object(conn, &format!("{SITE}/{day}/{name}"));
        assert!(remote.as_deref() == Some(bytes.as_slice()), "{day}/{name} differs from disk {when}");
    }
}

fn latest_in_bucket(conn: &Connection) -> String {
    let v: serde_json::Value = serde_json::from_slice(&object(conn, &format!("{SITE}/latest.json")).unwrap()).unwrap();
    v["date"].as_str().unwrap().to_owned()
}

/// `avarisk serve --from <target>` with the moto settings; killed on drop.
struct Served(Child, String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_from(target: &str, moto: &Moto) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_avarisk"))
        .args(["--root", "/nonexistent", "serve", "--addr", "127.0.0.1:0", "--from", target])
        .envs(moto.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AVARISK_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{line:?}"));
    Served(child, url.trim_end_matches('/').to_owned())
}

fn api(s: &Served, path: &str) -> serde_json::Value {
    let (status, _, body) = http(reqwest::Method::GET, &format!("{}{path}", s.1), &[]).unwrap();
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_failed_upload_leaves_the_bucket_on_the_previous_day_and_a_rerun_completes() {
    let moto = match start_moto() {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let target = Target::parse(&format!("s3://{BUCKET}/maps/v1")).unwrap();
    let conn = Connection { target: target.clone(), vars: moto.vars.clone() };
    let site = Site::new();
    let store = site.store();
    let params = test_params();

    for day in [d(14), d(15)] {
        site.publish(day, true, &params).unwrap();
        let up = upload_day(&conn, &store, SITE, day, None).unwrap();
        assert_eq!((up.days.as_slice(), up.latest), ([day].as_slice(), day));
    }
    for day in [d(14), d(15)] {
        assert_day_in_bucket(&conn, &site, day, "after two uploads");
    }
    assert_eq!(latest_in_bucket(&conn), "2021-02-15");
    let collection = object(&conn, &format!("{SITE}/{COLLECTION_JSON}")).unwrap();
    assert_eq!(collection, std::fs::read(store.published_site(SITE).join(COLLECTION_JSON)).unwrap());
    // The season series of the two days goes up beside the collection.
    let (csv, png) = series::write_site(&store, SITE, &[d(14), d(15)]).unwrap().expect("two published days");
    assert_eq!(upload_site_files(&conn, SITE, &[&csv, &png]).unwrap(), 2);
    for path in [&csv, &png] {
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(object(&conn, &format!("{SITE}/{name}")).unwrap(), std::fs::read(path).unwrap(), "{name}");
    }

    // Day 3 fails after three of its objects: the pointers still name day 2, day 2 is intact, day 3 has no item.
    site.publish(d(16), false, &params).unwrap();
    let err = upload_day(&conn, &store, SITE, d(16), Some(3)).unwrap_err();
    assert!(matches!(err, BucketError::Injected(3)), "{err}");
    assert_eq!(latest_in_bucket(&conn), "2021-02-15");
    assert_eq!(object(&conn, &format!("{SITE}/{COLLECTION_JSON}")).unwrap(), collection);
    assert_day_in_bucket(&conn, &site, d(15), "after the failed upload");
    assert_eq!(object(&conn, &format!("{SITE}/2021-02-16/{ITEM_JSON}")), None);

    // A server reading the bucket sees day 2 as the latest and only two days; COG ranges and tiles come through.
    let served = serve_from(&target.to_string(), &moto);
    assert_eq!(api(&served, "/api/sites")["sites"][0]["latest"], "2021-02-15");
    let dates = api(&served, &format!("/api/sites/{SITE}/dates"));
    assert_eq!(dates["dates"], serde_json::json!(["2021-02-14", "2021-02-15"]));
    assert_eq!(api(&served, &format!("/api/sites/{SITE}/latest"))["id"], format!("{SITE}-2021-02-15"));
    let cog = std::fs::read(store.published(SITE, d(15)).join("risk_probability.tif")).unwrap();
    let url = format!("{}/files/{SITE}/2021-02-15/risk_probability.tif", served.1);
    let (status, h, body) = http(reqwest::Method::GET, &url, &[("Range", "bytes=100-1123")]).unwrap();
    assert_eq!((status, body.as_slice()), (206, &cog[100..1124]));
    assert_eq!(h["content-range"], format!("bytes 100-1123/{}", cog.len()).as_str());
    let etag = h["etag"].to_str().unwrap().to_owned();
    let (status, _, _) = http(reqwest::Method::GET, &url, &[("If-None-Match", &etag)]).unwrap();
    assert_eq!(status, 304);
    // The site (LV95 2600000, 1200000: Bern) lies in tile 10/533/360.
    let tile = format!("{}/tiles/{SITE}/2021-02-15/10/533/360.png", served.1);
    let (status, h, png) = http(reqwest::Method::GET, &tile, &[]).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&png));
    assert_eq!(h["content-type"], "image/png");
    assert!(png.starts_with(b"\x89PNG") && png != avarisk::serve::tiles::empty_png(), "a rendered PNG tile");

    // An object day 3 does not have (left by an earlier version of the day) goes when the rerun completes it.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stale = target.key(&[SITE, "2021-02-16", "zones.old.geojson"]);
    rt.block_on(conn.open().unwrap().put(&stale, "{}".into())).unwrap();
    let up = upload_day(&conn, &store, SITE, d(16), None).unwrap();
    assert_eq!((up.days.as_slice(), up.latest), ([d(16)].as_slice(), d(16)), "days 1 and 2 are not sent again");
    assert_day_in_bucket(&conn, &site, d(16), "after the rerun");
    assert_eq!(object(&conn, &format!("{SITE}/2021-02-16/zones.old.geojson")), None, "the stale object is deleted");
    assert_eq!(latest_in_bucket(&conn), "2021-02-16");
    assert_eq!(api(&served, &format!("/api/sites/{SITE}/dates"))["latest"], "2021-02-16");
}
