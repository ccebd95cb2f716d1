//! Scoring the map users receive: a bundle's full-grid prediction (the code path of [`crate::predict`], nothing
//! else) read at recorded avalanches of winters it never saw, against controls drawn as a user checking the map would
//! draw them, with the simple baselines a skeptic would try on the *same cells*.
//!
//! ```text
//!  bundle ──predict (whole grid)──► map ──┐
//!  held-back events ──► event cell + K controls (valid cells uniform within R km, seeded) ──► values ──► ROC-AUC,
//!  terrain (elevation, slope, TPI 1/4 km, PRA) ──┘                              event-bootstrap 95 % CI, capture
//! ```
//!
//! **Controls.** For every event, `controls` (20) valid cells drawn uniformly in the disc of `radius_m` (15 km) around
//! it; the event and its controls form one bootstrap group, so intervals resample events. The controls are not
//! "non-release" cells: some may have released unseen. What the score answers is the user's question: does the map
//! rank the cell where the avalanche started above the other cells of the same area?
//!
//! **Capture.** The share of events whose cell is in the top 10, 20 or 30 % of the site's release terrain (slope >=
//! [`RELEASE_SLOPE_DEG`]) by the score: how much terrain a user must watch to cover that share of releases.
//!
//! Patch-level figures (validation windows during training) are a training diagnostic only.
pub mod season;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::dataset::channels::{SiteRasters, CHANNELS};
use crate::ingest::observations::Event;
use avarisk_nn::metrics::{self, Scores};

/// How controls are drawn around each event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapDesign {
    /// Controls per event.
    pub controls: usize,
    /// Radius of the disc the controls are drawn from (m).
    pub radius_m: f64,
    pub seed: u64,
}

/// Controls per event, their radius and seed unless asked otherwise.
pub const DEFAULT_CONTROLS: usize = 20;
pub const DEFAULT_RADIUS_M: f64 = crate::dataset::sample::DEFAULT_CONTROL_RADIUS_M;

impl Default for MapDesign {
    fn default() -> Self {
        MapDesign { controls: DEFAULT_CONTROLS, radius_m: DEFAULT_RADIUS_M, seed: 7 }
    }
}

/// Slope (degrees) from which a cell counts as release terrain in the capture figures.
pub const RELEASE_SLOPE_DEG: f32 = 25.0;
/// Shares of release terrain the capture figures report.
pub const CAPTURE_SHARES: [f64; 3] = [0.1, 0.2, 0.3];

/// The cells scored: each event's cell and its controls.
#[derive(Debug, Clone, Default)]
pub struct Cases {
    /// (col, row) of each scored cell.
    pub cells: Vec<(usize, usize)>,
    pub labels: Vec<bool>,
    /// Event of each cell (index into the events given to [`cases`]): the bootstrap unit.
    pub groups: Vec<usize>,
}

impl Cases {
    pub fn events(&self) -> usize {
        self.groups.iter().collect::<BTreeSet<_>>().len()
    }
}

/// The event cells of `events` (those on valid terrain) and `design.controls` valid cells uniform within
/// `design.radius_m` of each.
pub fn cases(rasters: &SiteRasters, events: &[Event], design: &MapDesign) -> Cases {
    let g = &rasters.grid;
    let reach = design.radius_m / g.res_x();
    let mut rng = StdRng::seed_from_u64(design.seed);
    let mut out = Cases::default();
    for (k, e) in events.iter().enumerate() {
        if !rasters.valid(e.col, e.row) {
            continue;
        }
        out.cells.push((e.col, e.row));
        out.labels.push(true);
        out.groups.push(k);
        let mut drawn = 0;
        for _ in 0..200 * design.controls {
            if drawn == design.controls {
                break;
            }
            let (rho, theta) = (reach * rng.gen::<f64>().sqrt(), rng.gen::<f64>() * std::f64::consts::TAU);
            let (c, r) =
                ((e.col as f64 + 0.5 + rho * theta.cos()).floor(), (e.row as f64 + 0.5 + rho * theta.sin()).floor());
            if c < 0.0 || r < 0.0 || c >= g.width as f64 || r >= g.height as f64 {
                continue;
            }
            let (c, r) = (c as usize, r as usize);
            if (c, r) == (e.col, e.row) || !rasters.valid(c, r) {
                continue;
            }
            out.cells.push((c, r));
            out.labels.push(false);
            out.groups.push(k);
            drawn += 1;
        }
    }
    out
}

/// Values of a whole-grid layer at `cells`.
pub fn at(values: &[f32], width: usize, cells: &[(usize, usize)]) -> Vec<f32> {
    cells.iter().map(|(c, r)| values[r * width + c]).collect()
}

/// One scored layer: the map or a baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub name: String,
    pub scores: Scores,
    pub roc_auc_ci95: Option<(f64, f64)>,
    /// Share of events in the top 10, 20, 30 % of release terrain by this layer ([`CAPTURE_SHARES`]).
    pub capture: Vec<f64>,
    /// ROC curve: (false-positive rate, true-positive rate) from the highest score down, ties taken together.
    #[serde(skip)]
    pub roc: Vec<(f64, f64)>,
    /// The layer's values at the scored cells (nodata as the lowest value).
    #[serde(skip)]
    pub values: Vec<f32>,
}

/// The ROC curve of `scores` against `labels`, one point per distinct score (ties move diagonally).
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Vec<(f64, f64)> {
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = labels.iter().filter(|l| **l).count().max(1) as f64;
    let neg = labels.iter().filter(|l| !**l).count().max(1) as f64;
    let (mut tp, mut fp, mut out) = (0.0, 0.0, vec![(0.0, 0.0)]);
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            if pairs[j].1 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            j += 1;
        }
        out.push((fp / neg, tp / pos));
        i = j;
    }
    out
}

/// The baseline layers a skeptic would try, by name, whole-grid (higher = riskier): elevation, slope, TPI at 1 and
/// 4 km, and the fuzzy PRA layer.
pub fn baselines(rasters: &SiteRasters) -> Vec<(&'static str, &[f32])> {
    ["elevation", "slope", "tpi_1km", "tpi_4km", "pra"]
        .into_iter()
        .filter_map(|n| CHANNELS.iter().position(|c| *c == n).map(|i| (n, rasters.bands[i].as_slice())))
        .collect()
}

/// Scores a whole-grid layer at `cases`: ROC-AUC (ties count half), PR-AUC, the event-bootstrap interval, and the
/// capture of events by the top shares of release terrain (`slope` whole-grid, degrees).
pub fn score(name: &str, layer: &[f32], width: usize, slope: &[f32], cases: &Cases) -> Row {
    let values = at(layer, width, &cases.cells);
    // Cells the layer leaves without a value (nodata) rank lowest.
    let values: Vec<f32> = values.iter().map(|v| if v.is_finite() { *v } else { f32::MIN }).collect();
    let mut terrain: Vec<f32> =
        layer.iter().zip(slope).filter(|(v, s)| v.is_finite() && **s >= RELEASE_SLOPE_DEG).map(|(v, _)| *v).collect();
    terrain.sort_by(|a, b| b.total_cmp(a));
    let positives: Vec<f32> = values.iter().zip(&cases.labels).filter(|(_, l)| **l).map(|(v, _)| *v).collect();
    let capture = CAPTURE_SHARES
        .iter()
        .map(|share| {
            if terrain.is_empty() || positives.is_empty() {
                return f64::NAN;
            }
            let k = ((terrain.len() as f64 * share).ceil() as usize).clamp(1, terrain.len());
            let threshold = terrain[k - 1];
            positives.iter().filter(|v| **v >= threshold).count() as f64 / positives.len() as f64
        })
        .collect();
    Row {
        name: name.into(),
        scores: Scores { brier: None, ..metrics::score(&values, &cases.labels) },
        roc_auc_ci95: metrics::bootstrap_ci(&cases.groups, &values, &cases.labels, metrics::roc_auc, 1000, 7),
        capture,
        roc: roc_curve(&values, &cases.labels),
        values,
    }
}

/// A scratch file for a bundle's whole-grid map in `dir`.
pub fn map_path(dir: &Path, bundle: &Path) -> PathBuf {
    let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "bundle".into());
    dir.join(format!("{name}.map.tif"))
}
