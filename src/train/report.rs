//! Evaluation reports a person can read: `report.md` with the scores, and PNG plots (the reliability diagram, and
//! the learning curve when the bundle's training log is present), drawn on a small canvas and written with GDAL's
//! PNG driver.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gdal::raster::Buffer;
use gdal::DriverManager;

use super::run::{Evaluation, RunError};

const SIZE: usize = 320;
const MARGIN: usize = 30;

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

/// Writes `report.md`, `eval.json`, `reliability.png` and, when the bundle's training log exists,
/// `learning_curve.png` into `dir`. Returns the report's path.
pub fn write(e: &Evaluation, bundle: &Path, dir: &Path) -> Result<PathBuf, RunError> {
    let io = |err| RunError::Io { path: dir.display().to_string(), source: err };
    fs_err::create_dir_all(dir).map_err(io)?;
    fs_err::write(dir.join("eval.json"), serde_json::to_string_pretty(e).unwrap_or_default()).map_err(io)?;

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
        "Held-back winters from {}: {} events (matched negatives on the same days).\n",
        e.from_winter, e.events
    );
    let _ = writeln!(md, "| scores | n | positives | ROC-AUC | PR-AUC | Brier |\n|---|---|---|---|---|---|");
    for (name, s) in [("model", &e.model), ("slope only", &e.slope_only), ("PRA", &e.pra)] {
        let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} |",
            s.n,
            s.positives,
            f(s.roc_auc),
            f(s.pr_auc),
            f(s.brier)
        );
    }
    if let Some((lo, hi)) = e.model_roc_auc_ci95 {
        let _ =
            writeln!(md, "\nModel ROC-AUC 95 % interval (1000 bootstrap replicates over events): [{lo:.3}, {hi:.3}].");
    }
    let _ = writeln!(md, "\n## Reliability\n\n![reliability diagram](reliability.png)\n");
    let _ = writeln!(
        md,
        "Observed release rate (y) against mean predicted probability (x) per bin; dashed: perfect calibration.\n"
    );
    let _ = writeln!(md, "| bin | pixels | mean predicted | observed |\n|---|---|---|---|");
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
