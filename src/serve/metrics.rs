//! Counters for `/metrics` in the Prometheus text exposition format (version 0.0.4): requests by route template and
//! status, tiles by outcome, and a histogram of tile render latency in seconds.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the render-latency buckets, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    tiles: BTreeMap<&'static str, u64>,
    render_counts: [u64; BUCKETS.len()],
    render_sum: f64,
    render_total: u64,
}

impl Metrics {
    /// One answered request; `route` is the route template (e.g. `/tiles/{id}/{date}/{z}/{x}/{y}`), never the raw
    /// path, so the label set stays bounded whatever clients send.
    pub fn request(&self, route: &str, status: u16) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *m.requests.entry((route.to_owned(), status)).or_default() += 1;
    }

    /// One tile answered: `rendered`, `empty` (outside the site, no GDAL work) or `not_modified`.
    pub fn tile(&self, outcome: &'static str) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *m.tiles.entry(outcome).or_default() += 1;
    }

    /// Time spent rendering one tile (warp + colour + PNG encode).
    pub fn render(&self, d: Duration) {
        let s = d.as_secs_f64();
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                m.render_counts[i] += 1;
            }
        }
        m.render_sum += s;
        m.render_total += 1;
    }

    /// The exposition text.
    pub fn render_text(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP avarisk_http_requests_total HTTP requests answered, by route template and status.\n");
        out.push_str("# TYPE avarisk_http_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            let _ = writeln!(out, "avarisk_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", escape(route));
        }
        out.push_str("# HELP avarisk_tiles_total Map tiles answered, by outcome.\n");
        out.push_str("# TYPE avarisk_tiles_total counter\n");
        for (outcome, n) in &m.tiles {
            let _ = writeln!(out, "avarisk_tiles_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP avarisk_tile_render_seconds Time to render one tile from the COG.\n");
        out.push_str("# TYPE avarisk_tile_render_seconds histogram\n");
        for (b, n) in BUCKETS.iter().zip(m.render_counts) {
            let _ = writeln!(out, "avarisk_tile_render_seconds_bucket{{le=\"{b}\"}} {n}");
        }
        let _ = writeln!(out, "avarisk_tile_render_seconds_bucket{{le=\"+Inf\"}} {}", m.render_total);
        let _ = writeln!(out, "avarisk_tile_render_seconds_sum {}", m.render_sum);
        let _ = writeln!(out, "avarisk_tile_render_seconds_count {}", m.render_total);
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.render(Duration::from_millis(3));
        m.render(Duration::from_millis(300));
        m.request("/health", 200);
        let t = m.render_text();
        assert!(t.contains("avarisk_tile_render_seconds_bucket{le=\"0.0025\"} 0"), "{t}");
        assert!(t.contains("avarisk_tile_render_seconds_bucket{le=\"0.005\"} 1"), "{t}");
        assert!(t.contains("avarisk_tile_render_seconds_bucket{le=\"0.5\"} 2"), "{t}");
        assert!(t.contains("avarisk_tile_render_seconds_count 2"), "{t}");
        assert!(t.contains("avarisk_http_requests_total{route=\"/health\",status=\"200\"} 1"), "{t}");
    }
}
