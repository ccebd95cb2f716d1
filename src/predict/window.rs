//! Reading a window of a site's inputs for the network: each bundle feature's source (elevation, TPI computed on the
//! window with its halo, a terrain band, a band of the day's weather raster, or the training mean), read with the
//! margin the receptive field needs and padded at the grid's edges.
use std::path::Path;

use gdal::{Dataset, Metadata};

use super::PredictError;
use crate::dataset::channels::{tpi, TPI_RADII_M};
use crate::geo::raster;
use crate::geo::{GeoError, Grid};
use crate::model::bundle::BundleMeta;

/// The weather raster band that gives a bundle's weather feature: training names carry units (`t_mean_c`), the
/// daily weather raster's bands do not (`t_mean`). `None`: the daily rasters have no such channel.
pub fn weather_band(feature: &str) -> Option<&'static str> {
    use crate::features::weather::Channel;
    let direct = Channel::ALL.iter().find(|c| c.name() == feature).map(|c| c.name());
    direct.or(match feature {
        "t_mean_c" => Some(Channel::TMean.name()),
        "t_max_c" => Some(Channel::TMax.name()),
        "wind_speed_ms" => Some(Channel::WindSpeed.name()),
        "new_snow_24h_cm" => Some(Channel::NewSnow24h.name()),
        "new_snow_72h_cm" => Some(Channel::NewSnow72h.name()),
        _ => None,
    })
}

/// Where each bundle feature comes from in a window.
#[derive(Debug, Clone)]
pub(super) enum Source {
    Elevation,
    /// TPI with this radius in cells.
    Tpi(usize),
    /// A band (1-based) of the terrain stack.
    Terrain(usize),
    /// A band (1-based) of the day's weather raster.
    Weather(usize),
    /// Not available: the training mean.
    Mean,
}

pub(super) fn open_on_grid(path: &Path, grid: &Grid) -> Result<Dataset, PredictError> {
    let p = path.display().to_string();
    let ds = raster::open(&p)?;
    let g = Grid::of_dataset(&ds, &p)?;
    let same = g.width == grid.width
        && g.height == grid.height
        && g.transform.iter().zip(grid.transform.iter()).all(|(a, b)| (a - b).abs() <= 1e-6 * a.abs().max(1.0));
    if !same {
        return Err(PredictError::GridMismatch {
            path: p,
            found: format!("{}x{}", g.width, g.height),
            expected: format!("{}x{}", grid.width, grid.height),
        });
    }
    Ok(ds)
}

pub(super) fn band_names(ds: &Dataset) -> Vec<String> {
    (1..=ds.raster_count()).map(|i| ds.rasterband(i).and_then(|b| b.description()).unwrap_or_default()).collect()
}

/// Where each of the bundle's features comes from, and which are filled with the training mean.
pub(super) fn sources(
    meta: &BundleMeta,
    grid: &Grid,
    terrain: &Dataset,
    weather: Option<&Dataset>,
    terrain_path: &Path,
) -> Result<(Vec<Source>, Vec<String>), PredictError> {
    let terrain_bands = band_names(terrain);
    let weather_bands = weather.map(band_names).unwrap_or_default();
    let unavailable: Vec<String> = weather
        .and_then(|w| w.metadata_item("AVARISK_UNAVAILABLE", ""))
        .map(|s| s.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut filled = Vec::new();
    for f in &meta.features {
        let src = if f == "elevation" {
            Source::Elevation
        } else if let Some(r) = f.strip_prefix("tpi_").and_then(|r| r.strip_suffix("km")) {
            let metres = r.parse::<f64>().map(|km| km * 1000.0).ok().filter(|m| TPI_RADII_M.contains(m));
            match metres {
                Some(m) => Source::Tpi((m / grid.res_x()).round().max(1.0) as usize),
                None => Source::Mean,
            }
        } else if let Some(i) = terrain_bands.iter().position(|b| b == f) {
            Source::Terrain(i + 1)
        } else if let Some(band) = weather_band(f) {
            match weather_bands.iter().position(|b| b == band) {
                Some(_) if unavailable.iter().any(|u| u == band) => Source::Mean,
                Some(i) => Source::Weather(i + 1),
                None => Source::Mean,
            }
        } else if crate::dataset::CHANNELS.contains(&f.as_str()) {
            return Err(PredictError::Band {
                path: terrain_path.display().to_string(),
                band: f.clone(),
                bands: terrain_bands.join(", "),
            });
        } else {
            Source::Mean
        };
        if matches!(src, Source::Mean) {
            filled.push(f.clone());
        }
        out.push(src);
    }
    Ok((out, filled))
}

/// Cells of real terrain read around each tile: the bundle's training context, and at least the network's
/// receptive-field radius, so that no cell of a tile sees the tile's edge; a multiple of 4 (see [`origins`]).
pub(super) fn halo(meta: &BundleMeta) -> usize {
    let radius = crate::model::unet::receptive_radius(&meta.unet);
    (meta.context.max(0) as usize).max(radius).div_ceil(4) * 4
}

/// Reads one window of every input channel, normalised, NaN set to 0 (the training mean), plus its validity.
pub(super) struct WindowReader<'a> {
    pub(super) dem: &'a Dataset,
    pub(super) terrain: &'a Dataset,
    pub(super) weather: Option<&'a Dataset>,
    pub(super) sources: &'a [Source],
    pub(super) meta: &'a BundleMeta,
    /// Band of the terrain stack holding the slope (any always-present terrain band would do): the cells of the
    /// window itself, for their validity.
    pub(super) slope_band: usize,
}

impl WindowReader<'_> {
    /// Channels `[C, h + 2 halo, w + 2 halo]` (row-major) for the window at (`col`, `row`) of `w` x `h` cells widened
    /// by `halo` cells of context on every side (0, the training mean, outside the grid), and per cell of the window
    /// itself its validity: 1, NaN where any terrain channel is invalid.
    pub(super) fn read(
        &self,
        grid: &Grid,
        (col, row): (usize, usize),
        (w, h): (usize, usize),
        halo: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), GeoError> {
        let (x0, y0) = (col as i64 - halo as i64, row as i64 - halo as i64);
        let (ww, hh) = (w + 2 * halo, h + 2 * halo);
        let plane = ww * hh;
        let mut x = vec![0f32; self.sources.len() * plane];
        let mut valid = vec![true; plane];
        let mut gate = read_padded(self.terrain, self.slope_band, grid, (col as i64, row as i64), (w, h))?;
        gate.iter_mut().filter(|g| g.is_finite()).for_each(|g| *g = 1.0);
        let dem = read_padded(self.dem, 1, grid, (x0, y0), (ww, hh))?;
        for (c, src) in self.sources.iter().enumerate() {
            let values = match src {
                Source::Elevation => dem.clone(),
                Source::Terrain(b) => read_padded(self.terrain, *b, grid, (x0, y0), (ww, hh))?,
                Source::Weather(b) => read_padded(self.weather.expect("weather source"), *b, grid, (x0, y0), (ww, hh))?,
                Source::Tpi(r) => {
                    // The window widened by r on every side (clipped at the grid) gives whole-grid TPI values.
                    let r = *r as i64;
                    let (c0, r0) = ((x0 - r).max(0), (y0 - r).max(0));
                    let c1 = (x0 + ww as i64 + r).min(grid.width as i64);
                    let r1 = (y0 + hh as i64 + r).min(grid.height as i64);
                    let (bw, bh) = ((c1 - c0) as usize, (r1 - r0) as usize);
                    let big = read_window(self.dem, 1, c0 as usize, r0 as usize, bw, bh)?;
                    let t = tpi(&big, bw, bh, r as usize);
                    let mut v = vec![f32::NAN; plane];
                    for i in 0..hh {
                        let gy = y0 + i as i64;
                        if gy < r0 || gy >= r1 {
                            continue;
                        }
                        for j in 0..ww {
                            let gx = x0 + j as i64;
                            if gx >= c0 && gx < c1 {
                                v[i * ww + j] = t[(gy - r0) as usize * bw + (gx - c0) as usize];
                            }
                        }
                    }
                    v
                }
                Source::Mean => vec![f32::NAN; plane],
            };
            let terrain = !matches!(src, Source::Weather(_) | Source::Mean);
            let (m, s) = (self.meta.norm_mean[c], self.meta.norm_std[c]);
            let dst = &mut x[c * plane..(c + 1) * plane];
            for (i, v) in values.iter().enumerate() {
                if v.is_nan() {
                    if terrain {
                        valid[i] = false;
                    }
                } else {
                    dst[i] = (v - m) / s;
                }
            }
        }
        for i in 0..h {
            for j in 0..w {
                if !valid[(i + halo) * ww + j + halo] {
                    gate[i * w + j] = f32::NAN;
                }
            }
        }
        Ok((x, gate))
    }
}

/// Reads a window of band `band`, nodata as NaN.
pub(super) fn read_window(
    ds: &Dataset,
    band: usize,
    col: usize,
    row: usize,
    w: usize,
    h: usize,
) -> Result<Vec<f32>, GeoError> {
    let path = ds.description().unwrap_or_default();
    let err = |e| GeoError::Gdal { action: "read", path: path.clone(), source: Box::new(e) };
    let b = ds.rasterband(band).map_err(err)?;
    let mut out = vec![0f32; w * h];
    b.read_into_slice::<f32>((col as isize, row as isize), (w, h), (w, h), &mut out, None).map_err(err)?;
    if let Some(nd) = b.no_data_value() {
        let nd = nd as f32;
        out.iter_mut().filter(|v| **v == nd).for_each(|v| *v = f32::NAN);
    }
    Ok(out)
}

/// Reads band `band` over the `w` x `h` window at (`x0`, `y0`), which may reach outside the grid: NaN there and
/// where nodata.
pub(super) fn read_padded(
    ds: &Dataset,
    band: usize,
    grid: &Grid,
    (x0, y0): (i64, i64),
    (w, h): (usize, usize),
) -> Result<Vec<f32>, GeoError> {
    let (c0, r0) = (x0.max(0), y0.max(0));
    let (c1, r1) = ((x0 + w as i64).min(grid.width as i64), (y0 + h as i64).min(grid.height as i64));
    if (c0, r0, c1, r1) == (x0, y0, x0 + w as i64, y0 + h as i64) {
        return read_window(ds, band, x0 as usize, y0 as usize, w, h);
    }
    let mut out = vec![f32::NAN; w * h];
    if c1 <= c0 || r1 <= r0 {
        return Ok(out);
    }
    let (iw, ih) = ((c1 - c0) as usize, (r1 - r0) as usize);
    let inner = read_window(ds, band, c0 as usize, r0 as usize, iw, ih)?;
    for i in 0..ih {
        let to = (r0 - y0) as usize + i;
        let from_col = (c0 - x0) as usize;
        out[to * w + from_col..to * w + from_col + iw].copy_from_slice(&inner[i * iw..(i + 1) * iw]);
    }
    Ok(out)
}
