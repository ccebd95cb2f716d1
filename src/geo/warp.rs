//! Warping and mosaicking rasters onto a [`Grid`] with GDAL's warper (`GDALWarp`, the engine behind `gdalwarp`):
//! chunked, so memory stays bounded whatever the size of the sources or the grid.
use std::ffi::CString;
use std::path::Path;
use std::str::FromStr;

use gdal::cpl::CslStringList;
use gdal::Dataset;

use super::{GeoError, Grid, NODATA};

/// Resampling used when warping. Elevation and other continuous fields use an interpolating kernel (bilinear by
/// default); categorical layers must use `Nearest` so no class is invented between two others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resampling {
    Nearest,
    Bilinear,
    Cubic,
    CubicSpline,
    Lanczos,
    Average,
}

impl Resampling {
    /// The name `gdalwarp -r` uses, also recorded in the output's metadata.
    pub fn gdal_name(self) -> &'static str {
        match self {
            Resampling::Nearest => "near",
            Resampling::Bilinear => "bilinear",
            Resampling::Cubic => "cubic",
            Resampling::CubicSpline => "cubicspline",
            Resampling::Lanczos => "lanczos",
            Resampling::Average => "average",
        }
    }
}

impl FromStr for Resampling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "nearest" | "near" => Resampling::Nearest,
            "bilinear" => Resampling::Bilinear,
            "cubic" => Resampling::Cubic,
            "cubicspline" => Resampling::CubicSpline,
            "lanczos" => Resampling::Lanczos,
            "average" => Resampling::Average,
            other => {
                return Err(format!(
                    "unknown resampling `{other}`: use one of nearest, bilinear, cubic, cubicspline, lanczos, average"
                ))
            }
        })
    }
}

/// Warps `sources` (mosaicked in order; later ones fill the gaps of earlier ones) onto `grid` as a single-band
/// Float32 GeoTIFF at `dest`, with nodata [`NODATA`] wherever no source has a valid value.
pub fn warp_to_grid(sources: &[&Dataset], grid: &Grid, resampling: Resampling, dest: &Path) -> Result<(), GeoError> {
    let dest_str = dest.display().to_string();
    let err = |e| GeoError::Gdal { action: "warp onto the site grid", path: dest_str.clone(), source: Box::new(e) };
    let b = grid.bounds();
    let mut args = CslStringList::new();
    let list: Vec<String> = [
        "-of",
        "GTiff",
        "-ot",
        "Float32",
        "-t_srs",
        &grid.crs.wkt,
        "-te",
        &b.xmin.to_string(),
        &b.ymin.to_string(),
        &b.xmax.to_string(),
        &b.ymax.to_string(),
        "-ts",
        &grid.width.to_string(),
        &grid.height.to_string(),
        "-r",
        resampling.gdal_name(),
        "-dstnodata",
        &NODATA.to_string(),
        "-multi",
        "-wo",
        "NUM_THREADS=ALL_CPUS",
        "-wm",
        "256",
        "-co",
        "TILED=YES",
        "-co",
        "BLOCKXSIZE=256",
        "-co",
        "BLOCKYSIZE=256",
        "-co",
        "COMPRESS=ZSTD",
        "-co",
        "PREDICTOR=3",
        "-co",
        "BIGTIFF=IF_SAFER",
        "-co",
        "NUM_THREADS=ALL_CPUS",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for a in &list {
        args.add_string(a).map_err(err)?;
    }
    let c_dest = CString::new(dest_str.clone())
        .map_err(|_| GeoError::Invalid { path: dest_str.clone(), message: "path contains NUL".into() })?;
    let mut handles: Vec<gdal_sys::GDALDatasetH> = sources.iter().map(|d| d.c_dataset()).collect();
    // SAFETY: the option list and dataset handles outlive the calls; GDALWarp returns a new handle we close.
    unsafe {
        let opts = gdal_sys::GDALWarpAppOptionsNew(args.as_ptr(), std::ptr::null_mut());
        if opts.is_null() {
            return Err(GeoError::Invalid { path: dest_str, message: "GDAL rejected the warp options".into() });
        }
        let mut usage_error = 0;
        let out = gdal_sys::GDALWarp(
            c_dest.as_ptr(),
            std::ptr::null_mut(),
            handles.len() as i32,
            handles.as_mut_ptr(),
            opts,
            &mut usage_error,
        );
        gdal_sys::GDALWarpAppOptionsFree(opts);
        if out.is_null() {
            let msg = last_gdal_error();
            return Err(GeoError::Invalid { path: dest_str, message: format!("GDAL warp failed: {msg}") });
        }
        gdal_sys::GDALClose(out);
    }
    Ok(())
}

fn last_gdal_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a thread-local, NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()).to_string_lossy().into_owned() }
}
