//! The validated parameters of every stage, with their defaults and checks. They live here, beside the plan that
//! holds them, so that configuration never imports a stage; each stage re-exports its own and adds its behaviour.
use std::time::Duration;

use serde::Serialize;

use crate::geo::{Grid, Resampling};
use crate::vocab::terrain::Feature;

// `dataset::sample`

/// How training windows are cut.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Side of the network's input window in cells (a multiple of 4).
    pub patch: usize,
    /// Unlabelled cells on every side of the window: the context the labelled centre is predicted with. The labelled
    /// centres (`patch - 2 * context` cells wide) tile the area; `predict` reads the same margin around its tiles.
    pub context: usize,
    /// The area labelled: cells within this distance of a positive event (m), the radius [`crate::evaluate`] draws
    /// the map's controls from.
    pub control_radius_m: f64,
    /// Positives: cells within this radius of a start zone (default 1.5 cells).
    pub label_radius_m: Option<f64>,
    /// Seed of the tiling's offset.
    pub seed: u64,
}

/// Window side and context margin unless configured.
pub const DEFAULT_PATCH: usize = 160;

/// Unlabelled context margin of a window unless configured.
pub const DEFAULT_CONTEXT: usize = 32;

/// Radius within which the map's controls are drawn, in training and in evaluation (m).
pub const DEFAULT_CONTROL_RADIUS_M: f64 = 15_000.0;

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            patch: DEFAULT_PATCH,
            context: DEFAULT_CONTEXT,
            control_radius_m: DEFAULT_CONTROL_RADIUS_M,
            label_radius_m: None,
            seed: 7,
        }
    }
}

impl SamplingParams {
    /// Side of the labelled centre of a window.
    pub fn labelled(&self) -> usize {
        self.patch.saturating_sub(2 * self.context)
    }
}

// `features::terrain`

/// Parameters of the `terrain` stage.
#[derive(Debug, Clone, PartialEq)]
pub struct TerrainParams {
    /// Bands to write, in order.
    pub features: Vec<Feature>,
    /// VRM window side in cells (odd).
    pub vrm_window: usize,
    pub wind_shelter: WindShelterParams,
}

impl Default for TerrainParams {
    fn default() -> Self {
        TerrainParams { features: Feature::ALL.to_vec(), vrm_window: 3, wind_shelter: WindShelterParams::default() }
    }
}

// `features::terrain::wind_shelter`

/// Parameters of the wind-shelter index.
#[derive(Debug, Clone, PartialEq)]
pub struct WindShelterParams {
    pub radius_m: f64,
    pub direction_deg: f64,
    pub tolerance_deg: f64,
    pub quantile: f64,
}

impl Default for WindShelterParams {
    fn default() -> Self {
        WindShelterParams { radius_m: 60.0, direction_deg: 0.0, tolerance_deg: 180.0, quantile: 0.5 }
    }
}

// `features::weather`

/// Parameters of the `weather_features` stage.
#[derive(Debug, Clone, PartialEq)]
pub struct WeatherFeatureParams {
    /// Temperature change with elevation, deg C per km (negative: colder higher up).
    pub lapse_rate_c_per_km: f64,
    /// Relative change of snowfall per 100 m of elevation (0.05 = +5 % per 100 m), applied to new-snow channels.
    pub snowfall_gradient_per_100m: f64,
    /// Inverse-distance-weighting power across points (0 = plain mean).
    pub idw_power: f64,
    /// Longest gap (days) in temperature, snow depth and wind speed filled by linear interpolation.
    pub max_gap_days: u32,
}

impl Default for WeatherFeatureParams {
    fn default() -> Self {
        WeatherFeatureParams {
            lapse_rate_c_per_km: -6.5,
            snowfall_gradient_per_100m: 0.05,
            idw_power: 2.0,
            max_gap_days: 2,
        }
    }
}

// `ingest::dem`

/// Parameters of the `dem` stage.
#[derive(Debug, Clone, PartialEq)]
pub struct DemParams {
    /// Resampling for elevation (bilinear by default: continuous, no overshoot).
    pub resampling: Resampling,
}

impl Default for DemParams {
    fn default() -> Self {
        DemParams { resampling: Resampling::Bilinear }
    }
}

// `ingest::observations`

/// Reads the site's observations and writes `store.events(site)` and `store.event_weather(site)` (both always,
/// empty when no event is kept). Both are written to temporary files next to their destinations and renamed into
/// place only once both are complete: on any error the previous outputs stay as they were.
/// Parameters of the `observations` stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservationParams {
    /// Radius (m) marked positive around a start zone in label rasters; `None`: 1.5 grid cells.
    pub label_radius_m: Option<f64>,
}

impl ObservationParams {
    pub fn label_radius(&self, grid: &Grid) -> f64 {
        self.label_radius_m.unwrap_or(1.5 * grid.res_x())
    }
}

// `ingest::weather::fetch`

/// Client settings (the `weather` stage's parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct FetchParams {
    /// Requests in flight at once, across all sites and points.
    pub concurrency: usize,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
    /// First backoff; attempt n waits a random time in [0, base * 2^n] (full jitter), at most `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for FetchParams {
    fn default() -> Self {
        FetchParams {
            concurrency: 8,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            retries: 4,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

// `predict`

/// How the grid is tiled and the network run.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictParams {
    /// Window side in cells (a multiple of 4).
    pub tile: usize,
    /// Cells shared by neighbouring windows (less than half of `tile`).
    pub overlap: usize,
    /// Windows per forward pass.
    pub batch: usize,
    /// Monte Carlo dropout passes; 0 or 1 = one deterministic pass and no spread band.
    pub mc_passes: usize,
}

impl Default for PredictParams {
    fn default() -> Self {
        PredictParams { tile: 256, overlap: 64, batch: 4, mc_passes: 0 }
    }
}

impl PredictParams {
    /// Every problem with these parameters, each with the key it is about.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.tile < 32 || self.tile % 4 != 0 {
            out.push(("tile", format!("tile must be a multiple of 4, at least 32 (got {})", self.tile)));
        }
        if self.overlap % 4 != 0 {
            out.push(("overlap", format!("overlap must be a multiple of 4 (got {})", self.overlap)));
        }
        if 2 * self.overlap >= self.tile {
            out.push((
                "overlap",
                format!("overlap must be less than half the tile (got {} for tile {})", self.overlap, self.tile),
            ));
        }
        if self.batch == 0 {
            out.push(("batch", "batch must be at least 1".into()));
        }
        if self.mc_passes > 100 {
            out.push(("mc_passes", format!("mc_passes must be at most 100 (got {})", self.mc_passes)));
        }
        out
    }
}

// `train::fit`

/// Optimisation hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainParams {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Stop after this many epochs without a better validation ROC-AUC.
    pub patience: usize,
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams { epochs: 15, batch: 64, lr: 2e-3, weight_decay: 1e-4, patience: 4, seed: 7 }
    }
}

// `publish::bucket`

/// Where map sets go: `s3://<bucket>[/<prefix>]`; a site's objects live under `<prefix>/<site>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: String,
    /// `/`-separated, no leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl Target {
    /// Parses `s3://bucket/prefix`. The error says what is wrong and what is accepted.
    pub fn parse(url: &str) -> Result<Target, String> {
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(format!("`{url}` is not an object-storage URL: write s3://<bucket>/<prefix>"));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(format!(
                "bucket `{bucket}` in `{url}`: S3 bucket names are 3-63 lower-case letters, digits, `-` and `.`, \
                 starting and ending with a letter or digit"
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        if !prefix.is_empty() && !prefix.split('/').all(segment_ok) {
            return Err(format!(
                "prefix `{prefix}` in `{url}`: use `/`-separated parts of letters, digits, `-`, `_` and `.` \
                 (no empty, `.` or `..` parts)"
            ));
        }
        Ok(Target { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}
