//! Warning zones: the connected areas at one danger level >= `zone_min_level`, as polygons with the statistics a
//! warning service reads (area, probability, elevation range, dominant aspects), written as RFC 7946 GeoJSON.
//!
//! - A zone is a 4-neighbour connected set of cells of one level (GDAL's polygonize uses the same connectivity, so
//!   each zone is exactly one polygon; a level-4 core inside a level-3 area is its own zone and a hole in the other).
//! - Zones under `zone_min_area_km2` are speckle and dropped (default 0.05 km2: 6 cells at 90 m, 2000 at 5 m).
//! - Aspect per cell from the DEM (Horn's gradient, as `gdaldem aspect`, [`crate::features::terrain::aspect`]),
//!   binned in 8 sectors of 45 degrees centred on N, NE, E, SE, S, SW, W, NW; flat cells and cells at the DEM's
//!   edge or nodata have none. The dominant aspects are the sectors holding at least 20 % of the zone's cells with
//!   an aspect, largest first (at least the largest one).
//! - Coordinates: WGS84 longitude, latitude (RFC 7946 order), 6 decimals (~10 cm, as RFC 7946 suggests); exterior rings counter-clockwise,
//!   holes clockwise. Polygon edges follow the cell borders of the site grid.
use std::path::Path;

use gdal::vector::{LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::DriverManager;
use serde_json::{json, Value};

use super::danger::level_name;
use super::layers::Layers;
use super::{MapInput, PublishError, PublishParams};
use crate::features::terrain::aspect::aspect_deg;
use crate::geo::{Crs, Grid};

/// Compass sectors, clockwise from north.
pub const SECTORS: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
/// A sector is dominant in a zone from this share of its cells with an aspect.
pub const DOMINANT_SHARE: f64 = 0.2;

/// A ring of (x, y) in the site CRS, closed (first == last).
pub type Ring = Vec<(f64, f64)>;

/// One warning zone, geometry in the site CRS.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// 1-based id, stable within one day's map (ordered by level descending, then area descending).
    pub id: usize,
    pub level: u8,
    pub cells: usize,
    pub area_km2: f64,
    pub prob_max: f32,
    pub prob_mean: f32,
    /// Elevation range (m), `None` when the DEM has no value under the zone.
    pub elev_min_m: Option<f32>,
    pub elev_max_m: Option<f32>,
    /// Cells per aspect sector (index as [`SECTORS`]).
    pub aspect_cells: [usize; 8],
    /// Polygons (exterior ring first, then holes); one polygon per zone by construction.
    pub polygons: Vec<Vec<Ring>>,
}

impl Zone {
    /// The dominant aspect sectors, largest share first (see the module doc).
    pub fn dominant_aspects(&self) -> Vec<&'static str> {
        let total: usize = self.aspect_cells.iter().sum();
        if total == 0 {
            return Vec::new();
        }
        let mut idx: Vec<usize> = (0..8).collect();
        idx.sort_by(|a, b| self.aspect_cells[*b].cmp(&self.aspect_cells[*a]).then(a.cmp(b)));
        idx.iter()
            .enumerate()
            .filter(|(rank, i)| *rank == 0 || self.aspect_cells[**i] as f64 >= DOMINANT_SHARE * total as f64)
            .map(|(_, i)| SECTORS[*i])
            .collect()
    }
}

/// Sector index of an aspect in degrees clockwise from north.
pub fn sector(aspect_deg: f32) -> usize {
    (((aspect_deg as f64 + 22.5).rem_euclid(360.0)) / 45.0) as usize % 8
}

/// Labels 4-connected components of equal non-zero `values`; returns (labels, component count). Label 0 = none.
fn components(values: &[u8], w: usize, h: usize) -> (Vec<u32>, usize) {
    let mut labels = vec![0u32; values.len()];
    let mut n = 0u32;
    let mut stack = Vec::new();
    for start in 0..values.len() {
        if values[start] == 0 || labels[start] != 0 {
            continue;
        }
        n += 1;
        let v = values[start];
        labels[start] = n;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (r, c) = (i / w, i % w);
            let mut visit = |j: usize| {
                if values[j] == v && labels[j] == 0 {
                    labels[j] = n;
                    stack.push(j);
                }
            };
            if c > 0 {
                visit(i - 1);
            }
            if c + 1 < w {
                visit(i + 1);
            }
            if r > 0 {
                visit(i - w);
            }
            if r + 1 < h {
                visit(i + w);
            }
        }
    }
    (labels, n as usize)
}

/// Aspect of cell (c, r) from its 3x3 DEM window; NaN at the edge, on nodata or flat.
fn cell_aspect(dem: &[f32], w: usize, h: usize, c: usize, r: usize, res: f64) -> f32 {
    if c == 0 || r == 0 || c + 1 >= w || r + 1 >= h {
        return f32::NAN;
    }
    let mut win = [0f64; 9];
    for (k, o) in win.iter_mut().enumerate() {
        let v = dem[(r + k / 3 - 1) * w + (c + k % 3 - 1)];
        if v.is_nan() {
            return f32::NAN;
        }
        *o = v as f64;
    }
    aspect_deg(&win, res)
}

/// Finds the day's warning zones (see the module doc), largest danger first.
pub fn extract(layers: &Layers, params: &PublishParams) -> Result<Vec<Zone>, PublishError> {
    let g = &layers.grid;
    let (w, h) = (g.width, g.height);
    let values: Vec<u8> = layers.class.iter().map(|c| if *c >= params.zone_min_level { *c } else { 0 }).collect();
    let (labels, n) = components(&values, w, h);

    struct Acc {
        level: u8,
        cells: usize,
        pmax: f32,
        psum: f64,
        emin: f32,
        emax: f32,
        aspects: [usize; 8],
    }
    let mut acc: Vec<Acc> = (0..n)
        .map(|_| Acc { level: 0, cells: 0, pmax: 0.0, psum: 0.0, emin: f32::NAN, emax: f32::NAN, aspects: [0; 8] })
        .collect();
    for (i, l) in labels.iter().enumerate() {
        if *l == 0 {
            continue;
        }
        let a = &mut acc[*l as usize - 1];
        let p = layers.prob[i];
        a.level = values[i];
        a.cells += 1;
        a.pmax = a.pmax.max(p);
        a.psum += p as f64;
        let e = layers.dem[i];
        if !e.is_nan() {
            a.emin = if a.emin.is_nan() { e } else { a.emin.min(e) };
            a.emax = if a.emax.is_nan() { e } else { a.emax.max(e) };
        }
        let asp = cell_aspect(&layers.dem, w, h, i % w, i / w, g.res_x());
        if !asp.is_nan() {
            a.aspects[sector(asp)] += 1;
        }
    }

    // Keep zones at or over the minimum area, ordered by level then area; relabel them 1..=kept.
    let cell_km2 = layers.cell_km2();
    let mut keep: Vec<usize> =
        (0..n).filter(|k| acc[*k].cells as f64 * cell_km2 >= params.zone_min_area_km2 - 1e-12).collect();
    keep.sort_by(|a, b| acc[*b].level.cmp(&acc[*a].level).then(acc[*b].cells.cmp(&acc[*a].cells)).then(a.cmp(b)));
    let mut new_id = vec![0u32; n + 1];
    for (rank, k) in keep.iter().enumerate() {
        new_id[k + 1] = rank as u32 + 1;
    }
    let kept_labels: Vec<i32> = labels.iter().map(|l| new_id[*l as usize] as i32).collect();
    let mut polygons = polygonize(&kept_labels, g, keep.len())?;

    Ok(keep
        .iter()
        .enumerate()
        .map(|(rank, k)| {
            let a = &acc[*k];
            Zone {
                id: rank + 1,
                level: a.level,
                cells: a.cells,
                area_km2: a.cells as f64 * cell_km2,
                prob_max: a.pmax,
                prob_mean: (a.psum / a.cells as f64) as f32,
                elev_min_m: (!a.emin.is_nan()).then_some(a.emin),
                elev_max_m: (!a.emax.is_nan()).then_some(a.emax),
                aspect_cells: a.aspects,
                polygons: std::mem::take(&mut polygons[rank]),
            }
        })
        .collect())
}

/// GDAL's polygonize over the label raster (0 = masked out): polygons per label 1..=n, in the site CRS.
fn polygonize(labels: &[i32], g: &Grid, n: usize) -> Result<Vec<Vec<Vec<Ring>>>, PublishError> {
    let mut out = vec![Vec::new(); n];
    if n == 0 {
        return Ok(out);
    }
    let here = Path::new("zones (in memory)");
    let mem =
        DriverManager::get_driver_by_name("MEM").map_err(PublishError::gdal("load GDAL's MEM driver for", here))?;
    let mut ds =
        mem.create_with_band_type::<i32, _>("", g.width, g.height, 1).map_err(PublishError::gdal("create", here))?;
    ds.set_geo_transform(&g.transform).map_err(PublishError::gdal("set the geotransform of", here))?;
    let band = ds.rasterband(1).map_err(PublishError::gdal("open", here))?;
    let mut buf = gdal::raster::Buffer::new((g.width, g.height), labels.to_vec());
    let mut band = band;
    band.write((0, 0), (g.width, g.height), &mut buf).map_err(PublishError::gdal("fill", here))?;

    let vdrv = DriverManager::get_driver_by_name("Memory")
        .map_err(PublishError::gdal("load OGR's Memory driver for", here))?;
    let mut vds = vdrv.create_vector_only("").map_err(PublishError::gdal("create", here))?;
    let mut layer = vds
        .create_layer(LayerOptions { name: "zones", srs: None, ty: OGRwkbGeometryType::wkbPolygon, options: None })
        .map_err(PublishError::gdal("create a layer in", here))?;
    layer
        .create_defn_fields(&[("id", OGRFieldType::OFTInteger)])
        .map_err(PublishError::gdal("add a field to", here))?;
    // SAFETY: band and layer handles are alive for the call; the band is its own mask (0 = outside every zone).
    let rc = unsafe {
        gdal_sys::GDALPolygonize(
            band.c_rasterband(),
            band.c_rasterband(),
            layer.c_layer(),
            0,
            std::ptr::null_mut(),
            None,
            std::ptr::null_mut(),
        )
    };
    if rc != gdal_sys::CPLErr::CE_None {
        return Err(PublishError::Input { path: here.display().to_string(), message: "GDALPolygonize failed".into() });
    }
    for f in layer.features() {
        let Some(id) = f.field_as_integer(0).map_err(PublishError::gdal("read a zone of", here))? else { continue };
        let Some(geom) = f.geometry() else { continue };
        if id < 1 || id as usize > n {
            continue;
        }
        // Cell-edge staircases simplified by half a cell (topology kept): a tenth of the vertices on real maps, and
        // areas and statistics come from the cells, not the outline.
        let geom =
            geom.simplify_preserve_topology(0.5 * g.res_x()).map_err(PublishError::gdal("simplify a zone of", here))?;
        let mut rings = Vec::new();
        for r in 0..geom.geometry_count() {
            let ring = geom.get_geometry(r);
            let mut pts = Vec::new();
            ring.get_points(&mut pts);
            rings.push(pts.into_iter().map(|(x, y, _)| (x, y)).collect::<Ring>());
        }
        out[id as usize - 1].push(rings);
    }
    Ok(out)
}

/// Twice the signed area of a ring (positive = counter-clockwise with x east, y north).
pub fn signed_area2(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2).map(|p| p[0].0 * p[1].1 - p[1].0 * p[0].1).sum()
}

/// Transforms a ring to WGS84 (lon, lat), oriented counter-clockwise if `exterior`, clockwise otherwise.
pub fn ring_to_wgs84(ring: &Ring, crs: &Crs, exterior: bool) -> Result<Ring, PublishError> {
    let mut x: Vec<f64> = ring.iter().map(|p| p.0).collect();
    let mut y: Vec<f64> = ring.iter().map(|p| p.1).collect();
    crs.transform_points(&Crs::wgs84(), &mut x, &mut y)?;
    let mut out: Ring = x.into_iter().zip(y).collect();
    if (signed_area2(&out) > 0.0) != exterior {
        out.reverse();
    }
    Ok(out)
}

/// `v` to 4 significant digits (probabilities per cell and day are small: 2.345e-6).
fn significant(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// The zones as a GeoJSON FeatureCollection (WGS84).
pub fn geojson(zones: &[Zone], grid: &Grid, input: &MapInput) -> Result<Value, PublishError> {
    let mut features = Vec::new();
    for z in zones {
        let mut polys = Vec::new();
        for p in &z.polygons {
            let mut rings = Vec::new();
            for (i, r) in p.iter().enumerate() {
                let r = ring_to_wgs84(r, &grid.crs, i == 0)?;
                rings.push(r.iter().map(|(x, y)| json!([round6(*x), round6(*y)])).collect::<Vec<_>>());
            }
            polys.push(rings);
        }
        let geometry = if polys.len() == 1 {
            json!({"type": "Polygon", "coordinates": polys.pop().expect("one polygon")})
        } else {
            json!({"type": "MultiPolygon", "coordinates": polys})
        };
        let total: usize = z.aspect_cells.iter().sum();
        let shares: serde_json::Map<String, Value> = SECTORS
            .iter()
            .zip(z.aspect_cells)
            .map(|(s, c)| {
                let share = if total == 0 { 0.0 } else { c as f64 / total as f64 };
                (s.to_string(), json!((share * 1000.0).round() / 1000.0))
            })
            .collect();
        features.push(json!({
            "type": "Feature",
            "id": z.id,
            "geometry": geometry,
            "properties": {
                "zone": z.id,
                "level": z.level,
                "level_name": level_name(z.level),
                "area_km2": (z.area_km2 * 1e4).round() / 1e4,
                "cells": z.cells,
                "prob_max": significant(z.prob_max as f64),
                "prob_mean": significant(z.prob_mean as f64),
                "elev_min_m": z.elev_min_m.map(|v| v.round()),
                "elev_max_m": z.elev_max_m.map(|v| v.round()),
                "aspects": z.dominant_aspects(),
                "aspect_shares": shares,
            }
        }));
    }
    Ok(json!({
        "type": "FeatureCollection",
        "name": format!("{}-{}-zones", input.site_id, input.date),
        "site": input.site_id,
        "date": input.date.to_string(),
        "model_bundle": input.bundle_id,
        "features": features,
    }))
}

/// Written compact (no indentation): a large site has hundreds of thousands of vertices, and dashboards download it.
pub fn write_geojson(path: &Path, zones: &[Zone], grid: &Grid, input: &MapInput) -> Result<(), PublishError> {
    let mut text = serde_json::to_string(&geojson(zones, grid, input)?).expect("JSON values serialise");
    text.push('\n');
    fs_err::write(path, text).map_err(PublishError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_four_connected_per_value() {
        // Two 3-cells touching only diagonally are two zones; a 4 next to a 3 is its own zone.
        #[rustfmt::skip]
        let v = [
            3, 0, 0,
            0, 3, 4,
            0, 0, 4,
        ];
        let (l, n) = components(&v, 3, 3);
        assert_eq!(n, 3);
        assert_ne!(l[0], l[4]);
        assert_eq!(l[5], l[8]);
        assert_eq!(l[1], 0);
    }

    #[test]
    fn sectors_centre_on_the_compass_points() {
        assert_eq!(SECTORS[sector(0.0)], "N");
        assert_eq!(SECTORS[sector(359.0)], "N");
        assert_eq!(SECTORS[sector(22.4)], "N");
        assert_eq!(SECTORS[sector(22.5)], "NE");
        assert_eq!(SECTORS[sector(180.0)], "S");
        assert_eq!(SECTORS[sector(300.0)], "NW");
    }
}
