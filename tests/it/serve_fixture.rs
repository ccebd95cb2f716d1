//! A small published output root in the layout `avarisk serve` reads (see `avarisk::store`), generated with GDAL:
//! one site `test-alps` on an EPSG:2056 grid near Davos (768 x 640 cells of 4 m), two days, `latest` pointing at the
//! newer. The COGs are written by GDAL's COG driver (512-pixel blocks, overviews), the way the publisher writes them.
//! Shared by the `serve` tests and the load benchmark.
#![allow(dead_code)]

use std::path::Path;

use avarisk::geo::Crs;
use gdal::raster::RasterCreationOptions;
use gdal::DriverManager;
use serde_json::json;

pub const SITE: &str = "test-alps";
pub const DAYS: [&str; 2] = ["2021-02-14", "2021-02-15"];
pub const EPSG: u32 = 2056;
/// North-west corner (LV95 metres), cell size, shape.
pub const ORIGIN: (f64, f64) = (2_780_000.0, 1_188_000.0);
pub const RES: f64 = 4.0;
pub const SHAPE: (usize, usize) = (768, 640);

/// The synthetic risk of a cell, 0..1, rising to the south-east, or `None` outside the site's elliptic outline.
pub fn risk(col: usize, row: usize, day: usize) -> Option<f32> {
    let (w, h) = (SHAPE.0 as f64, SHAPE.1 as f64);
    let (u, v) = ((col as f64 + 0.5) / w * 2.0 - 1.0, (row as f64 + 0.5) / h * 2.0 - 1.0);
    if u * u + v * v > 1.0 {
        return None;
    }
    let p = 0.55 * (u + 1.0) / 2.0 + 0.45 * (v + 1.0) / 2.0 + 0.05 * day as f64;
    Some(p.clamp(0.0, 1.0) as f32)
}

/// EAWS class 1..5 of a probability (fifths).
pub fn class(p: f32) -> u8 {
    (1 + (p * 5.0).floor() as u8).min(5)
}

/// Bounds `[xmin, ymin, xmax, ymax]` in EPSG:2056.
pub fn bounds() -> [f64; 4] {
    let (x0, y1) = ORIGIN;
    [x0, y1 - RES * SHAPE.1 as f64, x0 + RES * SHAPE.0 as f64, y1]
}

/// Writes the published tree under `root/published/`.
pub fn publish(root: &Path) {
    let site_dir = root.join("published").join(SITE);
    std::fs::create_dir_all(&site_dir).unwrap();
    let lv95 = Crs::from_epsg(EPSG).unwrap();
    let wgs = lv95.transform_bounds(bounds(), &Crs::wgs84()).unwrap();
    let collection = json!({
        "type": "Collection", "stac_version": "1.0.0", "id": SITE, "title": "Test Alps",
        "description": "Synthetic site for the avarisk serve tests", "license": "CC-BY-4.0",
        "extent": {"spatial": {"bbox": [wgs]}, "temporal": {"interval": [[format!("{}T00:00:00Z", DAYS[0]), format!("{}T00:00:00Z", DAYS[1])]]}},
        "links": [],
    });
    std::fs::write(site_dir.join("collection.json"), serde_json::to_vec_pretty(&collection).unwrap()).unwrap();
    for (i, day) in DAYS.iter().enumerate() {
        let dir = site_dir.join(day);
        std::fs::create_dir_all(&dir).unwrap();
        let (w, h) = SHAPE;
        let mut prob = vec![-9999f32; w * h];
        let mut classes = vec![0u8; w * h];
        for row in 0..h {
            for col in 0..w {
                if let Some(p) = risk(col, row, i) {
                    prob[row * w + col] = p;
                    classes[row * w + col] = class(p);
                }
            }
        }
        write_cog(&dir.join("risk_probability.tif"), prob, Some(-9999.0), "AVERAGE");
        write_cog(&dir.join("danger_class.tif"), classes, Some(0.0), "NEAREST");
        let zones = zones(&lv95);
        std::fs::write(dir.join("zones.geojson"), serde_json::to_vec_pretty(&zones).unwrap()).unwrap();
        let [w0, s0, e0, n0] = wgs;
        let item = json!({
            "type": "Feature", "stac_version": "1.0.0", "id": format!("{SITE}-{day}"), "collection": SITE,
            "bbox": wgs,
            "geometry": {"type": "Polygon", "coordinates": [[[w0, s0], [e0, s0], [e0, n0], [w0, n0], [w0, s0]]]},
            "properties": {"datetime": format!("{day}T00:00:00Z"), "proj:epsg": EPSG},
            "assets": {
                "risk_probability": {"href": "./risk_probability.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized", "title": "Risk probability"},
                "danger_class": {"href": "./danger_class.tif", "type": "image/tiff; application=geotiff; profile=cloud-optimized", "title": "Danger class"},
                "zones": {"href": "./zones.geojson", "type": "application/geo+json"},
                "quicklook": {"href": "./quicklook.png", "type": "image/png"},
            },
            "links": [],
        });
        std::fs::write(dir.join("item.json"), serde_json::to_vec_pretty(&item).unwrap()).unwrap();
        std::fs::write(dir.join("quicklook.png"), tiny_png()).unwrap();
    }
    std::os::unix::fs::symlink(DAYS[1], site_dir.join("latest")).unwrap();
}

/// Two rectangular zones (levels 3 and 5) in the south-east of the site, as WGS84 polygons.
fn zones(lv95: &Crs) -> serde_json::Value {
    let [xmin, ymin, xmax, ymax] = bounds();
    let (cx, cy) = ((xmin + xmax) / 2.0, (ymin + ymax) / 2.0);
    let rects = [
        (3, [cx - 600.0, cy - 300.0, cx, cy + 200.0], 0.58, 0.49),
        (5, [cx + 300.0, cy - 700.0, cx + 800.0, cy - 200.0], 0.93, 0.86),
    ];
    let features: Vec<_> = rects
        .iter()
        .map(|(level, [x0, y0, x1, y1], max, mean)| {
            let mut xs = vec![*x0, *x1, *x1, *x0, *x0];
            let mut ys = vec![*y0, *y0, *y1, *y1, *y0];
            lv95.transform_points(&Crs::wgs84(), &mut xs, &mut ys).unwrap();
            let ring: Vec<[f64; 2]> = xs.iter().zip(&ys).map(|(x, y)| [*x, *y]).collect();
            json!({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"level": level, "area_km2": (x1 - x0) * (y1 - y0) / 1e6, "max_probability": max, "mean_probability": mean},
            })
        })
        .collect();
    json!({"type": "FeatureCollection", "features": features})
}

fn write_cog<T: gdal::raster::GdalType + Copy>(path: &Path, data: Vec<T>, nodata: Option<f64>, resampling: &str) {
    let (w, h) = SHAPE;
    let mem = DriverManager::get_driver_by_name("MEM").unwrap();
    let mut ds = mem.create_with_band_type::<T, _>("", w, h, 1).unwrap();
    ds.set_geo_transform(&[ORIGIN.0, RES, 0.0, ORIGIN.1, 0.0, -RES]).unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(EPSG).unwrap()).unwrap();
    let mut band = ds.rasterband(1).unwrap();
    band.set_no_data_value(nodata).unwrap();
    let mut buf = gdal::raster::Buffer::new((w, h), data);
    band.write((0, 0), (w, h), &mut buf).unwrap();
    let cog = DriverManager::get_driver_by_name("COG").unwrap();
    let opts = RasterCreationOptions::from_iter([
        "BLOCKSIZE=512".to_string(),
        "COMPRESS=DEFLATE".to_string(),
        format!("RESAMPLING={resampling}"),
        "OVERVIEWS=IGNORE_EXISTING".to_string(),
    ]);
    ds.create_copy(&cog, path, &opts).unwrap();
}

fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 2, 2);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&[255, 153, 0, 255, 0, 0, 204, 255, 102, 255, 255, 0]).unwrap();
    w.finish().unwrap();
    out
}
