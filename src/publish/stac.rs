//! STAC 1.0.0 metadata: an Item per published day (projection extension v1.1.0) and a Collection per site.
//!
//! Item: id `<site>-<date>`; `datetime` = start of the site-local day, with `start_datetime`/`end_datetime` the
//! day's UTC bounds; geometry = the site grid's outline (each edge densified to 8 points) transformed to WGS84
//! longitude/latitude, bbox from it; `proj:epsg`, `proj:shape` `[rows, cols]`, `proj:transform` (GDAL's geotransform
//! reordered as STAC wants, `[a, b, c, d, e, f]` = `[gt1, gt2, gt0, gt4, gt5, gt3]`); model provenance
//! (`avarisk:model_bundle`), thresholds, area per level and the CAP alert state (`avarisk:alert`, read back by the
//! next day's run to choose Alert/Update/Cancel). Assets are relative to the item (`./risk_probability.tif`).
//! Collection: every published day's item, the spatial extent the union of their bboxes, the temporal extent from
//! the first day's start to the last day's end.
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::cap::{Message, MsgType};
use super::danger::LEVEL_NAMES;
use super::{
    place, DayWindow, MapInput, PublishError, ALERT_CAP, CLASS_TIF, ITEM_JSON, PROBABILITY_TIF, QUICKLOOK_PNG,
    ZONES_GEOJSON,
};
use crate::geo::{Crs, Grid};

pub const STAC_VERSION: &str = "1.0.0";
pub const PROJECTION_EXT: &str = "https://stac-extensions.github.io/projection/v1.1.0/schema.json";
pub const COG_MEDIA_TYPE: &str = "image/tiff; application=geotiff; profile=cloud-optimized";
pub const GEOJSON_MEDIA_TYPE: &str = "application/geo+json";
pub const CAP_MEDIA_TYPE: &str = "application/cap+xml";

/// Ids that are safe as folder names, STAC ids and CAP tokens.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The alert state carried in `avarisk:alert`: whether an alert is in force after this day, and the message that
/// was sent this day (if any).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertState {
    /// An alert (Alert or Update) is in force for this day.
    pub active: bool,
    /// The message sent this day: Alert, Update or Cancel; `None` when none.
    pub msg_type: Option<MsgType>,
    pub identifier: Option<String>,
    pub sender: Option<String>,
    /// CAP `sent` of the message, as written in it.
    pub sent: Option<String>,
    /// CAP status, `Actual` or `Test`.
    pub status: Option<String>,
}

impl AlertState {
    pub fn of(m: Option<&Message>) -> AlertState {
        match m {
            None => {
                AlertState { active: false, msg_type: None, identifier: None, sender: None, sent: None, status: None }
            }
            Some(m) => AlertState {
                active: m.msg_type != MsgType::Cancel,
                msg_type: Some(m.msg_type),
                identifier: Some(m.identifier.clone()),
                sender: Some(m.sender.clone()),
                sent: Some(m.sent.clone()),
                status: Some(m.status.to_string()),
            },
        }
    }
}

/// Reads `avarisk:alert` from a published item.json (`None` when the item has none).
pub fn read_alert_state(item: &Path) -> Result<Option<AlertState>, PublishError> {
    let v = read_json(item)?;
    match v.pointer("/properties/avarisk:alert") {
        None | Some(Value::Null) => Ok(None),
        Some(a) => serde_json::from_value(a.clone()).map(Some).map_err(|e| PublishError::Json {
            path: item.display().to_string(),
            message: format!("properties.avarisk:alert: {e}"),
        }),
    }
}

pub fn read_json(path: &Path) -> Result<Value, PublishError> {
    let text = fs_err::read_to_string(path).map_err(PublishError::io("read", path))?;
    serde_json::from_str(&text)
        .map_err(|e| PublishError::Json { path: path.display().to_string(), message: e.to_string() })
}

pub fn write_json(path: &Path, v: &Value) -> Result<(), PublishError> {
    let mut text = serde_json::to_string_pretty(v).expect("JSON values serialise");
    text.push('\n');
    fs_err::write(path, text).map_err(PublishError::io("write", path))
}

fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

/// The grid outline in WGS84 (lon, lat), counter-clockwise, closed, each edge densified to `k` segments.
pub fn footprint(grid: &Grid, k: usize) -> Result<Vec<(f64, f64)>, PublishError> {
    let b = grid.bounds();
    let corners = [(b.xmin, b.ymin), (b.xmax, b.ymin), (b.xmax, b.ymax), (b.xmin, b.ymax), (b.xmin, b.ymin)];
    let mut x = Vec::new();
    let mut y = Vec::new();
    for e in corners.windows(2) {
        for i in 0..k {
            let t = i as f64 / k as f64;
            x.push(e[0].0 + (e[1].0 - e[0].0) * t);
            y.push(e[0].1 + (e[1].1 - e[0].1) * t);
        }
    }
    x.push(b.xmin);
    y.push(b.ymin);
    grid.crs.transform_points(&Crs::wgs84(), &mut x, &mut y)?;
    let mut ring: Vec<(f64, f64)> = x.into_iter().zip(y).map(|(a, b)| (round7(a), round7(b))).collect();
    if super::zones::signed_area2(&ring) < 0.0 {
        ring.reverse();
    }
    Ok(ring)
}

/// What an Item is made of.
pub struct ItemInput<'a> {
    pub input: &'a MapInput<'a>,
    pub grid: &'a Grid,
    pub day: DayWindow,
    pub created: DateTime<Utc>,
    pub area_km2_by_level: [f64; 5],
    pub max_level: u8,
    pub zones: usize,
    pub has_spread: bool,
    pub alert: AlertState,
}

/// The STAC Item of one published day.
pub fn item(i: &ItemInput) -> Result<Value, PublishError> {
    let input = i.input;
    let g = i.grid;
    let ring = footprint(g, 8)?;
    let (mut w, mut s, mut e, mut n) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in &ring {
        w = w.min(*x);
        e = e.max(*x);
        s = s.min(*y);
        n = n.max(*y);
    }
    let t = g.transform;
    let mut areas = serde_json::Map::new();
    for (l, a) in i.area_km2_by_level.iter().enumerate() {
        areas.insert((l + 1).to_string(), json!((a * 1e4).round() / 1e4));
    }
    let mut props = json!({
        "title": format!("{} avalanche risk {}", input.site_name, input.date),
        "description": format!(
            "Daily probability of a recorded avalanche release per cell and avarisk risk classes (not EAWS danger \
             levels) for {} on {} (site-local day), predicted by avarisk model bundle {}.",
            input.site_name, input.date, input.bundle_id),
        "datetime": rfc3339(i.day.start),
        "start_datetime": rfc3339(i.day.start),
        "end_datetime": rfc3339(i.day.end),
        "created": rfc3339(i.created),
        "proj:epsg": g.crs.epsg,
        "proj:shape": [g.height, g.width],
        "proj:transform": [t[1], t[2], t[0], t[4], t[5], t[3]],
        "proj:bbox": g.bounds().as_array(),
        "avarisk:site": input.site_id,
        "avarisk:date": input.date.to_string(),
        "avarisk:time_zone": input.time_zone.name(),
        "avarisk:model_bundle": input.bundle_id,
        "avarisk:danger_thresholds": input.scale.thresholds,
        "avarisk:risk_scale": super::danger::SCALE_NAME,
        "avarisk:danger_levels": LEVEL_NAMES,
        "avarisk:area_km2_by_level": areas,
        "avarisk:max_level": i.max_level,
        "avarisk:zones": i.zones,
        "avarisk:alert": i.alert,
        "avarisk:hazard": input.hazard.map(|h| h.max),
        "avarisk:alert_threshold": input.hazard.map(|h| h.threshold),
        "avarisk:attribution": input.attribution,
    });
    if g.crs.epsg.is_none() {
        props["proj:wkt2"] = json!(g.crs.wkt);
    }
    let mut prob = json!({
        "href": format!("./{PROBABILITY_TIF}"),
        "type": COG_MEDIA_TYPE,
        "title": "Release probability (0..1)",
        "description": "Float32, nodata -9999; band 1 risk_probability",
        "roles": ["data"],
    });
    if i.has_spread {
        prob["description"] =
            json!("Float32, nodata -9999; band 1 risk_probability, band 2 risk_spread (std over MC dropout)");
    }
    let mut assets = json!({
        "risk_probability": prob,
        "danger_class": {
            "href": format!("./{CLASS_TIF}"),
            "type": COG_MEDIA_TYPE,
            "title": "avarisk risk class (1-5)",
            "description": "Byte, 0 = no data, 1 Very low .. 5 Very high (not EAWS danger levels), EAWS colour table",
            "roles": ["data", "visual"],
        },
        "zones": {
            "href": format!("./{ZONES_GEOJSON}"),
            "type": GEOJSON_MEDIA_TYPE,
            "title": "Warning zones",
            "roles": ["data"],
        },
        "quicklook": {
            "href": format!("./{QUICKLOOK_PNG}"),
            "type": "image/png",
            "title": "Quicklook: avarisk risk classes over hillshade",
            "roles": ["overview"],
        },
    });
    if i.alert.msg_type.is_some() {
        assets["alert"] = json!({
            "href": format!("./{ALERT_CAP}"),
            "type": CAP_MEDIA_TYPE,
            "title": "CAP 1.2 alert message",
            "roles": ["metadata"],
        });
    }
    Ok(json!({
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [PROJECTION_EXT],
        "id": format!("{}-{}", input.site_id, input.date),
        "collection": input.site_id,
        "geometry": {"type": "Polygon", "coordinates": [ring.iter().map(|(x, y)| json!([x, y])).collect::<Vec<_>>()]},
        "bbox": [w, s, e, n],
        "properties": props,
        "links": [
            {"rel": "collection", "href": format!("../{}", super::COLLECTION_JSON), "type": "application/json"},
            {"rel": "parent", "href": format!("../{}", super::COLLECTION_JSON), "type": "application/json"},
            {"rel": "root", "href": format!("../{}", super::COLLECTION_JSON), "type": "application/json"},
        ],
        "assets": assets,
    }))
}

/// The site's Collection over every published day in `site_dir` plus `new_item` (which replaces a published item
/// of its date).
pub fn collection(site_dir: &Path, input: &MapInput, new_item: &Value) -> Result<Value, PublishError> {
    let mut items: Vec<(String, Value)> = Vec::new();
    for (date, dir) in place::dated_dirs(site_dir)? {
        if date != input.date {
            items.push((date.to_string(), read_json(&dir.join(ITEM_JSON))?));
        }
    }
    items.push((input.date.to_string(), new_item.clone()));
    items.sort_by(|a, b| a.0.cmp(&b.0));

    let (mut w, mut s, mut e, mut n) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut start: Option<String> = None;
    let mut end: Option<String> = None;
    let mut links =
        vec![json!({"rel": "root", "href": format!("./{}", super::COLLECTION_JSON), "type": "application/json"})];
    let mut epsg = Vec::new();
    for (date, it) in &items {
        let bad = |m: &str| PublishError::Json {
            path: format!("{}/{date}/{ITEM_JSON}", site_dir.display()),
            message: m.into(),
        };
        let b = it["bbox"].as_array().filter(|b| b.len() == 4).ok_or_else(|| bad("no 4-number bbox"))?;
        let b: Vec<f64> = b.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
        w = w.min(b[0]);
        s = s.min(b[1]);
        e = e.max(b[2]);
        n = n.max(b[3]);
        let st = it["properties"]["start_datetime"].as_str().ok_or_else(|| bad("no properties.start_datetime"))?;
        let en = it["properties"]["end_datetime"].as_str().ok_or_else(|| bad("no properties.end_datetime"))?;
        // RFC 3339 UTC strings of one format sort chronologically.
        if start.as_deref().is_none_or(|x| st < x) {
            start = Some(st.to_owned());
        }
        if end.as_deref().is_none_or(|x| en > x) {
            end = Some(en.to_owned());
        }
        if let Some(c) = it["properties"]["proj:epsg"].as_u64() {
            if !epsg.contains(&c) {
                epsg.push(c);
            }
        }
        // The day's hazard and alert ride on the link: a dashboard draws the season from the Collection alone.
        links.push(json!({
            "rel": "item",
            "href": format!("./{date}/{ITEM_JSON}"),
            "type": GEOJSON_MEDIA_TYPE,
            "title": date,
            "avarisk:hazard": it["properties"]["avarisk:hazard"],
            "avarisk:alert_threshold": it["properties"]["avarisk:alert_threshold"],
            "avarisk:alert_active": it["properties"]["avarisk:alert"]["active"],
        }));
    }
    let mut c = json!({
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": input.site_id,
        "title": format!("{}: daily avalanche risk maps", input.site_name),
        "description": format!(
            "Daily avalanche release probability (Cloud Optimized GeoTIFF), avarisk risk classes, warning zones \
             (GeoJSON), quicklooks and CAP alerts for {}, produced by avarisk.", input.site_name),
        "keywords": ["avalanche", "natural hazard", "risk"],
        "license": "various",
        "providers": [{"name": "avarisk", "roles": ["processor", "producer"]}],
        "extent": {
            "spatial": {"bbox": [[w, s, e, n]]},
            "temporal": {"interval": [[start, end]]},
        },
        "summaries": {"proj:epsg": epsg},
        "links": links,
        "avarisk:attribution": input.attribution,
    });
    if !input.attribution.is_empty() {
        c["description"] =
            json!(format!("{} Data: {}.", c["description"].as_str().unwrap_or(""), input.attribution.join("; ")));
    }
    Ok(c)
}
