//! DEM ingest: warp and mosaic a site's elevation sources onto its grid, with the validity mask carried as nodata.
//!
//! Output: a single-band Float32 GeoTIFF (metres above sea level, nodata [`crate::geo::NODATA`] where no source has a
//! valid value: outside every source, SRTM voids, source nodata). The resampling used is recorded in the file's
//! metadata (`AVARISK_RESAMPLING`) together with the sources (`AVARISK_SOURCES`). Nothing is written unless the
//! result is usable: a source without CRS, one that misses the site, or an all-nodata result is an error naming files.
use std::path::{Path, PathBuf};

use gdal::{Dataset, DatasetOptions, GdalOpenFlags, Metadata};

pub use crate::config::params::DemParams;
use crate::config::Site;
use crate::geo::raster::{self, Staged, TILE};
use crate::geo::{Bounds, Crs, GeoError, Grid};

#[derive(Debug, thiserror::Error)]
pub enum DemError {
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error("DEM source {path} does not cover site `{site}`: the file spans {file_bounds} and the site {site_bounds} (xmin ymin xmax ymax in {crs}); check the path, the file's CRS and the site bounds")]
    NoCoverage { site: String, path: String, file_bounds: String, site_bounds: String, crs: String },
    #[error("the DEM of site `{site}` has no valid cell after warping {paths:?} onto the site grid: every source is nodata over the site")]
    AllNodata { site: String, paths: Vec<String> },
}

/// What the DEM stage produced.
#[derive(Debug, Clone)]
pub struct SiteDem {
    pub path: PathBuf,
    pub grid: Grid,
    pub valid_cells: usize,
    pub min_m: f32,
    pub max_m: f32,
}

/// Warps the DEM sources of `site` onto its grid and writes the result to `dest` (atomically).
pub fn ingest(site: &Site, params: &DemParams, dest: &Path) -> Result<SiteDem, DemError> {
    let site_bounds = site.grid.bounds();
    // A CRS-assigning VRT reads through its source dataset, so the source must outlive it: tuple fields drop in
    // order, the VRT (field 1) before its source (field 2).
    let mut opened = Vec::new();
    for src in &site.dem {
        let ds = raster::open(&src.path)?;
        let vrt = src.crs.as_ref().map(|crs| with_crs(&ds, crs, &src.path)).transpose()?;
        opened.push((src, vrt, ds));
    }
    for (src, vrt, ds) in &opened {
        let grid = Grid::of_dataset(vrt.as_ref().unwrap_or(ds), &src.path)?;
        let in_site_crs = grid.crs.transform_bounds(grid.bounds().as_array(), &site.grid.crs)?;
        if !Bounds::from_array(in_site_crs).intersects(&site_bounds) {
            return Err(DemError::NoCoverage {
                site: site.id.clone(),
                path: src.path.clone(),
                file_bounds: format_bounds(in_site_crs),
                site_bounds: format_bounds(site_bounds.as_array()),
                crs: site.grid.crs.to_string(),
            });
        }
    }

    let staged = Staged::new(dest)?;
    let refs: Vec<&Dataset> = opened.iter().map(|(_, vrt, ds)| vrt.as_ref().unwrap_or(ds)).collect();
    crate::geo::warp::warp_to_grid(&refs, &site.grid, params.resampling, staged.path())?;

    let (valid_cells, min_m, max_m) = scan(staged.path())?;
    if valid_cells == 0 {
        return Err(DemError::AllNodata {
            site: site.id.clone(),
            paths: site.dem.iter().map(|d| d.path.clone()).collect(),
        });
    }
    describe(staged.path(), params, site)?;
    let path = staged.commit()?;
    Ok(SiteDem { path, grid: site.grid.clone(), valid_cells, min_m, max_m })
}

fn format_bounds(b: [f64; 4]) -> String {
    format!("{:.0} {:.0} {:.0} {:.0}", b[0], b[1], b[2], b[3])
}

/// An in-memory VRT of `ds` that carries `crs` (for files without one, or with a wrong one).
fn with_crs(ds: &Dataset, crs: &Crs, path: &str) -> Result<Dataset, GeoError> {
    let err = |e| GeoError::Gdal { action: "assign the configured CRS to", path: path.to_owned(), source: Box::new(e) };
    let vrt = gdal::DriverManager::get_driver_by_name("VRT").map_err(err)?;
    let mut copy = ds.create_copy(&vrt, "", &Default::default()).map_err(err)?;
    copy.set_spatial_ref(&crs.spatial_ref()?).map_err(err)?;
    Ok(copy)
}

/// Valid cell count and elevation range, read in row blocks.
fn scan(path: &Path) -> Result<(usize, f32, f32), GeoError> {
    let p = path.display().to_string();
    let ds = raster::open(&p)?;
    let (w, h) = ds.raster_size();
    let (mut n, mut lo, mut hi) = (0usize, f32::INFINITY, f32::NEG_INFINITY);
    let mut buf = vec![0f32; w * TILE];
    for row0 in (0..h).step_by(TILE) {
        let rows = TILE.min(h - row0);
        raster::read_rows(&ds, 1, row0, rows, &mut buf[..w * rows])?;
        for v in buf[..w * rows].iter().filter(|v| !v.is_nan()) {
            n += 1;
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
    }
    Ok((n, lo, hi))
}

fn describe(path: &Path, params: &DemParams, site: &Site) -> Result<(), GeoError> {
    let p = path.display().to_string();
    let err = |e| GeoError::Gdal { action: "write metadata to", path: p.clone(), source: Box::new(e) };
    let opts = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_UPDATE | GdalOpenFlags::GDAL_OF_RASTER,
        ..Default::default()
    };
    let mut ds = Dataset::open_ex(path, opts).map_err(err)?;
    ds.set_metadata_item("AVARISK_RESAMPLING", params.resampling.gdal_name(), "").map_err(err)?;
    let sources: Vec<&str> = site.dem.iter().map(|d| d.path.as_str()).collect();
    ds.set_metadata_item("AVARISK_SOURCES", &sources.join(";"), "").map_err(err)?;
    ds.set_metadata_item("AVARISK_SITE", &site.id, "").map_err(err)?;
    let mut band = ds.rasterband(1).map_err(err)?;
    band.set_description("elevation").map_err(err)?;
    // SAFETY: valid band handle; GDAL copies the string.
    unsafe { gdal_sys::GDALSetRasterUnitType(band.c_rasterband(), c"m".as_ptr()) };
    Ok(())
}
