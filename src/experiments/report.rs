//! Evaluation reports a person can read: `report.md` with the map-level scores, and PNG plots (ROC curves of the map
//! and the baselines, the reliability diagram, and
//! the learning curve when the bundle's training log is present), drawn on a small canvas and written with GDAL's
//! PNG driver.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gdal::raster::Buffer;
use gdal::DriverManager;

use crate::train::{Evaluation, RunError};

const SIZE: usize = 320;
const MARGIN: usize = 30;
/// Line colours of the ROC figure, in row order (the map first: dark red).
const COLORS: [[u8; 3]; 8] = [
    [180, 20, 20],
    [60, 60, 60],
    [230, 150, 20],
    [30, 90, 200],
    [40, 160, 70],
    [150, 60, 180],
    [0, 170, 170],
    [240, 80, 160],
];
const COLOR_NAMES: [&str; 8] = ["dark red", "grey", "orange", "blue", "green", "purple", "teal", "pink"];

/// An RGB canvas with a unit square plot area (x, y in [0, 1], y up).
struct Canvas {
    rgb: [Vec<u8>; 3],
}

impl Canvas {
    fn new() -> Canvas {
        let mut c = Canvas { rgb: [vec![255; SIZE * SIZE], vec![255; SIZE * SIZE], vec![255; SIZE * SIZE]] };
        let (lo, hi) = (0.0, 1.0);
        c.line((lo, lo), (hi, lo), [0, 0, 0], false);
        c.line((lo, lo), (lo, hi), [0, 0, 0], false);
        for t in [0.25, 0.5, 0.75, 1.0] {
            c.line((t, -0.02), (t, 0.0), [0, 0, 0], false);
            c.line((-0.02, t), (0.0, t), [0, 0, 0], false);
        }
        c
    }

    fn px(&self, (x, y): (f64, f64)) -> (i64, i64) {
        let span = (SIZE - 2 * MARGIN) as f64;
        (MARGIN as i64 + (x * span).round() as i64, (SIZE - MARGIN) as i64 - (y * span).round() as i64)
    }

    fn dot(&mut self, x: i64, y: i64, color: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < SIZE && (y as usize) < SIZE {
            for (band, v) in self.rgb.iter_mut().zip(color) {
                band[y as usize * SIZE + x as usize] = v;
            }
        }
    }

    /// A straight line between two plot points (Bresenham), optionally dashed.
    fn line(&mut self, a: (f64, f64), b: (f64, f64), color: [u8; 3], dashed: bool) {
        let ((mut x0, mut y0), (x1, y1)) = (self.px(a), self.px(b));
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut err, mut step) = (dx + dy, 0);
        loop {
            if !dashed || (step / 4) % 2 == 0 {
                self.dot(x0, y0, color);
            }
            if x0 == x1 && y0 == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x0 += sx;
            }
            if e2 <= dx {
                err += dx;
                y0 += sy;
            }
            step += 1;
        }
    }

    /// A filled square marker of half-width `r` pixels.
    fn marker(&mut self, p: (f64, f64), r: i64, color: [u8; 3]) {
        let (x, y) = self.px(p);
        for dy in -r..=r {
            for dx in -r..=r {
                self.dot(x + dx, y + dy, color);
            }
        }
    }

    fn write_png(self, path: &Path) -> Result<(), RunError> {
        let err = |e: gdal::errors::GdalError| RunError::Report(format!("{}: {e}", path.display()));
        let mem = DriverManager::get_driver_by_name("MEM").map_err(err)?;
        let ds = mem.create_with_band_type::<u8, _>("", SIZE, SIZE, 3).map_err(err)?;
        for (i, band) in self.rgb.into_iter().enumerate() {
            let mut buf = Buffer::new((SIZE, SIZE), band);
            ds.rasterband(i + 1).map_err(err)?.write((0, 0), (SIZE, SIZE), &mut buf).map_err(err)?;
        }
        let png = DriverManager::get_driver_by_name("PNG").map_err(err)?;
        ds.create_copy(&png, path, &Default::default()).map_err(err)?;
        let _ = std::fs::remove_file(path.with_extension("png.aux.xml"));
        Ok(())
    }
}

/// Draws ROC curves (name, points) on one canvas at `path`, in the colours of [`COLORS`]; returns the legend
/// ("name (colour)") in the same order.
pub fn roc_png(path: &Path, curves: &[(String, Vec<(f64, f64)>)]) -> Result<Vec<String>, RunError> {
    let mut c = Canvas::new();
    c.line((0.0, 0.0), (1.0, 1.0), [150, 150, 150], true);
    for ((_, roc), color) in curves.iter().zip(COLORS.iter().cycle()) {
        for w in roc.windows(2) {
            c.line(w[0], w[1], *color, false);
        }
    }
    c.write_png(path)?;
    Ok(curves.iter().zip(COLOR_NAMES.iter().cycle()).map(|((n, _), c)| format!("{n} ({c})")).collect())
}

/// Writes the season verification into `dir`: `verify.md`, `verify.json`, `reliability.png` (log-log: predicted
/// against observed per bin) and `season.png` (the site's highest hazard per day, accident days marked in red, the
/// alert threshold dashed). Returns the report's path.
pub fn write_season(
    v: &crate::evaluate::season::Verification,
    site: &str,
    winters: (i32, i32),
    dir: &Path,
) -> Result<PathBuf, RunError> {
    let io = |err| RunError::Io { path: dir.display().to_string(), source: err };
    fs_err::create_dir_all(dir).map_err(io)?;
    fs_err::write(dir.join("verify.json"), serde_json::to_string_pretty(v).unwrap_or_default()).map_err(io)?;
    // Reliability on log axes from 1e-9 to 1.
    let log = |p: f64| ((p.max(1e-9).log10() + 9.0) / 9.0).clamp(0.0, 1.0);
    let mut c = Canvas::new();
    c.line((0.0, 0.0), (1.0, 1.0), [150, 150, 150], true);
    let mut prev: Option<(f64, f64)> = None;
    for b in v.reliability.iter().filter(|b| b.observed > 0.0) {
        let p = (log(b.mean_predicted), log(b.observed));
        if let Some(q) = prev {
            c.line(q, p, [200, 60, 30], false);
        }
        c.marker(p, 2, [200, 60, 30]);
        prev = Some(p);
    }
    c.write_png(&dir.join("reliability.png"))?;
    // The season: highest regional hazard per day.
    let mut c = Canvas::new();
    let top = v.daily_hazard.iter().map(|(_, h, _)| *h).fold(v.alert_threshold, f64::max);
    let n = v.daily_hazard.len().max(2) as f64 - 1.0;
    let at = |i: usize, h: f64| (i as f64 / n, h / top);
    for (i, w) in v.daily_hazard.windows(2).enumerate() {
        c.line(at(i, w[0].1), at(i + 1, w[1].1), [30, 90, 200], false);
    }
    for (i, (_, h, accident)) in v.daily_hazard.iter().enumerate() {
        if *accident {
            c.marker(at(i, *h), 2, [200, 30, 30]);
        }
    }
    let t = (v.alert_threshold / top).min(1.0);
    c.line((0.0, t), (1.0, t), [120, 120, 120], true);
    c.write_png(&dir.join("season.png"))?;
    let mut md = crate::evaluate::season::markdown(v, site, winters);
    md.push_str("\n![reliability](reliability.png)\n\nReliability: observed share of event cells (y) against mean predicted probability (x) per bin, both on a log scale from 1e-9 to 1; dashed: the diagonal.\n");
    md.push_str(&format!("\n![season](season.png)\n\nThe site's highest regional hazard per December-April day (y, 0 to {top:.3}), days with a recorded accident in red.\n"));
    let path = dir.join("verify.md");
    fs_err::write(&path, md).map_err(io)?;
    Ok(path)
}

/// Writes `report.md`, `eval.json`, `reliability.png` and, when the bundle's training log exists,
/// `learning_curve.png` into `dir`. Returns the report's path.
pub fn write(e: &Evaluation, bundle: &Path, dir: &Path) -> Result<PathBuf, RunError> {
    let io = |err| RunError::Io { path: dir.display().to_string(), source: err };
    fs_err::create_dir_all(dir).map_err(io)?;
    fs_err::write(dir.join("eval.json"), serde_json::to_string_pretty(e).unwrap_or_default()).map_err(io)?;

    // ROC curves of the map and the baselines on the same cells; the diagonal is chance.
    let curves: Vec<(String, Vec<(f64, f64)>)> = e.rows.iter().map(|r| (r.name.clone(), r.roc.clone())).collect();
    let legend = roc_png(&dir.join("roc.png"), &curves)?;

    // Reliability diagram: observed release rate against mean predicted probability per bin; the diagonal is
    // perfect calibration, marker size grows with the bin's pixel count.
    let mut c = Canvas::new();
    c.line((0.0, 0.0), (1.0, 1.0), [150, 150, 150], true);
    let most = e.reliability.iter().map(|b| b.count).max().unwrap_or(1) as f64;
    let mut prev: Option<(f64, f64)> = None;
    for b in &e.reliability {
        let p = (b.mean_predicted, b.observed_rate);
        if let Some(q) = prev {
            c.line(q, p, [200, 60, 30], false);
        }
        c.marker(p, 1 + (3.0 * b.count as f64 / most).round() as i64, [200, 60, 30]);
        prev = Some(p);
    }
    c.write_png(&dir.join("reliability.png"))?;

    // Learning curve: validation ROC-AUC per epoch, from the JSON lines written during training.
    let log = bundle.with_extension("metrics.jsonl");
    let curve: Vec<f64> = fs_err::read_to_string(&log)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v["val_roc_auc"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    if curve.len() > 1 {
        let mut c = Canvas::new();
        let n = (curve.len() - 1) as f64;
        for (i, w) in curve.windows(2).enumerate() {
            c.line((i as f64 / n, w[0]), ((i + 1) as f64 / n, w[1]), [30, 90, 200], false);
        }
        for (i, v) in curve.iter().enumerate() {
            c.marker((i as f64 / n, *v), 2, [30, 90, 200]);
        }
        c.write_png(&dir.join("learning_curve.png"))?;
    }

    let mut md = String::new();
    let _ = writeln!(md, "# Evaluation of `{}` on `{}`\n", bundle.display(), e.site);
    let _ = writeln!(
        md,
        "The map (the daily prediction over the whole grid) at {} recorded events of the winters from {} on, each \
         against {} controls: valid cells drawn uniformly within {:.0} km (seed {}). The baselines are scored on the \
         same cells. Intervals: 1000 bootstrap replicates over events.\n",
        e.events,
        e.from_winter,
        e.design.controls,
        e.design.radius_m / 1000.0,
        e.design.seed
    );
    let _ = writeln!(
        md,
        "| layer | ROC-AUC | 95 % CI | PR-AUC | events in the top 10 / 20 / 30 % of release terrain |\n|---|---|---|---|---|"
    );
    for row in &e.rows {
        let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
        let ci = row.roc_auc_ci95.map(|(lo, hi)| format!("[{lo:.3}, {hi:.3}]")).unwrap_or_default();
        let capture: Vec<String> = row.capture.iter().map(|c| format!("{:.0} %", 100.0 * c)).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {ci} | {} | {} |",
            row.name,
            f(row.scores.roc_auc),
            f(row.scores.pr_auc),
            capture.join(" / ")
        );
    }
    let _ = writeln!(md, "\n![ROC curves](roc.png)\n\nROC curves: {}; dashed: chance.", legend.join(", "));
    if let Some(p) = e.patch_level_roc_auc {
        let _ = writeln!(
            md,
            "\nTraining diagnostic (not what users see): ROC-AUC {p:.3} on the labelled pixels of training-style windows \
             of the same winters."
        );
    }
    let _ = writeln!(md, "\n## Reliability\n\n![reliability diagram](reliability.png)\n");
    let _ = writeln!(
        md,
        "Share of event cells among the scored cells (y) against the mean map value (x) per bin; dashed: the diagonal. The map's values rank cells; a probability per cell and day needs the day-level hazard.\n"
    );
    let _ = writeln!(md, "| bin | cells | mean map value | share of event cells |\n|---|---|---|---|");
    for b in &e.reliability {
        let _ = writeln!(
            md,
            "| {:.1}-{:.1} | {} | {:.3} | {:.3} |",
            b.lo, b.hi, b.count, b.mean_predicted, b.observed_rate
        );
    }
    if curve.len() > 1 {
        let _ = writeln!(md, "\n## Learning curve\n\n![validation ROC-AUC per epoch](learning_curve.png)\n");
        let _ = writeln!(md, "Validation ROC-AUC per epoch (y, 0 to 1) from `{}`.", log.display());
    }
    let path = dir.join("report.md");
    fs_err::write(&path, md).map_err(io)?;
    Ok(path)
}
