//! The day's rasters in memory, checked against the input contract: probability (+ spread), DEM on the same grid,
//! and the danger classes derived from them.
use gdal::{Dataset, Metadata};

use super::{danger, MapInput, PublishError};
use crate::geo::raster::{open, read_rows};
use crate::geo::Grid;

/// Band descriptions the prediction GeoTIFF carries (predict writes them).
pub const PROBABILITY_BAND: &str = "risk_probability";
pub const SPREAD_BAND: &str = "risk_spread";

/// Rasters of one (site, date), row-major on `grid`, NaN = no value.
#[derive(Debug, Clone)]
pub struct Layers {
    pub grid: Grid,
    /// Release probability, 0..1.
    pub prob: Vec<f32>,
    /// Spread of the probability over MC-dropout passes, when predicted.
    pub spread: Option<Vec<f32>>,
    /// Elevation, metres.
    pub dem: Vec<f32>,
    /// Danger level 1..=5, 0 where `prob` is NaN.
    pub class: Vec<u8>,
}

impl Layers {
    pub fn load(input: &MapInput) -> Result<Layers, PublishError> {
        let ppath = input.prediction.display().to_string();
        let pds = open(&ppath)?;
        let grid = Grid::of_dataset(&pds, &ppath)?;
        if !grid.crs.is_projected_metres() {
            return Err(PublishError::Input {
                path: ppath,
                message: format!("CRS {} is not projected in metres: predictions live on the site grid", grid.crs),
            });
        }
        let bad = |message: String| PublishError::Input { path: ppath.clone(), message };
        let bands = pds.raster_count();
        if !(1..=2).contains(&bands) {
            return Err(bad(format!("{bands} bands; expected `{PROBABILITY_BAND}` and optionally `{SPREAD_BAND}`")));
        }
        for (i, want) in [PROBABILITY_BAND, SPREAD_BAND].iter().enumerate().take(bands) {
            let d = pds.rasterband(i + 1).map_err(PublishError::gdal("read", input.prediction))?.description();
            let d = d.unwrap_or_default();
            if !d.is_empty() && d != *want {
                return Err(bad(format!("band {} is `{d}`; expected `{want}` (the prediction's band order)", i + 1)));
            }
        }
        let prob = read_band(&pds, 1, &grid)?;
        if let Some(v) = prob.iter().find(|v| !v.is_nan() && !(-1e-6..=1.0 + 1e-6).contains(*v)) {
            return Err(bad(format!("risk_probability {v} outside 0..1; is band 1 a probability?")));
        }
        let prob: Vec<f32> = prob.into_iter().map(|v| v.clamp(0.0, 1.0)).collect();
        let spread = if bands == 2 { Some(read_band(&pds, 2, &grid)?) } else { None };

        let dpath = input.dem.display().to_string();
        let dds = open(&dpath)?;
        let dgrid = Grid::of_dataset(&dds, &dpath)?;
        let tol = grid.res_x() * 1e-6;
        let same = dgrid.width == grid.width
            && dgrid.height == grid.height
            && dgrid.transform.iter().zip(grid.transform).all(|(a, b)| (a - b).abs() <= tol);
        if !same {
            return Err(PublishError::Input {
                path: dpath,
                message: format!(
                    "DEM grid {}x{} {:?} differs from the prediction's {}x{} {:?} ({ppath}): both must be on the site grid",
                    dgrid.width, dgrid.height, dgrid.transform, grid.width, grid.height, grid.transform
                ),
            });
        }
        let dem = read_band(&dds, 1, &grid)?;
        let class = prob.iter().map(|p| input.scale.class(*p)).collect();
        Ok(Layers { grid, prob, spread, dem, class })
    }

    /// Area of one cell, km2.
    pub fn cell_km2(&self) -> f64 {
        self.grid.res_x() * self.grid.res_y() / 1e6
    }

    /// Area per danger level (index = level - 1), km2.
    pub fn area_km2_by_level(&self) -> [f64; 5] {
        let mut n = [0usize; 5];
        for c in &self.class {
            if *c != danger::NO_LEVEL {
                n[*c as usize - 1] += 1;
            }
        }
        n.map(|k| k as f64 * self.cell_km2())
    }

    pub fn max_level(&self) -> u8 {
        self.class.iter().copied().max().unwrap_or(0)
    }
}

fn read_band(ds: &Dataset, band: usize, grid: &Grid) -> Result<Vec<f32>, PublishError> {
    let mut v = vec![0f32; grid.cells()];
    read_rows(ds, band, 0, grid.height, &mut v)?;
    Ok(v)
}
