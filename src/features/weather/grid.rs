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
        // Row-major blocks, channel-major within a row: each row is computed by one task.
        let nc = Channel::ALL.len();
        let mut block = vec![f32::NAN; rows * nc * w];
        block.par_chunks_mut(nc * w).enumerate().for_each(|(r, out)| {
            let mut weights = vec![0f64; points.len()];
            for c in 0..w {
                let elev = z[r * w + c];
                if elev.is_nan() {
                    continue;
                }
                let (x, y) = grid.cell_centre(c, row0 + r);
                for (wt, pt) in weights.iter_mut().zip(&points) {
                    *wt = (pt.x - x).hypot(pt.y - y).max(1.0).powf(-params.idw_power);
                }
                for (k, ch) in Channel::ALL.iter().enumerate() {
                    out[k * w + c] = idw(&points, &weights, k, *ch, elev as f64, params).map_or(f32::NAN, |v| v as f32);
                }
            }
        });
        for k in 0..nc {
            let band: Vec<f32> =
                (0..rows).flat_map(|r| block[r * nc * w + k * w..r * nc * w + (k + 1) * w].iter().copied()).collect();
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

/// The value of channel `c` (index `k`) at a cell of elevation `elev`: each point's value carried to `elev`, then
/// weighted by the cell's inverse-distance `weights` (one per point).
fn idw(points: &[Point], weights: &[f64], k: usize, c: Channel, elev: f64, p: &WeatherFeatureParams) -> Option<f64> {
    let (mut sum, mut wsum) = (0.0, 0.0);
    for (pt, w) in points.iter().zip(weights) {
        let Some(v) = pt.values[k] else { continue };
        let dz = elev - pt.elevation_m;
        let v = match c.downscale() {
            Downscale::Temperature => v + p.lapse_rate_c_per_km * dz / 1000.0,
            Downscale::Snowfall => v * (1.0 + p.snowfall_gradient_per_100m * dz / 100.0).clamp(0.0, 3.0),
            Downscale::None => v,
        };
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
        let t = idw(&one, &[1.0], 0, Channel::TMean, 2000.0, &p).unwrap();
        assert!((t + 6.5).abs() < 1e-9, "{t}");
        let s = idw(&[pt(0.0, 10.0, 1000.0)], &[1.0], 0, Channel::NewSnow72h, 1500.0, &p).unwrap();
        assert!((s - 12.5).abs() < 1e-9, "{s}");
        assert_eq!(idw(&[pt(0.0, 10.0, 1000.0)], &[1.0], 0, Channel::WindSpeed, 3000.0, &p), Some(10.0));
    }

    #[test]
    fn nearer_points_weigh_more() {
        let p = WeatherFeatureParams::default();
        let two = [pt(0.0, 0.0, 0.0), pt(1000.0, 10.0, 0.0)];
        let w: Vec<f64> = [250.0f64, 750.0].iter().map(|d| d.powf(-p.idw_power)).collect(); // 9:1
        let v = idw(&two, &w, 0, Channel::WindSpeed, 0.0, &p).unwrap();
        assert!((v - 1.0).abs() < 1e-9, "{v}");
        let none = [Point { x: 0.0, y: 0.0, elevation_m: 0.0, values: vec![None] }];
        assert_eq!(idw(&none, &[1.0], 0, Channel::WindSpeed, 0.0, &p), None);
    }
}
