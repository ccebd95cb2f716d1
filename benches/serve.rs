//! Load benchmark of `avarisk serve` on loopback: the release binary serves a GDAL-generated published root
//! (`tests/it/serve_fixture.rs`), and a tokio/reqwest client keeps `CONCURRENCY` requests in flight for each phase:
//!
//! - `tiles`: every Web Mercator tile over the site at zooms 10 to 16 (rendered from the COG on each request) plus
//!   tiles outside it (transparent, no GDAL work);
//! - `api`: sites, dates, collection, STAC item, zones and 16 KiB byte ranges of the COGs, as dashboards and COG
//!   clients send them;
//! - `poll`: the same API targets with `If-None-Match` (304s), the way a dashboard polls.
//!
//! Prints requests/s, p50/p99 latency and errors per phase, and the server's resident memory (VmRSS) after a warm-up
//! and after each phase (targets: 0 errors, no RSS growth across the phases). `AVARISK_BENCH_SECS` sets the seconds
//! per phase (default 10). Run with `make bench-serve`.
#[path = "../tests/it/serve_fixture.rs"]
mod fixture;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use avarisk::geo::Crs;
use fixture::{DAYS, SITE};

const CONCURRENCY: usize = 32;

/// One request of the mix: target and extra headers.
#[derive(Clone)]
struct Req {
    target: String,
    headers: Vec<(String, String)>,
}

fn get(target: String) -> Req {
    Req { target, headers: Vec::new() }
}

struct Outcome {
    requests: usize,
    errors: usize,
    secs: f64,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Tiles over the site's WGS84 box at zoom `z` (plus a ring around it, which is transparent).
fn tiles_over(bbox: [f64; 4], z: u32) -> Vec<(u32, u32, u32)> {
    let n = f64::from(1u32 << z);
    let tx = |lon: f64| ((lon + 180.0) / 360.0 * n) as u32;
    let ty = |lat: f64| {
        let r: f64 = lat.to_radians();
        ((1.0 - (r.tan() + 1.0 / r.cos()).ln() / std::f64::consts::PI) / 2.0 * n) as u32
    };
    let (x0, x1, y0, y1) = (tx(bbox[0]) - 1, tx(bbox[2]) + 1, ty(bbox[3]) - 1, ty(bbox[1]) + 1);
    (x0..=x1).flat_map(|x| (y0..=y1).map(move |y| (z, x, y))).collect()
}

async fn run_phase(client: &reqwest::Client, base: &str, mix: &[Req], secs: f64, expect_304: bool) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers = (0..CONCURRENCY).map(|_| {
        let (client, next) = (client.clone(), next.clone());
        let mix = mix.to_vec();
        let base = base.to_owned();
        tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let r = &mix[next.fetch_add(1, Ordering::Relaxed) % mix.len()];
                let mut b = client.get(format!("{base}{}", r.target));
                for (k, v) in &r.headers {
                    b = b.header(k, v);
                }
                let t = Instant::now();
                let ok = match b.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.bytes().await;
                        body.is_ok() && if expect_304 { status == 304 } else { status == 200 || status == 206 }
                    }
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                errors += usize::from(!ok);
            }
            (lat, errors)
        })
    });
    let mut out = Outcome { requests: 0, errors: 0, secs: 0.0, latencies: Vec::new() };
    for w in futures_util::future::join_all(workers).await {
        let (lat, errors) = w.expect("load worker");
        out.requests += lat.len();
        out.errors += errors;
        out.latencies.extend(lat);
    }
    out.secs = start.elapsed().as_secs_f64();
    out.latencies.sort();
    out
}

fn main() {
    let secs: f64 = std::env::var("AVARISK_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let root = tempfile::tempdir().unwrap();
    fixture::publish(root.path());
    let mut server = Command::new(env!("CARGO_BIN_EXE_avarisk"))
        .args(["--root", &root.path().display().to_string(), "serve", "--addr", "127.0.0.1:0"])
        .env("AVARISK_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the avarisk binary runs");
    let pid = server.id();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().trim_end_matches('/').to_owned();

    let wgs = Crs::from_epsg(fixture::EPSG).unwrap().transform_bounds(fixture::bounds(), &Crs::wgs84()).unwrap();
    let day = DAYS[1];
    let tiles: Vec<Req> = (10..=16)
        .flat_map(|z| tiles_over(wgs, z))
        .map(|(z, x, y)| get(format!("/tiles/{SITE}/{day}/{z}/{x}/{y}.png")))
        .collect();
    let mut api: Vec<Req> = [
        "/api/sites".to_string(),
        format!("/api/sites/{SITE}"),
        format!("/api/sites/{SITE}/dates"),
        format!("/api/sites/{SITE}/latest"),
        format!("/api/sites/{SITE}/{day}"),
        format!("/api/sites/{SITE}/{day}/zones.geojson"),
        "/health".to_string(),
    ]
    .into_iter()
    .map(get)
    .collect();
    for name in ["danger_class.tif", "risk_probability.tif"] {
        // Three 16 KiB (or shorter) ranges spread over the file: header, middle, end.
        let len = std::fs::metadata(root.path().join("published").join(SITE).join(day).join(name)).unwrap().len();
        for offset in [0, len / 2, len.saturating_sub(16384)] {
            api.push(Req {
                target: format!("/files/{SITE}/{day}/{name}"),
                headers: vec![("Range".into(), format!("bytes={offset}-{}", (offset + 16383).min(len - 1)))],
            });
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().unwrap();
    // The ETags the poll phase sends back.
    let poll: Vec<Req> = rt.block_on(async {
        let mut v = Vec::new();
        for r in api.iter().filter(|r| r.headers.is_empty() && r.target != "/health") {
            let resp = client.get(format!("{base}{}", r.target)).send().await.unwrap();
            let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
            v.push(Req { target: r.target.clone(), headers: vec![("If-None-Match".into(), etag)] });
        }
        v
    });

    println!("avarisk serve load benchmark: {CONCURRENCY} concurrent requests, {secs} s per phase, server pid {pid}");
    println!("  {} tile targets (zooms 10-16), {} API targets", tiles.len(), api.len());
    // Warm-up: one pass of each phase, so threads, connections and GDAL/PROJ state exist before RSS is taken.
    for (mix, is_304) in [(&tiles, false), (&api, false), (&poll, true)] {
        let o = rt.block_on(run_phase(&client, &base, mix, secs.min(5.0), is_304));
        assert_eq!(o.errors, 0, "errors during the warm-up");
    }
    let rss_start = rss_kib(pid);
    println!("server RSS after warm-up: {} MiB", rss_start / 1024);
    println!(
        "{:<6} {:>9} {:>10} {:>10} {:>10} {:>7} {:>10}",
        "phase", "requests", "req/s", "p50 ms", "p99 ms", "errors", "RSS MiB"
    );
    let mut total_errors = 0;
    let mut rss_end = rss_start;
    let phases = [("tiles", &tiles, false), ("api", &api, false), ("poll", &poll, true)];
    for &(name, mix, is_304) in phases.iter().chain(phases.iter()) {
        let o = rt.block_on(run_phase(&client, &base, mix, secs, is_304));
        rss_end = rss_kib(pid);
        total_errors += o.errors;
        println!(
            "{:<6} {:>9} {:>10.0} {:>10.2} {:>10.2} {:>7} {:>10.1}",
            name,
            o.requests,
            o.requests as f64 / o.secs,
            percentile(&o.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&o.latencies, 0.99).as_secs_f64() * 1e3,
            o.errors,
            rss_end as f64 / 1024.0
        );
    }
    let growth = rss_end as f64 / rss_start.max(1) as f64 - 1.0;
    println!(
        "errors: {total_errors} (target 0); RSS {:.1} -> {:.1} MiB ({:+.1} %; target: no growth)",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        growth * 100.0
    );
    let metrics =
        rt.block_on(async { client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap() });
    for l in metrics.lines().filter(|l| l.starts_with("avarisk_tile_render_seconds_") && !l.contains("bucket")) {
        println!("  {l}");
    }
    let _ = server.kill();
    let _ = server.wait();
    if total_errors > 0 {
        std::process::exit(1);
    }
}
