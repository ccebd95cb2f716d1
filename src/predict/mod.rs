//! Daily prediction: a site's model bundle run over the whole site grid with the day's weather channels, written as
//! a probability raster that [`crate::publish`] turns into the published map set.
//!
//! ```text
//!  terrain/dem.tif ──┐ (window + TPI halo)
//!  terrain/features.tif ──┤ tile windows ──► normalise ──► UNet (batches) ──► weighted blend ──► row strips ──►
//!  weather/features/<day>.tif ──┘                                                     predictions/<day>.tif
//! ```
//!
//! **Context.** Each window is read with the bundle's `context` margin of real terrain around it (outside the grid:
//! the training mean), and only the window itself is kept: the network was trained with labels on the centre of
//! its windows and that margin around them, so every cell is predicted with at least the context it was trained
//! with, wherever it lies in a tile. Maps from tiles of 32, 64 or 256 cells agree (tested).
//!
//! **Tiling.** The grid is cut into `tile` x `tile` windows that overlap by `overlap` cells. Each window's
//! prediction is weighted by a ramp that rises (quadratically) from near zero at the window's edges to 1 at `overlap`
//! cells inside them, and overlapping predictions are averaged with these weights: a cell near one window's edge, where that
//! window saw only part of the cell's context, takes its value from the neighbouring window, so no seams appear.
//! Topographic position (TPI at 1 and 4 km) is computed per window from a DEM window widened by the largest TPI
//! radius, which gives exactly the whole-grid values.
//!
//! **Memory** does not grow with the site's area: windows are read one at a time, blended rows are kept only until
//! the last window that touches them is done, then written. What remains is one strip of `tile` rows across the
//! grid's width (a few bytes per cell of it) and the network's activations for a batch of windows.
//!
//! **Weather channels.** A bundle's weather features are read from the day's weather raster by name (mapping the
//! training names to the raster's bands, [`weather_band`]). A feature the day's raster cannot give (a variable the
//! weather source does not provide, or no weather source at all) is set to its training mean, i.e. zero after
//! normalisation, the neutral value the network also saw for dropped channels; the filled features are listed in the
//! output's metadata (`AVARISK_FILLED`) and in the STAC item, so the map says what it was conditioned on.
//!
//! **No hand-made gate.** Earlier maps multiplied the network's output by a slope gate (0 below 15 degrees, rising to
//! 1 at 25). Recorded start zones are located to about 100 m and 90 m cells smooth slopes: 13 % of western Tyrol's
//! recorded start zones fall on cells under 15 degrees and 45 % under 25, so the gate closed or damped them, and the
//! same network's map scored 0.62 instead of 0.72 on the held-back events. The network sees the slope and learns
//! from the records what it implies.
//!
//! **Uncertainty.** With `mc_passes` > 1 each window runs that many Monte Carlo dropout passes (Gal & Ghahramani
//! 2016; the dropout before the head stays on, batch norm in eval mode): band 1 is their mean, band 2
//! (`risk_spread`) their standard deviation. It costs `mc_passes` times the inference time, so it is off by default.
pub mod day;
mod window;

pub use window::weather_band;
use window::*;

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::NaiveDate;
use gdal::{Dataset, Metadata};
use tch::{Device, Kind, Tensor};

pub use crate::config::params::PredictParams;

use crate::geo::raster::{self, BandSpec, Staged};
use crate::geo::{GeoError, Grid};
use crate::model::bundle::{self, BundleError};
use crate::model::UNet;

#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error("{path} is missing: {hint}")]
    Missing { path: String, hint: String },
    #[error("{path}: no band named `{band}` (bands: {bands}); re-derive it with `avarisk run onboard`")]
    Band { path: String, band: String, bands: String },
    #[error("{path} is on a {found} grid, the site's DEM on {expected}: re-derive it with `avarisk run onboard`")]
    GridMismatch { path: String, found: String, expected: String },
    #[error("prediction parameters: {0}")]
    Params(String),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error("inference: {0}")]
    Tensor(#[from] tch::TchError),
}

/// The rasters a prediction reads: the site's DEM and terrain stack, and the day's weather channels if any.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub dem: PathBuf,
    pub terrain: PathBuf,
    pub weather: Option<PathBuf>,
}

/// What [`predict`] wrote.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub path: PathBuf,
    pub grid_size: (usize, usize),
    pub valid_cells: usize,
    pub mean_probability: f64,
    pub max_probability: f32,
    /// Bundle features set to their training mean because the day's rasters could not give them.
    pub filled: Vec<String>,
    pub windows: usize,
    pub seconds: f64,
}

impl std::fmt::Display for Prediction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "risk probability on {}x{} cells ({} valid, mean {:.3}, max {:.3}) in {:.1} s ({} windows, {:.2} Mpx/s): {}",
            self.grid_size.0,
            self.grid_size.1,
            self.valid_cells,
            self.mean_probability,
            self.max_probability,
            self.seconds,
            self.windows,
            (self.grid_size.0 * self.grid_size.1) as f64 / self.seconds.max(1e-9) / 1e6,
            self.path.display()
        )?;
        if !self.filled.is_empty() {
            write!(f, " (set to their training mean: {})", self.filled.join(", "))?;
        }
        Ok(())
    }
}

/// Runs the bundle at `bundle_dir` over the grid of `inputs.dem` and writes the probability raster to `dest`
/// (atomically). `date` and the bundle's lineage id go into the output's metadata.
pub fn predict(
    inputs: &Inputs,
    bundle_dir: &Path,
    date: NaiveDate,
    params: &PredictParams,
    dest: &Path,
    device: Device,
) -> Result<Prediction, PredictError> {
    let problems = params.problems();
    if !problems.is_empty() {
        return Err(PredictError::Params(problems.into_iter().map(|(_, p)| p).collect::<Vec<_>>().join("; ")));
    }
    let t0 = Instant::now();
    for p in [&inputs.dem, &inputs.terrain] {
        if !p.exists() {
            return Err(PredictError::Missing {
                path: p.display().to_string(),
                hint: "derive the site's terrain first (`avarisk run onboard --sites SITE`)".into(),
            });
        }
    }
    // The variable store owns the weights: it lives until the end of the function.
    let (_vs, unet, meta) = bundle::load(bundle_dir, device)?;
    let bundle_id = bundle::lineage_id(bundle_dir)?;

    let dem_str = inputs.dem.display().to_string();
    let dem = raster::open(&dem_str)?;
    let grid = Grid::of_dataset(&dem, &dem_str)?;
    // Features are read by name below; the resolution must match what the network learnt its context at.
    bundle::check_compatible(&meta, &meta.features, grid.res_x())?;
    let terrain = open_on_grid(&inputs.terrain, &grid)?;
    // A terrain-only bundle (what training writes now) reads no weather raster.
    let needs_weather = meta.features.iter().any(|f| weather_band(f).is_some());
    let weather = match inputs.weather.as_ref().filter(|_| needs_weather) {
        Some(p) if p.exists() => Some(open_on_grid(p, &grid)?),
        Some(p) => {
            return Err(PredictError::Missing {
                path: p.display().to_string(),
                hint: "derive the day's weather channels first (the `weather_features` stage of `avarisk run daily`)"
                    .into(),
            })
        }
        None => None,
    };
    let (sources, filled) = sources(&meta, &grid, &terrain, weather.as_ref(), &inputs.terrain)?;

    let mc = params.mc_passes.max(1);
    let mut specs = vec![BandSpec {
        name: "risk_probability".into(),
        unit: "1".into(),
        description: "probability that a slab avalanche releases in the cell on the day (0..1)".into(),
    }];
    if mc > 1 {
        specs.push(BandSpec {
            name: "risk_spread".into(),
            unit: "1".into(),
            description: format!("standard deviation of the probability over {mc} Monte Carlo dropout passes"),
        });
    }
    let staged = Staged::new(dest)?;
    let out = raster::create_f32(staged.path(), &grid, &specs)?;
    let md_err =
        |e| GeoError::Gdal { action: "write metadata to", path: dest.display().to_string(), source: Box::new(e) };
    let mut out = out;
    out.set_metadata_item("AVARISK_DATE", &date.to_string(), "").map_err(md_err)?;
    out.set_metadata_item("AVARISK_BUNDLE", &bundle_id, "").map_err(md_err)?;
    out.set_metadata_item("AVARISK_FILLED", &filled.join(","), "").map_err(md_err)?;
    out.set_metadata_item(
        "AVARISK_TILING",
        &format!("tile={} overlap={} mc_passes={}", params.tile, params.overlap, params.mc_passes),
        "",
    )
    .map_err(md_err)?;

    let slope_band =
        band_names(&terrain).iter().position(|b| b == "slope").map(|i| i + 1).ok_or_else(|| PredictError::Band {
            path: inputs.terrain.display().to_string(),
            band: "slope".into(),
            bands: band_names(&terrain).join(", "),
        })?;
    let reader = WindowReader {
        dem: &dem,
        terrain: &terrain,
        weather: weather.as_ref(),
        sources: &sources,
        meta: &meta,
        slope_band,
    };
    let stats = run_tiles(&grid, params, mc, &unet, device, &reader, &out)?;
    drop(out);
    let path = staged.commit()?;
    Ok(Prediction {
        path,
        grid_size: (grid.width, grid.height),
        valid_cells: stats.valid,
        mean_probability: if stats.valid > 0 { stats.sum / stats.valid as f64 } else { 0.0 },
        max_probability: stats.max,
        filled,
        windows: stats.windows,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Window origins along an axis of `len` cells: every `tile - overlap` cells from 0, until a window reaches the end
/// (the last one may reach past it). Every origin is a multiple of the stride, so with a tile and overlap that are
/// multiples of 4 the network's two 2x2 poolings fall on the same cells in every tiling: a cell's value does not
/// depend on where the tiles start.
fn origins(len: usize, tile: usize, overlap: usize) -> Vec<usize> {
    let stride = tile - overlap;
    let mut out = vec![0];
    while out[out.len() - 1] + tile < len {
        out.push(out[out.len() - 1] + stride);
    }
    out
}

/// Blending weight at position `i` of a window of `n` cells: rises quadratically over `overlap` cells from each
/// edge (cells near an edge saw little context there), never zero (a cell on the grid's border is covered by one
/// window only).
fn ramp(i: usize, n: usize, overlap: usize) -> f32 {
    if overlap == 0 {
        return 1.0;
    }
    let from_edge = i.min(n - 1 - i) as f32 + 0.5;
    (from_edge / overlap as f32).clamp(0.03, 1.0).powi(2)
}

#[derive(Default)]
struct Stats {
    valid: usize,
    sum: f64,
    max: f32,
    windows: usize,
}

/// The tiling loop: windows row by row of windows, blended into a strip of rows that is written out as soon as no
/// later window touches it.
fn run_tiles(
    grid: &Grid,
    params: &PredictParams,
    mc: usize,
    unet: &UNet,
    device: Device,
    reader: &WindowReader,
    out: &Dataset,
) -> Result<Stats, PredictError> {
    let (gw, gh) = (grid.width, grid.height);
    let (tw, th) = (params.tile, params.tile);
    // Each window is read with the bundle's context margin around it (the context its training windows gave every
    // labelled cell); the network needs multiples of 4, so the widened window is padded with zeros (the mean).
    let halo = halo(reader.meta);
    let (iw, ih) = (tw + 2 * halo, th + 2 * halo);
    let (pw, ph) = (iw.div_ceil(4) * 4, ih.div_ceil(4) * 4);
    let cols = origins(gw, params.tile, params.overlap);
    let rows = origins(gh, params.tile, params.overlap);
    let weights: Vec<f32> =
        (0..th).flat_map(|i| (0..tw).map(move |j| ramp(i, th, params.overlap) * ramp(j, tw, params.overlap))).collect();
    let channels = reader.sources.len();
    // Strip of rows [strip0, strip0 + th): weighted sums of the probability, of its square and of the weights.
    let mut strip0 = 0usize;
    let mut acc = vec![0f64; th * gw];
    let mut acc2 = vec![0f64; th * gw];
    let mut wsum = vec![0f64; th * gw];
    let mut gate = vec![f32::NAN; th * gw];
    let mut stats = Stats::default();
    for (ri, &row) in rows.iter().enumerate() {
        // Shift the strip down to start at `row`, writing out the rows above it (final: no later window reaches them).
        if row > strip0 {
            let done = row - strip0;
            write_strip(out, strip0, done, gw, mc, (&acc, &acc2, &wsum, &gate), &mut stats)?;
            for buf in [&mut acc, &mut acc2, &mut wsum] {
                buf.copy_within(done * gw.., 0);
                buf[(th - done) * gw..].iter_mut().for_each(|v| *v = 0.0);
            }
            gate.copy_within(done * gw.., 0);
            gate[(th - done) * gw..].iter_mut().for_each(|v| *v = f32::NAN);
            strip0 = row;
        }
        for batch in cols.chunks(params.batch) {
            let mut xs = Vec::with_capacity(batch.len() * channels * pw * ph);
            let mut gates = Vec::with_capacity(batch.len());
            for &col in batch {
                let (x, g) = reader.read(grid, (col, row), (tw, th), halo)?;
                xs.extend(pad(&x, channels, iw, ih, pw, ph));
                gates.push(g);
            }
            let n = batch.len() as i64;
            let input =
                Tensor::f_from_slice(&xs)?.f_view([n, channels as i64, ph as i64, pw as i64])?.to_device(device);
            let passes: Vec<Tensor> = tch::no_grad(|| {
                (0..mc).map(|_| unet.f_predict(&input, mc > 1).map(|l| l.sigmoid())).collect::<Result<_, _>>()
            })?;
            let stacked = Tensor::f_stack(&passes, 0)?; // [mc, n, 1, ph, pw]
            let mean = stacked.f_mean_dim(0, false, Kind::Float)?.to_device(Device::Cpu);
            let sq = (&stacked * &stacked).f_mean_dim(0, false, Kind::Float)?.to_device(Device::Cpu);
            let mean: Vec<f32> = Vec::<f32>::try_from(mean.f_flatten(0, -1)?)?;
            let sq: Vec<f32> = Vec::<f32>::try_from(sq.f_flatten(0, -1)?)?;
            for (k, &col) in batch.iter().enumerate() {
                // The last windows may reach past the grid: their cells beyond it are dropped.
                for i in 0..th.min(gh - row) {
                    for j in 0..tw.min(gw - col) {
                        let src = k * ph * pw + (i + halo) * pw + j + halo;
                        let dst = i * gw + col + j;
                        let wgt = weights[i * tw + j] as f64;
                        acc[dst] += wgt * mean[src] as f64;
                        acc2[dst] += wgt * sq[src] as f64;
                        wsum[dst] += wgt;
                        gate[dst] = gates[k][i * tw + j];
                    }
                }
            }
            stats.windows += batch.len();
        }
        if ri == rows.len() - 1 {
            write_strip(out, strip0, th.min(gh - strip0), gw, mc, (&acc, &acc2, &wsum, &gate), &mut stats)?;
        }
    }
    Ok(stats)
}

/// Pads a `[C, h, w]` window to `[C, ph, pw]` with zeros (the training mean after normalisation).
fn pad(x: &[f32], channels: usize, w: usize, h: usize, pw: usize, ph: usize) -> Vec<f32> {
    if (w, h) == (pw, ph) {
        return x.to_vec();
    }
    let mut out = vec![0f32; channels * pw * ph];
    for c in 0..channels {
        for i in 0..h {
            let from = c * w * h + i * w;
            let to = c * pw * ph + i * pw;
            out[to..to + w].copy_from_slice(&x[from..from + w]);
        }
    }
    out
}

/// Writes `rows` finished rows of the strip starting at grid row `row0`: blended mean (and spread) times the release
/// validity, nodata where the terrain is invalid (validity NaN).
fn write_strip(
    out: &Dataset,
    row0: usize,
    rows: usize,
    width: usize,
    mc: usize,
    (acc, acc2, wsum, gate): (&[f64], &[f64], &[f64], &[f32]),
    stats: &mut Stats,
) -> Result<(), GeoError> {
    let n = rows * width;
    let mut p = vec![f32::NAN; n];
    let mut spread = vec![f32::NAN; if mc > 1 { n } else { 0 }];
    for i in 0..n {
        if !gate[i].is_nan() && wsum[i] > 0.0 {
            let (g, m) = (gate[i] as f64, acc[i] / wsum[i]);
            p[i] = (g * m) as f32;
            stats.valid += 1;
            stats.sum += g * m;
            stats.max = stats.max.max((g * m) as f32);
            if mc > 1 {
                spread[i] = (g * (acc2[i] / wsum[i] - m * m).max(0.0).sqrt()) as f32;
            }
        }
    }
    raster::write_rows(out, 1, row0, width, p)?;
    if mc > 1 {
        raster::write_rows(out, 2, row0, width, spread)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_cover_the_axis_on_multiples_of_the_stride() {
        assert_eq!(origins(100, 256, 64), vec![0]);
        assert_eq!(origins(256, 256, 64), vec![0]);
        assert_eq!(origins(500, 256, 64), vec![0, 192, 384]);
        let o = origins(1000, 128, 32);
        assert!(*o.last().unwrap() + 128 >= 1000 && *o.last().unwrap() < 1000);
        assert!(o.iter().all(|v| v % 96 == 0));
    }

    #[test]
    fn ramp_is_positive_and_reaches_one_inside() {
        assert!(ramp(0, 256, 64) > 0.0 && ramp(0, 256, 64) < 0.002);
        assert_eq!(ramp(100, 256, 64), 1.0);
        assert_eq!(ramp(3, 256, 64), ramp(252, 256, 64));
    }

    #[test]
    fn params_problems_are_reported() {
        assert!(PredictParams::default().problems().is_empty());
        let bad = PredictParams { tile: 30, overlap: 18, batch: 0, mc_passes: 1000 };
        assert_eq!(bad.problems().len(), 5);
    }
}
