//! Geodesy and raster plumbing over GDAL: CRS, the site [`Grid`], GeoTIFF reading/writing, warping.
//!
//! Conventions used everywhere in avarisk:
//! - Grids are north-up, square cells, in a projected CRS with metre units.
//! - Raster rows run north to south, columns west to east; (0, 0) is the north-west cell.
//! - Float32 rasters use [`NODATA`] on disk and `NaN` in memory for "no valid value".
pub mod crs;
pub mod grid;
pub mod raster;
pub mod warp;

pub use crs::Crs;
pub use grid::{Bounds, Grid};
pub use warp::Resampling;

/// On-disk nodata value of every Float32 raster avarisk writes (the value `gdaldem` uses too).
pub const NODATA: f32 = -9999.0;

/// Errors from GDAL-backed geo operations; each names the file or CRS involved.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot open raster {path}: {source}")]
    Open { path: String, source: Box<gdal::errors::GdalError> },
    #[error("{path} has no coordinate reference system: add a .prj/.aux.xml next to it or set `crs = \"EPSG:<code>\"` for it in site.toml")]
    NoCrs { path: String },
    #[error("unknown CRS `{crs}`: {message}")]
    Crs { crs: String, message: String },
    #[error("cannot {action} {path}: {source}")]
    Gdal { action: &'static str, path: String, source: Box<gdal::errors::GdalError> },
    #[error("cannot transform {what} from {from} to {to}: {source}")]
    Transform { what: String, from: String, to: String, source: Box<gdal::errors::GdalError> },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Process-wide GDAL settings: a bounded block cache (256 MB unless `GDAL_CACHEMAX` is set), so memory stays flat
/// with raster size.
pub fn init() {
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        let _ = gdal::config::set_config_option("GDAL_CACHEMAX", "256");
    }
}
