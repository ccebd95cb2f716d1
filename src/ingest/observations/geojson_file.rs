//! GeoJSON observation files: a FeatureCollection (or one Feature) whose properties hold the mapped fields and
//! whose geometry is the location (Point, or a Polygon/MultiPolygon outlining the avalanche).
//!
//! Coordinates are in the CRS configured for the source (RFC 7946 says WGS84, but files in national grids are
//! common). A legacy `crs` member naming another EPSG code than the configured one is an error, not a guess.
use std::collections::BTreeSet;
use std::str::FromStr;

use geojson::{Feature, GeoJson};
use serde_json::Value as Json;

use crate::config::plan::ObservationSource;

use super::record::{self, RawLocation, RawRecord};
use super::ObservationError;

/// Reads every feature of a GeoJSON source.
pub fn read(src: &ObservationSource) -> Result<Vec<RawRecord>, ObservationError> {
    let path = &src.path;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut record::open(path)?, &mut text)
        .map_err(|e| ObservationError::Io { path: path.clone(), source: e })?;
    let invalid = |message: String| ObservationError::GeoJson { path: path.clone(), message };
    let features = match GeoJson::from_str(&text).map_err(|e| invalid(e.to_string()))? {
        GeoJson::FeatureCollection(fc) => {
            check_crs(src, fc.foreign_members.as_ref())?;
            fc.features
        }
        GeoJson::Feature(f) => vec![f],
        GeoJson::Geometry(_) => {
            return Err(invalid("a bare geometry has no properties (no date): expected a FeatureCollection".into()))
        }
    };

    // A mapped property that no feature has is a mapping error, like a missing CSV column.
    let keys: BTreeSet<&str> =
        features.iter().filter_map(|f| f.properties.as_ref()).flat_map(|p| p.keys().map(String::as_str)).collect();
    if !features.is_empty() {
        for (column, field) in record::mapped_columns(src, false) {
            if !keys.contains(column.as_str()) {
                return Err(ObservationError::MissingColumn {
                    path: path.clone(),
                    column,
                    field,
                    hint: " (GeoJSON: the properties found in its features)".into(),
                    header: keys.iter().map(|k| k.to_string()).collect(),
                });
            }
        }
    }

    let mut out = Vec::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        let get = |col: &str| f.properties.as_ref().and_then(|p| p.get(col)).and_then(text_of);
        let content = serde_json::to_string(f).unwrap_or_default();
        out.push(RawRecord::from_fields(src, i + 1, location(f), content, get));
    }
    Ok(out)
}

/// A property as text: strings as written, numbers and booleans printed, null absent.
fn text_of(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => record::non_empty(s),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn location(f: &Feature) -> RawLocation {
    use geojson::Value;
    let ring = |r: &Vec<Vec<f64>>| -> Option<Vec<(f64, f64)>> {
        r.iter().map(|p| (p.len() >= 2).then(|| (p[0], p[1]))).collect()
    };
    let polygon = |rings: &Vec<Vec<Vec<f64>>>| -> Option<Vec<Vec<(f64, f64)>>> { rings.iter().map(ring).collect() };
    let Some(g) = &f.geometry else {
        return RawLocation::Missing;
    };
    let bad = || RawLocation::Invalid;
    match &g.value {
        Value::Point(p) if p.len() >= 2 => RawLocation::Point(p[0], p[1]),
        Value::Point(_) => bad(),
        Value::Polygon(rings) => polygon(rings).map_or_else(bad, |p| RawLocation::Polygons(vec![p])),
        Value::MultiPolygon(polys) => {
            polys.iter().map(polygon).collect::<Option<Vec<_>>>().map_or_else(bad, RawLocation::Polygons)
        }
        Value::MultiPoint(_) => RawLocation::Unsupported("MultiPoint"),
        Value::LineString(_) => RawLocation::Unsupported("LineString"),
        Value::MultiLineString(_) => RawLocation::Unsupported("MultiLineString"),
        Value::GeometryCollection(_) => RawLocation::Unsupported("GeometryCollection"),
    }
}

/// Checks a legacy `"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2056"}}` member
/// against the configured CRS.
fn check_crs(src: &ObservationSource, members: Option<&serde_json::Map<String, Json>>) -> Result<(), ObservationError> {
    let Some(name) =
        members.and_then(|m| m.get("crs")).and_then(|c| c.pointer("/properties/name")).and_then(Json::as_str)
    else {
        return Ok(());
    };
    let upper = name.to_ascii_uppercase();
    let declared = if upper.ends_with("CRS84") {
        Some(4326)
    } else {
        upper.rsplit(':').next().and_then(|c| c.parse::<u32>().ok())
    };
    match (declared, src.crs.epsg) {
        (Some(d), Some(c)) if d != c => Err(ObservationError::CrsMismatch {
            path: src.path.clone(),
            declared: name.to_owned(),
            configured: src.crs.to_string(),
        }),
        _ => Ok(()),
    }
}
