//! Cloud Optimized GeoTIFFs through GDAL's COG driver, and the layout check a COG must pass before it is published.
//!
//! Both rasters: 512 px tiles, DEFLATE (every GIS reads it), internal overviews down to one tile (at least one),
//! nodata set, band description and metadata (site, date, model bundle, units). `risk_probability` uses the
//! floating-point predictor and averaged overviews (GDAL's average skips nodata); `danger_class` is Byte with the
//! EAWS colour table, nodata 0 and overviews by mode (the most common level, never a level that is not there).
use std::ffi::CString;
use std::path::Path;

use gdal::raster::{ColorEntry, ColorTable, PaletteInterpretation, RasterCreationOptions, RgbaEntry};
use gdal::{Dataset, DriverManager, Metadata};

use super::danger::{level_name, EAWS_RGB, NO_LEVEL};
use super::layers::{Layers, PROBABILITY_BAND, SPREAD_BAND};
use super::{MapInput, PublishError};
use crate::geo::NODATA;

/// Tile edge of the published COGs.
pub const BLOCK: usize = 512;

fn options(grid_w: usize, grid_h: usize, extra: &[&str]) -> RasterCreationOptions {
    let mut o: Vec<String> = [
        "BLOCKSIZE=512",
        "COMPRESS=DEFLATE",
        "LEVEL=6",
        "BIGTIFF=IF_SAFER",
        "NUM_THREADS=ALL_CPUS",
        "OVERVIEWS=IGNORE_EXISTING",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    // The COG driver stops overviews once the raster fits one tile; a smaller site still gets one overview level,
    // so every published COG has the same structure.
    if grid_w.max(grid_h) <= BLOCK {
        o.push("OVERVIEW_COUNT=1".into());
    }
    RasterCreationOptions::from_iter(o)
}

fn mem(path: &Path, layers: &Layers, bands: usize, byte: bool) -> Result<Dataset, PublishError> {
    let g = &layers.grid;
    let driver =
        DriverManager::get_driver_by_name("MEM").map_err(PublishError::gdal("load GDAL's MEM driver for", path))?;
    let mut ds = if byte {
        driver.create_with_band_type::<u8, _>("", g.width, g.height, bands)
    } else {
        driver.create_with_band_type::<f32, _>("", g.width, g.height, bands)
    }
    .map_err(PublishError::gdal("create in memory", path))?;
    ds.set_geo_transform(&g.transform).map_err(PublishError::gdal("set the geotransform of", path))?;
    ds.set_projection(&g.crs.wkt).map_err(PublishError::gdal("set the CRS of", path))?;
    Ok(ds)
}

fn set_unit(band: &gdal::raster::RasterBand, unit: &str) {
    if let Ok(c) = CString::new(unit) {
        // SAFETY: the band handle is valid for the borrow; GDAL copies the string.
        unsafe { gdal_sys::GDALSetRasterUnitType(band.c_rasterband(), c.as_ptr()) };
    }
}

fn common_metadata(ds: &mut Dataset, input: &MapInput, path: &Path) -> Result<(), PublishError> {
    for (k, v) in [
        ("AVARISK_SITE", input.site_id),
        ("AVARISK_DATE", &input.date.to_string()),
        ("AVARISK_MODEL_BUNDLE", input.bundle_id),
        ("TIFFTAG_SOFTWARE", concat!("avarisk ", env!("CARGO_PKG_VERSION"))),
    ] {
        ds.set_metadata_item(k, v, "").map_err(PublishError::gdal("set metadata on", path))?;
    }
    Ok(())
}

fn copy_to_cog(src: &Dataset, path: &Path, options: &RasterCreationOptions) -> Result<(), PublishError> {
    let driver =
        DriverManager::get_driver_by_name("COG").map_err(PublishError::gdal("load GDAL's COG driver for", path))?;
    let ds = src.create_copy(&driver, path, options).map_err(PublishError::gdal("write the COG", path))?;
    drop(ds);
    Ok(())
}

/// Writes `risk_probability.tif`: band 1 the probability, band 2 the spread when predicted.
pub fn write_probability(path: &Path, layers: &Layers, input: &MapInput) -> Result<(), PublishError> {
    let g = &layers.grid;
    let nb = 1 + layers.spread.is_some() as usize;
    let mut ds = mem(path, layers, nb, false)?;
    common_metadata(&mut ds, input, path)?;
    let bands: Vec<(&str, &str, &Vec<f32>)> = std::iter::once((
        PROBABILITY_BAND,
        "probability of avalanche release in the cell on the day (0..1)",
        &layers.prob,
    ))
    .chain(
        layers
            .spread
            .as_ref()
            .map(|s| (SPREAD_BAND, "standard deviation of risk_probability over Monte-Carlo dropout passes (0..1)", s)),
    )
    .collect();
    for (i, (name, desc, data)) in bands.into_iter().enumerate() {
        let mut band = ds.rasterband(i + 1).map_err(PublishError::gdal("open a band of", path))?;
        band.set_no_data_value(Some(NODATA as f64)).map_err(PublishError::gdal("set nodata on", path))?;
        band.set_description(name).map_err(PublishError::gdal("describe a band of", path))?;
        set_unit(&band, "1");
        for (k, v) in [("DESCRIPTION", desc), ("UNITS", "probability, 0..1"), ("DATE", &input.date.to_string())] {
            band.set_metadata_item(k, v, "").map_err(PublishError::gdal("set band metadata on", path))?;
        }
        let mut v: Vec<f32> = data.iter().map(|x| if x.is_nan() { NODATA } else { *x }).collect();
        let mut buf = gdal::raster::Buffer::new((g.width, g.height), std::mem::take(&mut v));
        band.write((0, 0), (g.width, g.height), &mut buf).map_err(PublishError::gdal("fill", path))?;
    }
    copy_to_cog(&ds, path, &options(g.width, g.height, &["PREDICTOR=YES", "RESAMPLING=AVERAGE"]))
}

/// Writes `danger_class.tif`: avarisk risk classes 1-5, 0 = no data, with the EAWS colour table.
pub fn write_class(path: &Path, layers: &Layers, input: &MapInput) -> Result<(), PublishError> {
    let g = &layers.grid;
    let mut ds = mem(path, layers, 1, true)?;
    common_metadata(&mut ds, input, path)?;
    let mut band = ds.rasterband(1).map_err(PublishError::gdal("open a band of", path))?;
    band.set_no_data_value(Some(NO_LEVEL as f64)).map_err(PublishError::gdal("set nodata on", path))?;
    band.set_description("danger_class").map_err(PublishError::gdal("describe a band of", path))?;
    let t = input.scale.thresholds;
    let legend = (1..=5u8).map(|l| format!("{l} {}", level_name(l))).collect::<Vec<_>>().join(", ");
    for (k, v) in [
        ("DESCRIPTION", "avarisk risk class (1..5; not EAWS danger levels), 0 = no data".to_string()),
        ("LEVELS", legend),
        (
            "THRESHOLDS",
            format!("risk_probability at which classes 2, 3, 4, 5 begin: {}, {}, {}, {}", t[0], t[1], t[2], t[3]),
        ),
        ("DATE", input.date.to_string()),
    ] {
        band.set_metadata_item(k, &v, "").map_err(PublishError::gdal("set band metadata on", path))?;
    }
    let mut ct = ColorTable::new(PaletteInterpretation::Rgba);
    ct.set_color_entry(0, &ColorEntry::Rgba(RgbaEntry { r: 0, g: 0, b: 0, a: 0 }));
    for (i, [r, gr, b]) in EAWS_RGB.iter().enumerate() {
        let e = RgbaEntry { r: *r as i16, g: *gr as i16, b: *b as i16, a: 255 };
        ct.set_color_entry(i as u16 + 1, &ColorEntry::Rgba(e));
    }
    band.set_color_table(&ct);
    let mut buf = gdal::raster::Buffer::new((g.width, g.height), layers.class.clone());
    band.write((0, 0), (g.width, g.height), &mut buf).map_err(PublishError::gdal("fill", path))?;
    copy_to_cog(&ds, path, &options(g.width, g.height, &["RESAMPLING=MODE"]))
}

/// What a published COG must be.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub bands: usize,
    pub nodata: f64,
    pub data_type: &'static str,
    pub color_table: bool,
}

impl Expect {
    pub fn probability(spread: bool) -> Expect {
        Expect { bands: 1 + spread as usize, nodata: NODATA as f64, data_type: "Float32", color_table: false }
    }
    pub fn class() -> Expect {
        Expect { bands: 1, nodata: NO_LEVEL as f64, data_type: "Byte", color_table: true }
    }
}

/// Checks the COG layout of `path` as GDAL reads it back: `LAYOUT=COG` (IFDs before the data, tiles in order, as
/// the COG driver writes and GDAL's own validator requires), DEFLATE, 512 px tiles on every band and overview, at
/// least one overview, nodata, data type, band count and colour table as expected.
pub fn check(path: &Path, expect: Expect) -> Result<(), PublishError> {
    let fail = |reason: String| PublishError::NotCog { path: path.display().to_string(), reason };
    let ds = Dataset::open(path).map_err(PublishError::gdal("open", path))?;
    let layout = ds.metadata_item("LAYOUT", "IMAGE_STRUCTURE");
    if layout.as_deref() != Some("COG") {
        return Err(fail(format!("IMAGE_STRUCTURE LAYOUT is {layout:?}, not COG")));
    }
    let comp = ds.metadata_item("COMPRESSION", "IMAGE_STRUCTURE");
    if comp.as_deref() != Some("DEFLATE") {
        return Err(fail(format!("compression {comp:?}, expected DEFLATE")));
    }
    if ds.raster_count() != expect.bands {
        return Err(fail(format!("{} bands, expected {}", ds.raster_count(), expect.bands)));
    }
    if ds.spatial_ref().is_err() || ds.geo_transform().is_err() {
        return Err(fail("no CRS or geotransform".into()));
    }
    for b in 1..=expect.bands {
        let band = ds.rasterband(b).map_err(PublishError::gdal("open a band of", path))?;
        if band.block_size() != (BLOCK, BLOCK) {
            return Err(fail(format!("band {b} tiles {:?}, expected {BLOCK}x{BLOCK}", band.block_size())));
        }
        let dt = band.band_type().name();
        if dt != expect.data_type {
            return Err(fail(format!("band {b} is {dt}, expected {}", expect.data_type)));
        }
        if band.no_data_value() != Some(expect.nodata) {
            return Err(fail(format!("band {b} nodata {:?}, expected {}", band.no_data_value(), expect.nodata)));
        }
        let n = band.overview_count().map_err(PublishError::gdal("count the overviews of", path))?;
        if n < 1 {
            return Err(fail(format!("band {b} has no overview")));
        }
        for o in 0..n as usize {
            let ov = band.overview(o).map_err(PublishError::gdal("open an overview of", path))?;
            if ov.block_size() != (BLOCK, BLOCK) {
                return Err(fail(format!("band {b} overview {o} tiles {:?}", ov.block_size())));
            }
        }
        if expect.color_table && band.color_table().is_none() {
            return Err(fail(format!("band {b} lost its colour table")));
        }
    }
    Ok(())
}
