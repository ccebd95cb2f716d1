//! Terrain features: the static channels every later stage reads, derived from the site DEM.
//!
//! [`derive`] streams the DEM in row blocks of [`TILE`] rows with a halo wide enough for the largest neighbourhood
//! requested, so memory depends on the raster's width, not its size. Three threads overlap the work: one reads the
//! next block, the compute step spreads rows over all cores (rayon), one writes (GDAL compresses on all cores).
//! The result is one tiled, compressed Float32 GeoTIFF with one band per [`Feature`], named and with units.
//!
//! Edges and nodata: see [`window`]. Every feature is nodata where the DEM is nodata (the validity mask).
pub mod aspect;
pub mod curvature;
pub mod pra;
pub mod roughness;
pub mod slope;
pub mod vrm;
pub mod wind_shelter;
pub mod window;

use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;

use gdal::Metadata;
use rayon::prelude::*;

pub use crate::config::params::TerrainParams;
use crate::geo::raster::{self, BandSpec, Staged, TILE};
use crate::geo::{GeoError, Grid};
pub use crate::vocab::terrain::Feature;
pub use wind_shelter::WindShelterParams;
use window::Strip;

impl TerrainParams {
    /// A one-line record of the parameters, stored in the output's metadata.
    pub fn describe(&self) -> String {
        let w = &self.wind_shelter;
        format!(
            "vrm_window={} wind_shelter.radius_m={} wind_shelter.direction_deg={} wind_shelter.tolerance_deg={} wind_shelter.quantile={}",
            self.vrm_window, w.radius_m, w.direction_deg, w.tolerance_deg, w.quantile
        )
    }

    /// Requested features plus what they depend on, in [`Feature::ALL`] order.
    fn needed(&self) -> Vec<Feature> {
        let mut v: Vec<Feature> =
            self.features.iter().flat_map(|f| std::iter::once(*f).chain(f.deps().iter().copied())).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Halo (cells) a block needs for `f` at resolution `res`.
    fn halo(&self, f: Feature, res: f64) -> usize {
        match f {
            Feature::Vrm => self.vrm_window / 2 + 1,
            Feature::WindShelter => self.wind_shelter.halo(res),
            Feature::Pra => f.deps().iter().map(|d| self.halo(*d, res)).max().unwrap_or(1),
            _ => 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TerrainError {
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error("{path}: terrain features need square cells in metres in a projected CRS (found {res_x} x {res_y} in {crs}); put the DEM on a site grid first (`avarisk ingest dem`)")]
    NotMetric { path: String, res_x: f64, res_y: f64, crs: String },
    #[error("terrain worker thread failed: {0}")]
    Worker(String),
}

/// Summary of one written band.
#[derive(Debug, Clone, PartialEq)]
pub struct BandStats {
    pub feature: Feature,
    pub valid: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

impl BandStats {
    fn new(feature: Feature) -> Self {
        BandStats { feature, valid: 0, min: f64::INFINITY, max: f64::NEG_INFINITY, mean: 0.0 }
    }
    fn add(&mut self, data: &[f32]) {
        let (mut n, mut sum) = (0usize, 0f64);
        for v in data.iter().filter(|v| !v.is_nan()) {
            let v = *v as f64;
            n += 1;
            sum += v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        let total = self.valid + n;
        if total > 0 {
            self.mean = (self.mean * self.valid as f64 + sum) / total as f64;
        }
        self.valid = total;
    }
}

/// What [`derive`] wrote.
#[derive(Debug, Clone)]
pub struct TerrainStack {
    pub path: PathBuf,
    pub grid: Grid,
    pub bands: Vec<BandStats>,
}

/// Derives `params.features` from the DEM at `dem` (on a metric grid) into a GeoTIFF stack at `dest`, atomically.
pub fn derive(dem: &Path, dest: &Path, params: &TerrainParams) -> Result<TerrainStack, TerrainError> {
    let dem_str = dem.display().to_string();
    let grid = Grid::of_dataset(&raster::open(&dem_str)?, &dem_str)?;
    let (rx, ry) = (grid.res_x(), grid.res_y());
    if !grid.crs.is_projected_metres() || (rx - ry).abs() > 1e-6 * rx {
        return Err(TerrainError::NotMetric { path: dem_str, res_x: rx, res_y: ry, crs: grid.crs.to_string() });
    }
    let needed = params.needed();
    let halo = needed.iter().map(|f| params.halo(*f, rx)).max().unwrap_or(1);
    let offsets = params.wind_shelter.offsets(rx);
    let specs: Vec<BandSpec> = params
        .features
        .iter()
        .map(|f| BandSpec { name: f.name().into(), unit: f.unit().into(), description: f.description().into() })
        .collect();
    let staged = Staged::new(dest)?;
    let (w, h) = (grid.width, grid.height);
    let stride = w + 2 * halo;

    let (read, computed, written) = std::thread::scope(|scope| {
        let (tx_in, rx_in) = sync_channel::<(usize, Vec<f32>)>(1);
        let (tx_out, rx_out) = sync_channel::<(usize, Vec<Vec<f32>>)>(1);
        let dem_str = &dem_str;
        let reader = scope.spawn(move || -> Result<(), GeoError> {
            let ds = raster::open(dem_str)?;
            let mut tmp = vec![0f32; w * (TILE + 2 * halo)];
            for row0 in (0..h).step_by(TILE) {
                let rows = TILE.min(h - row0);
                let top = row0.saturating_sub(halo);
                let bottom = h.min(row0 + rows + halo);
                let n = bottom - top;
                raster::read_rows(&ds, 1, top, n, &mut tmp[..w * n])?;
                let mut pad = vec![f32::NAN; stride * (rows + 2 * halo)];
                let first = top + halo - row0;
                for k in 0..n {
                    let at = (first + k) * stride + halo;
                    pad[at..at + w].copy_from_slice(&tmp[k * w..(k + 1) * w]);
                }
                if tx_in.send((row0, pad)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let (grid, specs, features, staged_path) = (&grid, &specs, &params.features, staged.path());
        let writer = scope.spawn(move || -> Result<Vec<BandStats>, GeoError> {
            let mut ds = raster::create_f32(staged_path, grid, specs)?;
            let mut stats: Vec<BandStats> = features.iter().map(|f| BandStats::new(*f)).collect();
            for (row0, bands) in rx_out {
                for (i, band) in bands.into_iter().enumerate() {
                    stats[i].add(&band);
                    raster::write_rows(&ds, i + 1, row0, w, band)?;
                }
            }
            write_metadata(&mut ds, &stats, params, staged_path)?;
            ds.flush_cache().map_err(|e| GeoError::Gdal {
                action: "flush",
                path: staged_path.display().to_string(),
                source: Box::new(e),
            })?;
            Ok(stats)
        });
        let mut computed = Ok(());
        for (row0, pad) in rx_in {
            let rows = pad.len() / stride - 2 * halo;
            let strip = Strip { z: &pad, width: w, rows, halo, res: rx };
            let bands = compute(&strip, &needed, params, &offsets);
            if tx_out.send((row0, bands)).is_err() {
                computed = Err(TerrainError::Worker("the writer stopped early".into()));
                break;
            }
        }
        drop(tx_out);
        let panicked =
            || GeoError::Invalid { path: dem_str.clone(), message: "a terrain worker thread panicked".into() };
        let read = reader.join().unwrap_or_else(|_| Err(panicked()));
        let written = writer.join().unwrap_or_else(|_| Err(panicked()));
        (read, computed, written)
    });
    // The writer's error is the most specific (it names the output); then the reader's; then ours.
    let bands = written?;
    read?;
    computed?;
    let path = staged.commit()?;
    Ok(TerrainStack { path, grid, bands })
}

/// Computes the requested bands (in `params.features` order) for one strip.
fn compute(s: &Strip, needed: &[Feature], params: &TerrainParams, offsets: &[(isize, isize, f64)]) -> Vec<Vec<f32>> {
    let (w, res) = (s.width, s.res);
    let mut bufs: Vec<Option<Vec<f32>>> = vec![None; Feature::ALL.len()];
    for f in needed {
        let out = match f {
            Feature::Slope => map_windows(s, |win| slope::slope_deg(win, res)),
            Feature::Aspect => map_windows(s, |win| aspect::aspect_deg(win, res)),
            Feature::AspectSin => map_windows(s, |win| aspect::aspect_sin_cos(win, res).0),
            Feature::AspectCos => map_windows(s, |win| aspect::aspect_sin_cos(win, res).1),
            Feature::PlanCurvature => map_windows(s, |win| curvature::plan_profile(win, res).0),
            Feature::ProfileCurvature => map_windows(s, |win| curvature::plan_profile(win, res).1),
            Feature::Tri => map_windows(s, roughness::tri_riley),
            Feature::Roughness => map_windows(s, roughness::range),
            Feature::Vrm => vrm_strip(s, params.vrm_window),
            Feature::WindShelter => {
                let mut out = vec![0f32; w * s.rows];
                let q = params.wind_shelter.quantile;
                out.par_chunks_mut(w).enumerate().for_each_init(Vec::new, |scratch, (r, row)| {
                    wind_shelter::shelter_row(s, r as isize, offsets, q, scratch, row)
                });
                out
            }
            Feature::Pra => {
                let get = |f: Feature| bufs[f as usize].as_deref().expect("dependencies are computed first");
                let (sl, vr, ws) = (get(Feature::Slope), get(Feature::Vrm), get(Feature::WindShelter));
                let mut out = vec![0f32; w * s.rows];
                out.par_iter_mut().enumerate().for_each(|(i, o)| *o = pra::pra(sl[i], vr[i], ws[i]));
                out
            }
        };
        bufs[*f as usize] = Some(out);
    }
    params.features.iter().map(|f| bufs[*f as usize].take().unwrap_or_default()).collect()
}

/// Applies a 3x3 operator to every cell of the strip, rows spread over all cores.
fn map_windows(s: &Strip, f: impl Fn(&[f64; 9]) -> f32 + Sync) -> Vec<f32> {
    let mut out = vec![0f32; s.width * s.rows];
    out.par_chunks_mut(s.width).enumerate().for_each(|(r, row)| s.windows(r as isize, 0, row, &f));
    out
}

fn vrm_strip(s: &Strip, k: usize) -> Vec<f32> {
    let m = k / 2;
    let stride = s.width + 2 * m;
    let n_rows = s.rows + 2 * m;
    let mut n = vrm::Normals {
        x: vec![0.0; stride * n_rows],
        y: vec![0.0; stride * n_rows],
        z: vec![0.0; stride * n_rows],
        margin: m,
        stride,
    };
    n.x.par_chunks_mut(stride)
        .zip(n.y.par_chunks_mut(stride))
        .zip(n.z.par_chunks_mut(stride))
        .enumerate()
        .for_each(|(rr, ((x, y), z))| vrm::normals_row(s, rr as isize - m as isize, m, x, y, z));
    let mut out = vec![0f32; s.width * s.rows];
    out.par_chunks_mut(s.width).enumerate().for_each(|(r, row)| vrm::vrm_row(&n, r, k, row));
    out
}

fn write_metadata(
    ds: &mut gdal::Dataset,
    stats: &[BandStats],
    params: &TerrainParams,
    path: &Path,
) -> Result<(), GeoError> {
    let err = |e| GeoError::Gdal { action: "write metadata to", path: path.display().to_string(), source: Box::new(e) };
    ds.set_metadata_item("AVARISK_TERRAIN_PARAMS", &params.describe(), "").map_err(err)?;
    ds.set_metadata_item(
        "AVARISK_EDGE_POLICY",
        "3x3 operators: missing neighbours (outside the raster or nodata) take the centre value, as gdaldem -compute_edges",
        "",
    )
    .map_err(err)?;
    let cells = (ds.raster_size().0 * ds.raster_size().1).max(1) as f64;
    for (i, s) in stats.iter().enumerate() {
        if s.valid == 0 {
            continue;
        }
        let mut band = ds.rasterband(i + 1).map_err(err)?;
        for (k, v) in [
            ("STATISTICS_MINIMUM", s.min),
            ("STATISTICS_MAXIMUM", s.max),
            ("STATISTICS_MEAN", s.mean),
            ("STATISTICS_VALID_PERCENT", 100.0 * s.valid as f64 / cells),
        ] {
            band.set_metadata_item(k, &format!("{v}"), "").map_err(err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::{Bounds, Crs, NODATA};

    /// A rough synthetic DEM with nodata holes, taller than two row blocks.
    fn synthetic(w: usize, h: usize) -> Vec<f32> {
        let mut seed = 12345u64;
        (0..w * h)
            .map(|i| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                if (x - 150.0).hypot(y - 300.0) < 6.0 || (i / w == 256 && i % w < 20) {
                    return NODATA;
                }
                let noise = (seed >> 40) as f64 / (1u64 << 24) as f64;
                (2000.0 + 300.0 * (x / 40.0).sin() * (y / 55.0).cos() + 4.0 * y + 3.0 * noise) as f32
            })
            .collect()
    }

    #[test]
    fn streaming_by_blocks_gives_the_same_result_as_one_pass() {
        let (w, h, res) = (300, 600, 10.0);
        let dir = tempfile::tempdir().unwrap();
        let dem = dir.path().join("dem.tif");
        let grid = Grid::from_bounds(
            Crs::from_epsg(2056).unwrap(),
            Bounds { xmin: 2.6e6, ymin: 1.2e6, xmax: 2.6e6 + 3000.0, ymax: 1.2e6 + 6000.0 },
            res,
        );
        let spec = BandSpec { name: "elevation".into(), unit: "m".into(), description: "test".into() };
        let ds = raster::create_f32(&dem, &grid, &[spec]).unwrap();
        let z = synthetic(w, h);
        raster::write_rows(&ds, 1, 0, w, z.clone()).unwrap();
        drop(ds);

        let params = TerrainParams {
            vrm_window: 5,
            wind_shelter: WindShelterParams {
                radius_m: 50.0,
                direction_deg: 300.0,
                tolerance_deg: 60.0,
                quantile: 0.75,
            },
            ..Default::default()
        };
        let out = derive(&dem, &dir.path().join("f.tif"), &params).unwrap();

        // Reference: the whole raster as a single block.
        let needed = params.needed();
        let halo = needed.iter().map(|f| params.halo(*f, res)).max().unwrap();
        let stride = w + 2 * halo;
        let mut pad = vec![f32::NAN; stride * (h + 2 * halo)];
        for r in 0..h {
            for c in 0..w {
                let v = z[r * w + c];
                pad[(r + halo) * stride + c + halo] = if v == NODATA { f32::NAN } else { v };
            }
        }
        let strip = Strip { z: &pad, width: w, rows: h, halo, res };
        let reference = compute(&strip, &needed, &params, &params.wind_shelter.offsets(res));

        let ds = raster::open(&out.path.display().to_string()).unwrap();
        for (i, f) in params.features.iter().enumerate() {
            let mut got = vec![0f32; w * h];
            raster::read_rows(&ds, i + 1, 0, h, &mut got).unwrap();
            let same = got.iter().zip(&reference[i]).all(|(a, b)| (a.is_nan() && b.is_nan()) || a == b);
            assert!(same, "{f} differs between block-streamed and one-pass computation");
            assert!(got.iter().any(|v| !v.is_nan()), "{f} is empty");
        }
    }
}
