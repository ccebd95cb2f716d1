//! Integration tests, one binary (shared helpers below). They run on the bundled real data in `sites/` and on small
//! rasters generated here; `gdaldem` (Debian's gdal-bin, installed by `make setup`) is the reference for terrain.
mod bucket;
mod cli;
mod config;
mod daily_hazard;
mod dataset;
mod dem;
mod http_server;
mod map_skill;
mod observations;
mod predict;
mod publish;
mod runner;
mod serve;
mod stations;
mod terrain;
mod train;
mod weather;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gdal::raster::RasterCreationOptions;
use gdal::DriverManager;

/// The repository root (holds `sites/` and `pipelines/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Absolute GDAL path of a bundled SRTM tile, e.g. `srtm("N47E010")`.
pub fn srtm(tile: &str) -> String {
    format!("/vsizip/{}/sites/_shared/srtm3/{tile}.SRTMGL3.hgt.zip/{tile}.hgt", repo().display())
}

/// A scratch project with the repository's site-independent pipelines and the given `(id, site.toml)` sites.
pub fn temp_project(sites: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    for entry in std::fs::read_dir(repo().join("pipelines")).unwrap() {
        let p = entry.unwrap().path();
        // pretrain.toml names the bundled source site, which scratch projects do not have.
        if p.file_name().unwrap() != "pretrain.toml" {
            std::fs::copy(&p, dir.path().join("pipelines").join(p.file_name().unwrap())).unwrap();
        }
    }
    for (id, toml) in sites {
        let d = dir.path().join("sites").join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("site.toml"), toml).unwrap();
    }
    dir
}

/// Runs the avarisk binary with `args` in `project`.
pub fn avarisk(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_avarisk"))
        .args(args)
        .env("AVARISK_PROJECT", project)
        .env("AVARISK_LOG", "warn")
        .output()
        .expect("the avarisk binary runs")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Writes a single-band Float32 GeoTIFF with `data` (row-major, `w` x `h`) at `path`, origin (x0, y0), cell `res`.
pub fn write_tif(
    path: &Path,
    epsg: Option<u32>,
    (x0, y0): (f64, f64),
    res: f64,
    (w, h): (usize, usize),
    data: Vec<f32>,
    nodata: Option<f64>,
) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds =
        driver.create_with_band_type_with_options::<f32, _>(path, w, h, 1, &RasterCreationOptions::default()).unwrap();
    ds.set_geo_transform(&[x0, res, 0.0, y0, 0.0, -res]).unwrap();
    if let Some(code) = epsg {
        ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(code).unwrap()).unwrap();
    }
    let mut band = ds.rasterband(1).unwrap();
    band.set_no_data_value(nodata).unwrap();
    let mut buf = gdal::raster::Buffer::new((w, h), data);
    band.write((0, 0), (w, h), &mut buf).unwrap();
}

/// Reads band `b` of a raster fully as f32 with its nodata value.
pub fn read_band(path: &Path, b: usize) -> (Vec<f32>, usize, usize, Option<f64>) {
    let ds = gdal::Dataset::open(path).unwrap();
    let band = ds.rasterband(b).unwrap();
    let (w, h) = band.size();
    let buf = band.read_as::<f32>((0, 0), (w, h), (w, h), None).unwrap();
    (buf.data().to_vec(), w, h, band.no_data_value())
}
