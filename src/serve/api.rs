//! The JSON and file endpoints: sites, STAC Collection and Items, dates, zones, COG files and tiles.
use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::conditional::{respond, Validators};
use super::paths::{self, Reject};
use super::source::Blob;
use super::tiles::{self, TileId};
use super::{ApiError, AppState};

const JSON: &str = "application/json";
const GEOJSON: &str = "application/geo+json";

fn json_body(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

fn parse_json(blob: &Blob, what: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(&blob.bytes)
        .map_err(|e| ApiError::Internal(format!("published {what} is not valid JSON: {e}")))
}

/// `GET /api/sites`: every published site with its extent, latest day and links.
pub async fn sites(State(s): State<Arc<AppState>>, req: HeaderMap) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for id in s.source.sites().await {
        let Ok(blob) = s.source.collection(&id).await else { continue };
        let Ok(c) = parse_json(&blob, "collection") else { continue };
        let dates = s.source.dates(&id).await.unwrap_or_default();
        let latest = s.source.latest(&id).await.ok();
        out.push(json!({
            "id": id,
            "title": c.get("title").cloned().unwrap_or(Value::String(id.clone())),
            "description": c.get("description").cloned().unwrap_or(Value::Null),
            "bbox": c.pointer("/extent/spatial/bbox/0").cloned().unwrap_or(Value::Null),
            "latest": latest.map(|d| d.to_string()),
            "dates": dates.len(),
            "links": {
                "collection": format!("/api/sites/{id}"),
                "dates": format!("/api/sites/{id}/dates"),
                "latest": format!("/api/sites/{id}/latest"),
            },
        }));
    }
    let body = json_body(&json!({ "sites": out }));
    // ETag only: the answer also changes when a day is published without the collection file changing.
    Ok(respond(&req, &Validators::of_body(&body, None), JSON, body))
}

/// `GET /api/sites/{id}`: the site's STAC Collection as published.
pub async fn collection(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    let blob = s.source.collection(&id).await?;
    Ok(respond(&req, &blob.validators, JSON, blob.bytes))
}

/// `GET /api/sites/{id}/dates`: published days, oldest first, and the latest.
pub async fn dates(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    let dates: Vec<String> = s.source.dates(&id).await?.iter().map(|d| d.to_string()).collect();
    let latest = s.source.latest(&id).await.ok().map(|d| d.to_string());
    let body = json_body(&json!({ "site": id, "dates": dates, "latest": latest }));
    Ok(respond(&req, &Validators::of_body(&body, None), JSON, body))
}

/// `GET /api/sites/{id}/{date}`: the day's STAC Item, asset links pointing at this server's `/files/`.
pub async fn item(
    State(s): State<Arc<AppState>>,
    Path((id, date)): Path<(String, String)>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    item_response(&s, &id, &date, &req).await
}

/// `GET /api/sites/{id}/latest`: the STAC Item of the latest day (`Content-Location` names the dated URL).
pub async fn latest(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    let day = s.source.latest(&id).await?.to_string();
    let mut r = item_response(&s, &id, &day, &req).await?;
    if let Ok(v) = HeaderValue::from_str(&format!("/api/sites/{id}/{day}")) {
        r.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    Ok(r)
}

async fn item_response(s: &AppState, id: &str, day: &str, req: &HeaderMap) -> Result<Response, ApiError> {
    let blob = s.source.day_blob(id, day, "item.json").await?;
    let mut item = parse_json(&blob, "item")?;
    if let Some(assets) = item.get_mut("assets").and_then(Value::as_object_mut) {
        for asset in assets.values_mut() {
            let Some(href) = asset.get("href").and_then(Value::as_str) else { continue };
            if href.contains("://") || href.starts_with('/') {
                continue;
            }
            let name = href.trim_start_matches("./");
            if paths::file_name(name).is_ok() {
                asset["href"] = Value::String(format!("/files/{id}/{day}/{name}"));
            }
        }
    }
    let body = json_body(&item);
    Ok(respond(req, &Validators::of_body(&body, blob.validators.last_modified), GEOJSON, body))
}

/// `GET /api/sites/{id}/{date}/zones.geojson`: the day's danger zones (WGS84 polygons).
pub async fn zones(
    State(s): State<Arc<AppState>>,
    Path((id, date)): Path<(String, String)>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    let blob = s.source.day_blob(&id, &date, "zones.geojson").await?;
    Ok(respond(&req, &blob.validators, GEOJSON, blob.bytes))
}

/// `GET /files/{id}/{date}/{name}`: a published file, with byte ranges.
pub async fn file(
    State(s): State<Arc<AppState>>,
    Path((id, date, name)): Path<(String, String, String)>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    s.source.day_file(&id, &date, &name, &req).await
}

/// A raster's modification time and its footprint `[xmin, ymin, xmax, ymax]` in EPSG:3857.
type Footprint = (Option<SystemTime>, [f64; 4]);

/// Footprints of danger-class rasters, by path (recomputed when the file's modification time changes).
#[derive(Debug, Default)]
pub struct Footprints(std::sync::Mutex<HashMap<PathBuf, Footprint>>);

impl Footprints {
    async fn get(&self, path: &FsPath, mtime: Option<SystemTime>) -> Result<[f64; 4], ApiError> {
        if let Some((t, b)) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(path) {
            if *t == mtime {
                return Ok(*b);
            }
        }
        let p = path.to_path_buf();
        let b = tokio::task::spawn_blocking(move || tiles::footprint(&p))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(ApiError::Internal)?;
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(path.to_path_buf(), (mtime, b));
        Ok(b)
    }
}

/// `GET /tiles/{id}/{date}/{z}/{x}/{y}.png`: a Web Mercator tile of the day's danger classes.
pub async fn tile(
    State(s): State<Arc<AppState>>,
    Path((id, date, z, x, y)): Path<(String, String, u32, u32, String)>,
    req: HeaderMap,
) -> Result<Response, ApiError> {
    let y: u32 = y.strip_suffix(".png").and_then(|y| y.parse().ok()).ok_or(ApiError::NotFound)?;
    let tile = TileId::new(z, x, y).ok_or(ApiError::NotFound)?;
    let (path, raster) = s.source.class_raster(&id, &date).await?;
    let v = raster.salted(&format!("{}/{}/{}", tile.z, tile.x, tile.y));
    if v.not_modified(&req) {
        s.metrics.tile("not_modified");
        return Ok(v.not_modified_response());
    }
    let footprint = s.footprints.get(&path, raster.last_modified).await?;
    if !tiles::intersects(footprint, tile.bounds()) {
        s.metrics.tile("empty");
        return Ok(respond(&req, &v, "image/png", tiles::empty_png().to_vec()));
    }
    let _permit = s.tile_permits.acquire().await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let t = Instant::now();
    let rendered = tokio::task::spawn_blocking(move || tiles::render(&path, tile))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Internal)?;
    s.metrics.render(t.elapsed());
    s.metrics.tile(if rendered.is_some() { "rendered" } else { "empty" });
    let png = rendered.unwrap_or_else(|| tiles::empty_png().to_vec());
    Ok(respond(&req, &v, "image/png", png))
}

/// `GET /health`: the server is up and the published root is readable.
pub async fn health(State(s): State<Arc<AppState>>) -> Response {
    let sites = s.source.sites().await.len();
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "status": "ok", "sites": sites, "version": env!("CARGO_PKG_VERSION") })),
    )
        .into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        s.metrics.render_text(),
    )
        .into_response()
}

impl From<Reject> for ApiError {
    fn from(r: Reject) -> ApiError {
        match r {
            Reject::NotFound => ApiError::NotFound,
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}
