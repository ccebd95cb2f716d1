//! The model's input channels and the site rasters they are read from (held in memory while a dataset is built:
//! about 50 bytes per cell, 300 MB for the Swiss source site).
use std::path::Path;

use gdal::Metadata;

use super::DatasetError;
use crate::geo::{raster, Grid};
use crate::store::Store;

/// Terrain channels read from the feature stack, by band name.
pub const STACK_BANDS: [&str; 8] =
    ["slope", "aspect_sin", "aspect_cos", "plan_curvature", "profile_curvature", "vrm", "wind_shelter", "pra"];
/// Topographic position radii (m).
pub const TPI_RADII_M: [f64; 2] = [1000.0, 4000.0];

/// Input channels, in order: elevation, the stack's terrain bands, TPI at 1 and 4 km. Terrain only: the network
/// maps *where* releases start; *when* is the day-level hazard's job (the weather of a day is one value per window,
/// which a case-control design on places cannot learn from).
pub const CHANNELS: [&str; 11] = [
    "elevation",
    "slope",
    "aspect_sin",
    "aspect_cos",
    "plan_curvature",
    "profile_curvature",
    "vrm",
    "wind_shelter",
    "pra",
    "tpi_1km",
    "tpi_4km",
];

/// The terrain channels of a whole site, row-major, NaN where invalid.
pub struct SiteRasters {
    pub grid: Grid,
    pub bands: Vec<Vec<f32>>,
}

impl SiteRasters {
    /// Reads the DEM and feature stack of `site` from the store and derives the TPI channels.
    pub fn load(store: &Store, site: &str) -> Result<SiteRasters, DatasetError> {
        let dem_path = store.dem(site);
        let stack_path = store.terrain(site);
        for p in [&dem_path, &stack_path] {
            if !p.exists() {
                return Err(DatasetError::Missing {
                    path: p.display().to_string(),
                    hint: format!("run `avarisk run onboard --sites {site}` first"),
                });
            }
        }
        let dem = read_band(&dem_path, None)?;
        let grid = Grid::of_dataset(&raster::open(&dem_path.display().to_string())?, &dem_path.display().to_string())?;
        let mut bands = vec![dem.clone()];
        for name in STACK_BANDS {
            bands.push(read_band(&stack_path, Some(name))?);
        }
        for r in TPI_RADII_M {
            let cells = (r / grid.res_x()).round().max(1.0) as usize;
            bands.push(tpi(&dem, grid.width, grid.height, cells));
        }
        Ok(SiteRasters { grid, bands })
    }

    /// Whether every terrain channel is valid at (col, row).
    pub fn valid(&self, col: usize, row: usize) -> bool {
        let i = row * self.grid.width + col;
        self.bands.iter().all(|b| !b[i].is_nan())
    }
}

fn read_band(path: &Path, name: Option<&str>) -> Result<Vec<f32>, DatasetError> {
    let p = path.display().to_string();
    let ds = raster::open(&p)?;
    let index = match name {
        None => 1,
        Some(name) => {
            let names: Vec<String> = (1..=ds.raster_count())
                .map(|i| ds.rasterband(i).and_then(|b| b.description()).unwrap_or_default())
                .collect();
            names.iter().position(|n| n == name).map(|i| i + 1).ok_or_else(|| DatasetError::Band {
                path: p.clone(),
                band: name.into(),
                bands: names.join(", "),
            })?
        }
    };
    let (w, h) = ds.raster_size();
    let mut out = vec![0f32; w * h];
    raster::read_rows(&ds, index, 0, h, &mut out)?;
    Ok(out)
}

/// Topographic position index: elevation minus the mean valid elevation in the (2r+1)^2 square around each cell
/// (summed-area tables, O(cells)). Positive on ridges and spurs, negative in valleys and gullies. Metres.
pub fn tpi(z: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let stride = w + 1;
    let mut sum = vec![0f64; stride * (h + 1)];
    let mut cnt = vec![0u32; stride * (h + 1)];
    for row in 0..h {
        for col in 0..w {
            let v = z[row * w + col];
            let (s, c) = if v.is_nan() { (0.0, 0) } else { (v as f64, 1) };
            let i = (row + 1) * stride + col + 1;
            sum[i] = s + sum[i - 1] + sum[i - stride] - sum[i - stride - 1];
            cnt[i] = c + cnt[i - 1] + cnt[i - stride] - cnt[i - stride - 1];
        }
    }
    let mut out = vec![f32::NAN; w * h];
    for row in 0..h {
        let (r0, r1) = (row.saturating_sub(r), (row + r + 1).min(h));
        for col in 0..w {
            let v = z[row * w + col];
            if v.is_nan() {
                continue;
            }
            let (c0, c1) = (col.saturating_sub(r), (col + r + 1).min(w));
            let at = |rr: usize, cc: usize| rr * stride + cc;
            let s = sum[at(r1, c1)] - sum[at(r0, c1)] - sum[at(r1, c0)] + sum[at(r0, c0)];
            let n = cnt[at(r1, c1)] + cnt[at(r0, c0)] - cnt[at(r0, c1)] - cnt[at(r1, c0)];
            out[row * w + col] = (v as f64 - s / n as f64) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpi_is_positive_on_a_peak_and_zero_on_a_plane() {
        let (w, h) = (9, 9);
        let plane: Vec<f32> = (0..w * h).map(|i| (i % w) as f32).collect();
        let t = tpi(&plane, w, h, 2);
        assert!(t[4 * w + 4].abs() < 1e-6);
        let mut peak = vec![0f32; w * h];
        peak[4 * w + 4] = 25.0;
        let t = tpi(&peak, w, h, 2);
        assert!((t[4 * w + 4] - 24.0).abs() < 1e-5, "{}", t[4 * w + 4]);
        assert!(t[0] <= 0.0);
    }
}
