//! Benchmark P4: 100 sites fetch their weather concurrently from a loopback Open-Meteo-shaped server that adds
//! 200 ms of latency to every answer. Prints one request's latency, the total wall time for all 100 sites, and
//! their ratio (target <= 3x: the sites' requests overlap instead of queueing). Run with `make bench`.
#[path = "../tests/it/http_server.rs"]
mod http_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use avarisk::config::{self, WeatherSource};
use avarisk::ingest::weather::{self, fetch::FetchParams, fetch::Fetcher};
use chrono::NaiveDate;
use http_server::{open_meteo_answer, Reply, Server};

const SITES: usize = 100;
const LATENCY: Duration = Duration::from_millis(200);

fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("sites/swiss-alps/weather/recorded/valais.json")).unwrap(),
    )
    .unwrap();
    let server = Server::start(Arc::new(move |target: &str, _| {
        Reply::Delayed(LATENCY, Box::new(Reply::Json(open_meteo_answer(&recorded, target).to_string())))
    }));

    // The bundled swiss-alps site, pointed at the loopback server, cloned into 100 sites with distinct points.
    let plan = config::load(&root).expect("bundled configuration is valid");
    let template = plan.site("swiss-alps").unwrap().clone();
    let sites: Vec<config::Site> = (0..SITES)
        .map(|i| {
            let mut s = template.clone();
            s.id = format!("site-{i:03}");
            if let Some(WeatherSource::OpenMeteo { base_url, points, recorded, .. }) = &mut s.weather {
                *base_url = server.base.clone();
                *recorded = None;
                points.truncate(1);
                points[0].latitude += i as f64 * 1e-4;
            }
            s
        })
        .collect();

    let work = tempfile::tempdir().unwrap();
    let params = FetchParams { concurrency: 128, ..FetchParams::default() };
    let (from, to) = (NaiveDate::from_ymd_opt(2021, 2, 1).unwrap(), NaiveDate::from_ymd_opt(2021, 2, 14).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    let one = Fetcher::new(params.clone(), &work.path().join("cache-one"), false).unwrap();
    let t = Instant::now();
    rt.block_on(weather::read_site(&sites[0], from, to, &one)).unwrap();
    let single = t.elapsed();

    let fetcher = Fetcher::new(params, &work.path().join("cache-all"), false).unwrap();
    let hits = server.hits();
    let t = Instant::now();
    let stores: Vec<_> = sites.iter().map(|s| work.path().join(format!("{}.parquet", s.id))).collect();
    let results = rt.block_on(futures_util::future::join_all(
        sites.iter().zip(&stores).map(|(s, store)| weather::ingest(s, store, from, to, &fetcher)),
    ));
    let total = t.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    let ratio = total.as_secs_f64() / single.as_secs_f64();
    println!(
        "P4 weather fetch: {SITES} sites, {} requests, {} ms injected latency",
        server.hits() - hits,
        LATENCY.as_millis()
    );
    println!("  one request          {:>8.0} ms", single.as_secs_f64() * 1e3);
    println!(
        "  {SITES} sites concurrently {:>8.0} ms (parse + Parquet upsert included), {failed} failed",
        total.as_secs_f64() * 1e3
    );
    println!(
        "  ratio total / one request = {ratio:.2} (target <= 3: {})",
        if ratio <= 3.0 { "met" } else { "NOT met" }
    );
}
