//! `avarisk serve` end to end: the real binary on a GDAL-generated published root (`serve_fixture.rs`), driven over
//! raw HTTP/1.1 (so traversal attempts reach the server byte for byte), by GDAL's `/vsicurl/` as a COG client, and by
//! headless Chromium for the web map.
#[path = "serve_fixture.rs"]
mod fixture;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use avarisk::geo::Crs;
use fixture::{DAYS, SITE};

/// A running `avarisk serve` (killed on drop) and the root it serves.
struct Server {
    child: Child,
    base: String,
    addr: String,
    root: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let root = tempfile::tempdir().unwrap();
    fixture::publish(root.path());
    start_on(root, extra)
}

fn start_on(root: tempfile::TempDir, extra: &[&str]) -> Server {
    let mut args = vec!["--root".to_string(), root.path().display().to_string(), "serve".into(), "--addr".into()];
    args.push("127.0.0.1:0".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_avarisk"))
        .args(&args)
        .env("AVARISK_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the avarisk binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url =
        line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("no URL in {line:?}"));
    let base = url.trim_end_matches('/').to_owned();
    let addr = base.trim_start_matches("http://").to_owned();
    Server { child, base, addr, root }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request with the target sent exactly as given.
fn request(s: &Server, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut sock = TcpStream::connect(&s.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", s.addr);
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Content-Length: 0\r\n\r\n");
    sock.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Resp { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

fn get(s: &Server, target: &str) -> Resp {
    request(s, "GET", target, &[])
}

fn day_file(s: &Server, day: &str, name: &str) -> PathBuf {
    s.root.path().join("published").join(SITE).join(day).join(name)
}

#[test]
fn every_api_endpoint_answers_from_the_published_root() {
    let s = start(&[]);
    let r = get(&s, "/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["sites"], 1);

    let r = get(&s, "/api/sites");
    assert_eq!(r.status, 200, "{}", r.text());
    let sites = r.json();
    let site = &sites["sites"][0];
    assert_eq!(site["id"], SITE);
    assert_eq!(site["title"], "Test Alps");
    assert_eq!(site["latest"], DAYS[1]);
    assert_eq!(site["dates"], 2);
    let bbox: Vec<f64> = serde_json::from_value(site["bbox"].clone()).unwrap();
    assert!(bbox[0] > 9.0 && bbox[2] < 10.5 && bbox[1] > 46.0 && bbox[3] < 47.5, "WGS84 bbox near Davos: {bbox:?}");

    let r = get(&s, &format!("/api/sites/{SITE}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["type"], "Collection");
    assert_eq!(r.body, std::fs::read(s.root.path().join("published").join(SITE).join("collection.json")).unwrap());

    let r = get(&s, &format!("/api/sites/{SITE}/dates"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["dates"], serde_json::json!(DAYS));
    assert_eq!(r.json()["latest"], DAYS[1]);

    let r = get(&s, &format!("/api/sites/{SITE}/{}", DAYS[0]));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/geo+json"));
    let item = r.json();
    assert_eq!(item["id"], format!("{SITE}-{}", DAYS[0]));
    assert_eq!(item["assets"]["danger_class"]["href"], format!("/files/{SITE}/{}/danger_class.tif", DAYS[0]));
    // The rewritten asset link is served.
    assert_eq!(get(&s, item["assets"]["risk_probability"]["href"].as_str().unwrap()).status, 200);

    let r = get(&s, &format!("/api/sites/{SITE}/latest"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], format!("{SITE}-{}", DAYS[1]));
    assert_eq!(r.header("content-location"), Some(format!("/api/sites/{SITE}/{}", DAYS[1]).as_str()));

    let r = get(&s, &format!("/api/sites/{SITE}/{}/zones.geojson", DAYS[1]));
    assert_eq!(r.status, 200);
    let zones = r.json();
    assert_eq!(zones["features"].as_array().unwrap().len(), 2);
    assert_eq!(zones["features"][1]["properties"]["level"], 5);

    for (name, ty) in [("quicklook.png", "image/png"), ("zones.geojson", "application/geo+json")] {
        let r = get(&s, &format!("/files/{SITE}/{}/{name}", DAYS[1]));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(ty));
        assert_eq!(r.body, std::fs::read(day_file(&s, DAYS[1], name)).unwrap());
    }
    // alert.cap.xml is optional and absent here.
    assert_eq!(get(&s, &format!("/files/{SITE}/{}/alert.cap.xml", DAYS[1])).status, 404);
    assert_eq!(get(&s, &format!("/api/sites/{SITE}/2021-01-01")).status, 404);
    assert_eq!(get(&s, "/api/sites/no-such-site").status, 404);

    let r = get(&s, "/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/api/sites",
        "/api/sites/{id}",
        "/api/sites/{id}/dates",
        "/api/sites/{id}/latest",
        "/api/sites/{id}/{date}",
        "/api/sites/{id}/{date}/zones.geojson",
        "/files/{id}/{date}/{name}",
        "/tiles/{id}/{date}/{z}/{x}/{y}.png",
        "/health",
        "/metrics",
    ] {
        assert!(doc["paths"].get(p).is_some(), "OpenAPI lacks {p}");
    }

    let r = get(&s, "/");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("id=\"legend\""));
    for asset in
        ["/static/app.js", "/static/app.css", "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/LICENSE"]
    {
        assert_eq!(get(&s, asset).status, 200, "{asset}");
    }
    assert_eq!(get(&s, "/static/../Cargo.toml").status, 404);

    let m = get(&s, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let t = m.text();
    assert!(t.contains("avarisk_http_requests_total{route=\"/api/sites\",status=\"200\"} 1"), "{t}");
    assert!(t.contains("avarisk_http_requests_total{route=\"/api/sites/{id}/{date}\",status=\"404\"} 1"), "{t}");
    assert!(t.contains("# TYPE avarisk_tile_render_seconds histogram"), "{t}");
}

#[test]
fn cogs_are_served_with_byte_ranges_and_read_by_gdal_vsicurl() {
    let s = start(&[]);
    let path = format!("/files/{SITE}/{}/danger_class.tif", DAYS[1]);
    let local = std::fs::read(day_file(&s, DAYS[1], "danger_class.tif")).unwrap();
    let len = local.len();

    let full = get(&s, &path);
    assert_eq!(full.status, 200);
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert_eq!(full.header("content-length"), Some(len.to_string().as_str()));
    assert_eq!(full.body, local);

    let r = request(&s, "GET", &path, &[("Range", "bytes=0-15")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some(format!("bytes 0-15/{len}").as_str()));
    assert_eq!(r.body, &local[..16]);
    assert_eq!(&r.body[..4], b"II*\0", "a little-endian TIFF header");

    let r = request(&s, "GET", &path, &[("Range", "bytes=-100")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &local[len - 100..]);
    let r = request(&s, "GET", &path, &[("Range", &format!("bytes={}-", len - 10))]);
    assert_eq!((r.status, r.body.as_slice()), (206, &local[len - 10..]));
    let r = request(&s, "GET", &path, &[("Range", &format!("bytes=1000-{}", len + 5000))]);
    assert_eq!((r.status, r.body.as_slice()), (206, &local[1000..]));

    let r = request(&s, "GET", &path, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some(format!("bytes */{len}").as_str()));
    // A stale If-Range gets the whole file, not a piece of a different version.
    let r = request(&s, "GET", &path, &[("Range", "bytes=0-15"), ("If-Range", "\"stale\"")]);
    assert_eq!((r.status, r.body.len()), (200, len));
    let head = request(&s, "HEAD", &path, &[]);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("content-length"), Some(len.to_string().as_str()));

    // GDAL as a COG client: reads through ranges only, and gets the same pixels as from disk.
    gdal::config::set_config_option("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR").unwrap();
    let remote = gdal::Dataset::open(format!("/vsicurl/{}{path}", s.base)).expect("GDAL opens the COG over HTTP");
    let disk = gdal::Dataset::open(day_file(&s, DAYS[1], "danger_class.tif")).unwrap();
    assert_eq!(remote.raster_size(), disk.raster_size());
    let (w, h) = disk.raster_size();
    let a = remote.rasterband(1).unwrap().read_as::<u8>((0, 0), (w, h), (w / 4, h / 4), None).unwrap();
    let b = disk.rasterband(1).unwrap().read_as::<u8>((0, 0), (w, h), (w / 4, h / 4), None).unwrap();
    assert_eq!(a.data(), b.data());
    assert_eq!(
        remote.rasterband(1).unwrap().overview_count().unwrap(),
        disk.rasterband(1).unwrap().overview_count().unwrap()
    );
    let m = get(&s, "/metrics").text();
    assert!(m.contains("route=\"/files/{id}/{date}/{name}\",status=\"206\""), "GDAL used ranges: {m}");
}

#[test]
fn etags_and_dates_give_304() {
    let s = start(&[]);
    let targets = [
        "/api/sites".to_string(),
        format!("/api/sites/{SITE}"),
        format!("/api/sites/{SITE}/dates"),
        format!("/api/sites/{SITE}/latest"),
        format!("/api/sites/{SITE}/{}", DAYS[1]),
        format!("/api/sites/{SITE}/{}/zones.geojson", DAYS[1]),
        format!("/files/{SITE}/{}/risk_probability.tif", DAYS[1]),
        format!("/tiles/{SITE}/{}/10/536/358.png", DAYS[1]),
        "/openapi.json".to_string(),
        "/".to_string(),
    ];
    for t in &targets {
        let first = get(&s, t);
        assert_eq!(first.status, 200, "{t}");
        let etag = first.header("etag").unwrap_or_else(|| panic!("{t} has no ETag")).to_owned();
        let again = request(&s, "GET", t, &[("If-None-Match", &etag)]);
        assert_eq!(again.status, 304, "{t}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        assert_eq!(request(&s, "GET", t, &[("If-None-Match", "\"something-else\"")]).status, 200, "{t}");
    }
    let t = &targets[6];
    let lm = get(&s, t).header("last-modified").expect("files carry Last-Modified").to_owned();
    assert_eq!(request(&s, "GET", t, &[("If-Modified-Since", &lm)]).status, 304);
    assert_eq!(request(&s, "GET", t, &[("If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT")]).status, 200);

    // Republishing the file changes its validators: the old ETag no longer matches.
    let etag = get(&s, t).header("etag").unwrap().to_owned();
    let f = day_file(&s, DAYS[1], "risk_probability.tif");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend_from_slice(b"\0");
    std::fs::write(&f, bytes).unwrap();
    assert_eq!(request(&s, "GET", t, &[("If-None-Match", &etag)]).status, 200);
}

/// The tile that holds WGS84 (`lon`, `lat`) at zoom `z`, and the pixel in it.
fn tile_of(lon: f64, lat: f64, z: u32) -> (u32, u32, usize, usize) {
    let n = f64::from(1u32 << z);
    let fx = (lon + 180.0) / 360.0 * n;
    let lat_r = lat.to_radians();
    let fy = (1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    (fx as u32, fy as u32, (fx.fract() * 256.0) as usize, (fy.fract() * 256.0) as usize)
}

fn decode_png(bytes: &[u8]) -> (Vec<u8>, usize, usize) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    (buf, info.width as usize, info.height as usize)
}

#[test]
fn tiles_show_the_danger_classes_in_eaws_colours() {
    let s = start(&[]);
    let lv95 = Crs::from_epsg(fixture::EPSG).unwrap();
    let z = 14;
    // Sample cells inside the site; each must appear in its tile, at the right pixel, in its class's colour.
    let (mut agree, mut total) = (0, 0);
    let mut cache = std::collections::HashMap::new();
    for (col, row) in [(384, 320), (200, 300), (600, 330), (380, 100), (390, 560), (250, 450), (520, 180), (450, 400)] {
        let x0 = fixture::ORIGIN.0 + (col as f64 + 0.5) * fixture::RES;
        let y0 = fixture::ORIGIN.1 - (row as f64 + 0.5) * fixture::RES;
        let (mut xs, mut ys) = (vec![x0], vec![y0]);
        lv95.transform_points(&Crs::wgs84(), &mut xs, &mut ys).unwrap();
        let (tx, ty, px, py) = tile_of(xs[0], ys[0], z);
        let img = cache.entry((tx, ty)).or_insert_with(|| {
            let r = get(&s, &format!("/tiles/{SITE}/{}/{z}/{tx}/{ty}.png", DAYS[1]));
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("image/png"));
            decode_png(&r.body)
        });
        assert_eq!((img.1, img.2), (256, 256));
        let i = (py * 256 + px) * 4;
        let pixel = &img.0[i..i + 4];
        let class = fixture::class(fixture::risk(col, row, 1).unwrap());
        let expected = avarisk::serve::tiles::EAWS[usize::from(class) - 1];
        total += 1;
        // Level 5 alternates with black (the EAWS chequer).
        if pixel[3] == 255 && (pixel[..3] == expected || (class == 5 && pixel[..3] == [0, 0, 0])) {
            agree += 1;
        }
    }
    // Cells sit well inside their class; allow one to fall on a class edge after resampling.
    assert!(agree + 1 >= total, "{agree} of {total} sampled pixels in the expected EAWS colour");

    // Far from the site: transparent, without GDAL work.
    let r = get(&s, &format!("/tiles/{SITE}/{}/{z}/0/0.png", DAYS[1]));
    assert_eq!(r.status, 200);
    assert!(decode_png(&r.body).0.chunks(4).all(|p| p[3] == 0));
    // A low zoom reads the overviews and still shows the site; the tile is mostly transparent around it.
    let [xmin, ymin, xmax, ymax] = fixture::bounds();
    let (mut xs, mut ys) = (vec![(xmin + xmax) / 2.0], vec![(ymin + ymax) / 2.0]);
    lv95.transform_points(&Crs::wgs84(), &mut xs, &mut ys).unwrap();
    let (tx, ty, _, _) = tile_of(xs[0], ys[0], 9);
    let (px, _, _) = decode_png(&get(&s, &format!("/tiles/{SITE}/{}/9/{tx}/{ty}.png", DAYS[1])).body);
    let opaque = px.chunks(4).filter(|p| p[3] == 255).count();
    assert!(opaque > 0 && opaque < 256 * 256 / 4, "{opaque} opaque pixels at zoom 9");

    for bad in [
        format!("/tiles/{SITE}/{}/23/0/0.png", DAYS[1]),
        format!("/tiles/{SITE}/{}/2/4/0.png", DAYS[1]),
        format!("/tiles/{SITE}/{}/2/0/abc.png", DAYS[1]),
        format!("/tiles/{SITE}/{}/2/0/0.jpg", DAYS[1]),
        format!("/tiles/{SITE}/2021-03-01/2/0/0.png"),
    ] {
        assert_eq!(get(&s, &bad).status, 404, "{bad}");
    }
    let m = get(&s, "/metrics").text();
    assert!(m.contains("avarisk_tiles_total{outcome=\"rendered\"}"), "{m}");
    assert!(m.contains("avarisk_tiles_total{outcome=\"empty\"}"), "{m}");
    assert!(!m.contains("avarisk_tile_render_seconds_count 0"), "{m}");
}

#[test]
fn traversal_odd_ids_and_writes_are_refused_without_leaking_paths() {
    let root = tempfile::tempdir().unwrap();
    fixture::publish(root.path());
    let secret = "TOP-SECRET-NOT-PUBLISHED";
    std::fs::write(root.path().join("secret.txt"), secret).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("collection.json"), format!("{{\"title\":\"{secret}\"}}")).unwrap();
    std::fs::write(outside.path().join("item.json"), format!("{{\"id\":\"{secret}\"}}")).unwrap();
    let published = root.path().join("published");
    // A site folder, a day folder and a single file that are symlinks leading out of the published root.
    std::os::unix::fs::symlink(outside.path(), published.join("evil")).unwrap();
    std::os::unix::fs::symlink(outside.path(), published.join(SITE).join("2021-02-13")).unwrap();
    let leaky = published.join("leaky").join("2021-02-15");
    std::fs::create_dir_all(&leaky).unwrap();
    std::fs::write(published.join("leaky").join("collection.json"), "{}").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), leaky.join("zones.geojson")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", leaky.join("quicklook.png")).unwrap();
    let root_text = root.path().display().to_string();
    let s = start_on(root, &[]);

    let attempts = [
        "/files/../../secret.txt".to_string(),
        "/files/test-alps/2021-02-15/../../../secret.txt".into(),
        "/files/test-alps/2021-02-15/..%2f..%2f..%2fsecret.txt".into(),
        "/files/test-alps/2021-02-15/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt".into(),
        "/files/test-alps/%2e%2e/item.json".into(),
        "/files/%2e%2e/2021-02-15/item.json".into(),
        "/files/test-alps/2021-02-15/%2Fetc%2Fpasswd".into(),
        "/files/test-alps/2021-02-15/secret.txt".into(),
        "/files/test-alps/2021-02-13/item.json".into(),
        "/files/leaky/2021-02-15/zones.geojson".into(),
        "/files/leaky/2021-02-15/quicklook.png".into(),
        "/api/sites/leaky/2021-02-15/zones.geojson".into(),
        "/api/sites/evil".into(),
        "/api/sites/evil/dates".into(),
        "/api/sites/..%2f..%2fsecret.txt".into(),
        "/api/sites/%2e%2e".into(),
        "/api/sites/%2Fetc%2Fpasswd".into(),
        "/api/sites/Test-Alps".into(),
        "/api/sites/test_alps".into(),
        "/api/sites/-x".into(),
        format!("/api/sites/{}", "a".repeat(65)),
        "/api/sites/test-alps/2021-02-13".into(),
        "/api/sites/test-alps/2021-02-30".into(),
        "/api/sites/test-alps/2021-2-15".into(),
        "/api/sites/test-alps/2021-02-15%2f..".into(),
        "/api/sites/test-alps/+2021-02-15".into(),
        "/tiles/test-alps/..%2f2021-02-15/1/0/0.png".into(),
        "//etc/passwd".into(),
        "/static/..%2f..%2fCargo.toml".into(),
        format!("/files{root_text}/secret.txt"),
    ];
    for a in &attempts {
        let r = get(&s, a);
        assert!(r.status == 400 || r.status == 404, "{a}: {} {}", r.status, r.text());
        let body = r.text();
        assert!(!body.contains(secret) && !body.contains("root:"), "{a} leaked content: {body}");
        assert!(!body.contains(&root_text) && !body.contains("/tmp") && !body.contains("/etc"), "{a}: {body}");
    }
    // The links out of the root are not listed either.
    let sites = get(&s, "/api/sites").json();
    let ids: Vec<&str> = sites["sites"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["leaky", SITE]);
    assert_eq!(get(&s, &format!("/api/sites/{SITE}/dates")).json()["dates"], serde_json::json!(DAYS));

    for (method, target) in [
        ("POST", "/api/sites".to_string()),
        ("PUT", format!("/api/sites/{SITE}")),
        ("DELETE", format!("/files/{SITE}/{}/danger_class.tif", DAYS[1])),
        ("PATCH", format!("/api/sites/{SITE}/{}", DAYS[1])),
        ("POST", format!("/tiles/{SITE}/{}/1/0/0.png", DAYS[1])),
    ] {
        let r = request(&s, method, &target, &[]);
        assert_eq!(r.status, 405, "{method} {target}");
        assert!(r.header("allow").unwrap_or_default().contains("GET"), "{method} {target}");
    }
    assert!(day_file(&s, DAYS[1], "danger_class.tif").exists());
}

#[test]
fn cors_is_off_by_default_and_follows_cors_origin() {
    let closed = start(&[]);
    let r = request(&closed, "GET", "/api/sites", &[("Origin", "https://dash.example.org")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);

    let open = start(&["--cors-origin", "https://dash.example.org"]);
    let r = request(&open, "GET", "/api/sites", &[("Origin", "https://dash.example.org")]);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://dash.example.org"));
    assert!(r.header("access-control-expose-headers").unwrap_or_default().to_lowercase().contains("etag"));
    let r = request(&open, "GET", "/api/sites", &[("Origin", "https://elsewhere.example.org")]);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let pre = request(
        &open,
        "OPTIONS",
        &format!("/files/{SITE}/{}/danger_class.tif", DAYS[1]),
        &[
            ("Origin", "https://dash.example.org"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
    );
    assert_eq!(pre.status, 200);
    assert!(pre.header("access-control-allow-headers").unwrap_or_default().to_lowercase().contains("range"));
}

#[test]
fn serve_refuses_a_root_without_published_maps_and_names_it() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_avarisk"))
        .args(["--root", &root.path().display().to_string(), "serve", "--addr", "127.0.0.1:0"])
        .env("AVARISK_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("published") && err.contains("avarisk run daily"), "{err}");
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
    })
}

/// Runs headless Chromium on `url` with `extra` flags (e.g. `--screenshot=...`, `--dump-dom`); returns stdout.
fn headless(browser: &Path, profile: &Path, url: &str, extra: &[String]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,800",
            "--virtual-time-budget=20000",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn metric(text: &str, prefix: &str) -> u64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}

#[test]
fn web_map_loads_in_headless_chromium_with_tiles_and_legend() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED web_map browser test: no chromium on PATH (install it with `make setup`, which CI runs)");
        return;
    };
    let s = start(&[]);
    // A fresh profile per run: no browser cache, so every tile is fetched (no 304s).
    let (profile, profile2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve");
    std::fs::create_dir_all(&out_dir).unwrap();
    let shot = out_dir.join("web-map.png");
    let _ = std::fs::remove_file(&shot);
    let url = format!("{}/", s.base);

    let dom = headless(&browser, profile.path(), &url, &["--dump-dom".into()]);
    assert!(dom.contains(&format!("data-shown=\"{SITE}/{}\"", DAYS[1])), "the latest day is shown: {dom}");
    let legend = dom.split("id=\"legend\"").nth(1).expect("legend element in the DOM");
    let legend_tag = dom[..dom.find("id=\"legend\"").unwrap()].rsplit('<').next().unwrap().to_owned()
        + legend.split('>').next().unwrap();
    assert!(!legend_tag.contains("hidden"), "legend visible: <{legend_tag}>");
    for level in ["avarisk risk class", "Very low", "Low", "Moderate", "High", "Very high", "Not EAWS danger levels"] {
        assert!(legend.contains(level), "legend lists {level}");
    }
    assert!(!legend.contains("Considerable"), "no EAWS level name");
    assert!(dom.contains(&format!("/files/{SITE}/{}/danger_class.tif", DAYS[1])), "COG link");
    assert!(dom.contains(&format!("href=\"/api/sites/{SITE}/{}\"", DAYS[1])), "STAC item link");
    assert!(dom.contains("Test Alps"), "site list");

    let m = get(&s, "/metrics").text();
    let ok = metric(&m, "avarisk_http_requests_total{route=\"/tiles/{id}/{date}/{z}/{x}/{y}\",status=\"200\"}");
    let all = metric(&m, "avarisk_http_requests_total{route=\"/tiles/{id}/{date}/{z}/{x}/{y}\"");
    assert!(ok > 0, "the browser requested risk tiles: {m}");
    assert_eq!(ok, all, "every tile request answered 200: {m}");
    assert!(metric(&m, "avarisk_tiles_total{outcome=\"rendered\"}") > 0, "{m}");
    assert!(
        metric(&m, "avarisk_http_requests_total{route=\"/api/sites/{id}/{date}/zones.geojson\",status=\"200\"}") > 0
    );

    headless(&browser, profile2.path(), &url, &[format!("--screenshot={}", shot.display())]);

    let (px, w, h) = {
        let mut reader =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap())).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let step = info.color_type.samples();
        (buf.chunks(step).map(|p| [p[0], p[1], p[2]]).collect::<Vec<_>>(), info.width, info.height)
    };
    assert_eq!((w, h), (1200, 800));
    // The danger layer (drawn at 75 % opacity over the grey base) shows: orange-ish pixels of level 3.
    let orange = px.iter().filter(|p| p[0] > 200 && p[1] > 120 && p[1] < 190 && p[2] < 120).count();
    assert!(orange > 500, "{orange} level-3 pixels in the screenshot");
    println!("web map screenshot: {}", shot.display());
}
