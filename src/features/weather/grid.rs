//! Spreading per-point daily features onto the site grid: each point's value is first carried to the cell's
//! elevation (temperature: lapse rate; new snow: relative gradient per 100 m; others unchanged), then the points are
//! combined by inverse-distance weighting (weights 1 / max(d, 1 m)^p). Streamed over the DEM in row blocks; cells
//! where the DEM is nodata are nodata. Output: one Float32 band per [`Channel`], named, with units.
use std::path::{Path, PathBuf};

use gdal::Metadata;
use rayon::prelude::*;

use super::daily::DailyFeatures;
use super::{Channel, Downscale, WeatherFeatureError, WeatherFeatureParams};
use crate::geo::raster::{self, BandSpec, Staged, TILE};
use crate::geo::{Crs, GeoError, Grid};

struct Point {
    x: f64,
    y: f64,
    elevation_m: f64,
    values: Vec<Option<f64>>,
}

/// Writes the day's weather channels on the grid of the DEM at `dem` to `dest` (atomically).
pub fn write_channels(
    dem: &Path,
    features: &DailyFeatures,
    params: &WeatherFeatureParams,
    dest: &Path,
) -> Result<PathBuf, WeatherFeatureError> {
    let dem_str = dem.display().to_string();
    let dem_ds = raster::open(&dem_str)?;
    let grid = Grid::of_dataset(&dem_ds, &dem_str)?;
    let mut xs: Vec<f64> = features.points.iter().map(|p| p.longitude).collect();
    let mut ys: Vec<f64> = features.points.iter().map(|p| p.latitude).collect();
    Crs::wgs84().transform_points(&grid.crs, &mut xs, &mut ys)?;
    let points: Vec<Point> = features
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| Point {
            x: xs[i],
            y: ys[i],
            elevation_m: p.elevation_m,
            values: Channel::ALL.iter().map(|c| p.values.get(c).copied().flatten()).collect(),
        })
        .collect();

    let specs: Vec<BandSpec> = Channel::ALL
        .iter()
        .map(|c| BandSpec { name: c.name().into(), unit: c.unit().into(), description: c.description().into() })
        .collect();
    let staged = Staged::new(dest)?;
    let mut out = raster::create_f32(staged.path(), &grid, &specs)?;
    let err = |e| GeoError::Gdal { action: "write metadata to", path: dest.display().to_string(), source: Box::new(e) };
    out.set_metadata_item("AVARISK_DATE", &features.date.to_string(), "").map_err(err)?;
    let unavailable: Vec<&str> = features.unavailable.iter().map(|c| c.name()).collect();
    out.set_metadata_item("AVARISK_UNAVAILABLE", &unavailable.join(","), "").map_err(err)?;
    out.set_metadata_item(
        "AVARISK_DOWNSCALING",
        &format!(
            "lapse_rate_c_per_km={} snowfall_gradient_per_100m={} idw_power={} points={}",
            params.lapse_rate_c_per_km,
            params.snowfall_gradient_per_100m,
            params.idw_power,
            features.points.iter().map(|p| p.point_id.as_str()).collect::<Vec<_>>().join(",")
        ),
        "",
    )
    .map_err(err)?;

    let w = grid.width;
    let mut z = vec![0f32; w * TILE];
    for row0 in (0..grid.height).step_by(TILE) {
        let rows = TILE.min(grid.height - row0);
        raster::read_rows(&dem_ds, 1, row0, rows, &mut z[..w * rows])?;
        let mut bands: Vec<Vec<f32>> = vec![vec![f32::NAN; w * rows]; Channel::ALL.len()];
        let mut cells: Vec<Vec<f32>> = vec![vec![f32::NAN; Channel::ALL.len()]; w * rows];
        cells.par_iter_mut().enumerate().for_each(|(i, cell)| {
            let elev = z[i] as f64;
            if z[i].is_nan() {
                return;
            }
            let (x, y) = grid.cell_centre(i % w, row0 + i / w);
            for (k, c) in Channel::ALL.iter().enumerate() {
                cell[k] = idw(&points, k, *c, x, y, elev, params).map_or(f32::NAN, |v| v as f32);
            }
        });
        for (i, cell) in cells.iter().enumerate() {
            for (k, v) in cell.iter().enumerate() {
                bands[k][i] = *v;
            }
        }
        for (k, band) in bands.into_iter().enumerate() {
            raster::write_rows(&out, k + 1, row0, w, band)?;
        }
    }
    out.flush_cache().map_err(|e| GeoError::Gdal {
        action: "flush",
        path: dest.display().to_string(),
        source: Box::new(e),
    })?;
    drop(out);
    Ok(staged.commit()?)
}

/// The value of channel `c` (index `k`) at (x, y, elev): points carried to `elev`, then inverse-distance weighted.
fn idw(points: &[Point], k: usize, c: Channel, x: f64, y: f64, elev: f64, p: &WeatherFeatureParams) -> Option<f64> {
    let (mut sum, mut wsum) = (0.0, 0.0);
    for pt in points {
        let Some(v) = pt.values[k] else { continue };
        let dz = elev - pt.elevation_m;
        let v = match c.downscale() {
            Downscale::Temperature => v + p.lapse_rate_c_per_km * dz / 1000.0,
            Downscale::Snowfall => v * (1.0 + p.snowfall_gradient_per_100m * dz / 100.0).clamp(0.0, 3.0),
            Downscale::None => v,
        };
        let d = (pt.x - x).hypot(pt.y - y).max(1.0);
        let w = d.powf(-p.idw_power);
        sum += w * v;
        wsum += w;
    }
    (wsum > 0.0).then(|| sum / wsum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, v: f64, elev: f64) -> Point {
        Point { x, y: 0.0, elevation_m: elev, values: vec![Some(v)] }
    }

    #[test]
    fn lapse_rate_and_snowfall_gradient_apply_before_weighting() {
        let p = WeatherFeatureParams::default();
        let one = [pt(0.0, 0.0, 1000.0)];
        let t = idw(&one, 0, Channel::TMean, 0.0, 0.0, 2000.0, &p).unwrap();
        assert!((t + 6.5).abs() < 1e-9, "{t}");
        let s = idw(&[pt(0.0, 10.0, 1000.0)], 0, Channel::NewSnow72h, 0.0, 0.0, 1500.0, &p).unwrap();
        assert!((s - 12.5).abs() < 1e-9, "{s}");
        assert_eq!(idw(&[pt(0.0, 10.0, 1000.0)], 0, Channel::WindSpeed, 0.0, 0.0, 3000.0, &p), Some(10.0));
    }

    #[test]
    fn nearer_points_weigh_more() {
        let p = WeatherFeatureParams::default();
        let two = [pt(0.0, 0.0, 0.0), pt(1000.0, 10.0, 0.0)];
        let v = idw(&two, 0, Channel::WindSpeed, 250.0, 0.0, 0.0, &p).unwrap();
        assert!((v - 1.0).abs() < 1e-9, "{v}"); // weights 1/250^2 and 1/750^2: 9:1
        let none = [Point { x: 0.0, y: 0.0, elevation_m: 0.0, values: vec![None] }];
        assert_eq!(idw(&none, 0, Channel::WindSpeed, 0.0, 0.0, 0.0, &p), None);
    }
}
