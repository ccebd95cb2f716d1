//! XYZ map tiles (Web Mercator, EPSG:3857, 256 x 256 PNG) rendered on demand from a day's `danger_class.tif`.
//!
//! A tile is GDAL's warper (the engine behind `gdalwarp`, which picks the COG overview matching the tile's
//! resolution) run from the COG into an in-memory 256 x 256 Byte raster in EPSG:3857 with nearest-neighbour
//! resampling, so no class is invented between two others; then each class gets its EAWS colour and nodata (0) and
//! everything outside the site stay transparent. Tiles that do not touch the site's footprint are answered with a
//! ready-made transparent PNG without any GDAL work.
use std::path::Path;
use std::sync::OnceLock;

use gdal::cpl::CslStringList;
use gdal::{Dataset, DriverManager};

use crate::geo::Crs;

/// Tile edge, pixels.
pub const TILE: usize = 256;
/// Deepest zoom served (about 2.4 cm per pixel at the equator: far past any published resolution).
pub const MAX_ZOOM: u8 = 22;
/// Half the width of the Web Mercator square, metres.
const ORIGIN: f64 = 20_037_508.342_789_244;

/// EAWS danger-level colours (RGB) for classes 1 (low) to 5 (very high); level 5 is drawn as the EAWS red/black
/// chequer, alternating with black every 8 pixels.
pub const EAWS: [[u8; 3]; 5] =
    [[0xcc, 0xff, 0x66], [0xff, 0xff, 0x00], [0xff, 0x99, 0x00], [0xff, 0x00, 0x00], [0xff, 0x00, 0x00]];

/// A tile address: zoom, column (west to east), row (north to south).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileId {
    /// Checks the zoom and that column and row exist at that zoom.
    pub fn new(z: u32, x: u32, y: u32) -> Option<TileId> {
        let z = u8::try_from(z).ok().filter(|z| *z <= MAX_ZOOM)?;
        let n = 1u64 << z;
        (u64::from(x) < n && u64::from(y) < n).then_some(TileId { z, x, y })
    }

    /// Bounds in EPSG:3857 metres: `[xmin, ymin, xmax, ymax]`.
    pub fn bounds(&self) -> [f64; 4] {
        let size = 2.0 * ORIGIN / (1u64 << self.z) as f64;
        let xmin = -ORIGIN + f64::from(self.x) * size;
        let ymax = ORIGIN - f64::from(self.y) * size;
        [xmin, ymax - size, xmin + size, ymax]
    }
}

/// Whether two `[xmin, ymin, xmax, ymax]` boxes overlap.
pub fn intersects(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// The raster's footprint in EPSG:3857 (edges densified, so the projected outline is covered).
pub fn footprint(path: &Path) -> Result<[f64; 4], String> {
    let ds = Dataset::open(path).map_err(|e| format!("cannot open the danger-class raster: {e}"))?;
    let crs = Crs::of_dataset(&ds).ok_or("the danger-class raster has no CRS")?;
    let gt = ds.geo_transform().map_err(|e| e.to_string())?;
    let (w, h) = ds.raster_size();
    let (x0, y0) = (gt[0], gt[3]);
    let (x1, y1) = (x0 + gt[1] * w as f64, y0 + gt[5] * h as f64);
    let bounds = [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)];
    let mercator = Crs::from_epsg(3857).map_err(|e| e.to_string())?;
    crs.transform_bounds(bounds, &mercator).map_err(|e| e.to_string())
}

/// The transparent tile served outside the site.
pub fn empty_png() -> &'static [u8] {
    static EMPTY: OnceLock<Vec<u8>> = OnceLock::new();
    EMPTY.get_or_init(|| encode_png(&vec![0u8; TILE * TILE * 4]).unwrap_or_default())
}

/// Renders one tile of the danger-class COG at `path` as PNG; `None` when the tile holds no class at all.
pub fn render(path: &Path, tile: TileId) -> Result<Option<Vec<u8>>, String> {
    let classes = warp_tile(path, tile)?;
    if classes.iter().all(|c| *c == 0) {
        return Ok(None);
    }
    encode_png(&colour(&classes)).map(Some)
}

/// Warps the tile's extent from the COG into a 256 x 256 Byte grid of classes (0 = nodata).
fn warp_tile(path: &Path, tile: TileId) -> Result<Vec<u8>, String> {
    let src = Dataset::open(path).map_err(|e| format!("cannot open the danger-class raster: {e}"))?;
    let mem = DriverManager::get_driver_by_name("MEM").map_err(|e| e.to_string())?;
    let mut dst = mem.create_with_band_type::<u8, _>("", TILE, TILE, 1).map_err(|e| e.to_string())?;
    let [xmin, _, xmax, ymax] = tile.bounds();
    let res = (xmax - xmin) / TILE as f64;
    dst.set_geo_transform(&[xmin, res, 0.0, ymax, 0.0, -res]).map_err(|e| e.to_string())?;
    dst.set_projection(mercator_wkt()).map_err(|e| e.to_string())?;
    dst.rasterband(1).and_then(|mut b| b.set_no_data_value(Some(0.0))).map_err(|e| e.to_string())?;
    let mut args = CslStringList::new();
    // `-ovr AUTO` (gdalwarp's default, spelled out): read the overview closest to the tile's resolution.
    for a in ["-r", "near", "-ovr", "AUTO", "-wo", "INIT_DEST=0", "-dstnodata", "0"] {
        args.add_string(a).map_err(|e| e.to_string())?;
    }
    let mut src_handles = [src.c_dataset()];
    // SAFETY: the option list and both dataset handles outlive the call. With an existing destination, GDALWarp
    // writes into it and returns that same handle, which `dst` still owns (so it is not closed here).
    unsafe {
        let opts = gdal_sys::GDALWarpAppOptionsNew(args.as_ptr(), std::ptr::null_mut());
        if opts.is_null() {
            return Err("GDAL rejected the tile warp options".into());
        }
        let mut usage_error = 0;
        let out =
            gdal_sys::GDALWarp(std::ptr::null(), dst.c_dataset(), 1, src_handles.as_mut_ptr(), opts, &mut usage_error);
        gdal_sys::GDALWarpAppOptionsFree(opts);
        if out.is_null() {
            let msg = std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()).to_string_lossy().into_owned();
            return Err(format!("tile warp failed: {msg}"));
        }
    }
    let band = dst.rasterband(1).map_err(|e| e.to_string())?;
    let buf = band.read_as::<u8>((0, 0), (TILE, TILE), (TILE, TILE), None).map_err(|e| e.to_string())?;
    Ok(buf.data().to_vec())
}

fn mercator_wkt() -> &'static str {
    static WKT: OnceLock<String> = OnceLock::new();
    WKT.get_or_init(|| Crs::from_epsg(3857).map(|c| c.wkt).unwrap_or_default())
}

/// RGBA pixels from classes: EAWS colours, opaque; 0 and anything outside 1..=5 transparent.
pub fn colour(classes: &[u8]) -> Vec<u8> {
    let mut rgba = vec![0u8; classes.len() * 4];
    for (i, c) in classes.iter().enumerate() {
        if !(1..=5).contains(c) {
            continue;
        }
        let (col, row) = (i % TILE, i / TILE);
        let rgb = if *c == 5 && (col / 8 + row / 8) % 2 == 1 { [0, 0, 0] } else { EAWS[usize::from(*c) - 1] };
        rgba[i * 4..i * 4 + 3].copy_from_slice(&rgb);
        rgba[i * 4 + 3] = 255;
    }
    rgba
}

fn encode_png(rgba: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, TILE as u32, TILE as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(rgba).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_ids_and_bounds() {
        assert!(TileId::new(0, 0, 0).is_some());
        assert!(TileId::new(1, 2, 0).is_none());
        assert!(TileId::new(23, 0, 0).is_none());
        let b = TileId::new(1, 1, 0).unwrap().bounds();
        assert!((b[0] - 0.0).abs() < 1e-6 && (b[3] - ORIGIN).abs() < 1e-6 && (b[2] - ORIGIN).abs() < 1e-6);
        assert!(intersects(b, [1.0, 1.0, 2.0, 2.0]));
        assert!(!intersects(b, [-2.0, 1.0, -1.0, 2.0]));
    }

    #[test]
    fn classes_get_eaws_colours_and_nodata_is_transparent() {
        let mut classes = vec![0u8; TILE * TILE];
        classes[1] = 3;
        classes[2] = 9;
        let rgba = colour(&classes);
        assert_eq!(&rgba[0..4], &[0, 0, 0, 0]);
        assert_eq!(&rgba[4..8], &[0xff, 0x99, 0x00, 255]);
        assert_eq!(&rgba[8..12], &[0, 0, 0, 0]);
    }
}
