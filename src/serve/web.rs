//! The web map and the OpenAPI document, embedded in the binary at build time (no CDN, no npm at run time).
//!
//! `web/` holds the page (`index.html`, `app.js`, `app.css`) and Leaflet 1.9.4's dist files with their licence under
//! `web/vendor/leaflet/` (from `npm pack leaflet@1.9.4`, unmodified).
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;

use super::conditional::{respond, Validators};
use super::ApiError;

macro_rules! asset {
    ($path:literal, $ty:literal) => {
        ($path, $ty, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)) as &[u8])
    };
}

/// Path under `/static/`, media type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("vendor/leaflet/leaflet.js", "text/javascript; charset=utf-8"),
    asset!("vendor/leaflet/leaflet.css", "text/css; charset=utf-8"),
    asset!("vendor/leaflet/LICENSE", "text/plain; charset=utf-8"),
    asset!("vendor/leaflet/images/layers.png", "image/png"),
    asset!("vendor/leaflet/images/layers-2x.png", "image/png"),
    asset!("vendor/leaflet/images/marker-icon.png", "image/png"),
    asset!("vendor/leaflet/images/marker-icon-2x.png", "image/png"),
    asset!("vendor/leaflet/images/marker-shadow.png", "image/png"),
];

/// The hand-written OpenAPI 3.0 description of every endpoint.
pub const OPENAPI: &str = include_str!("openapi.json");

fn asset(name: &str, req: &HeaderMap) -> Result<Response, ApiError> {
    let (_, ty, bytes) = ASSETS.iter().find(|(p, _, _)| *p == name).ok_or(ApiError::NotFound)?;
    Ok(respond(req, &Validators::of_body(bytes, None), ty, bytes.to_vec()))
}

/// `GET /`: the map page.
pub async fn index(req: HeaderMap) -> Result<Response, ApiError> {
    asset("index.html", &req)
}

/// `GET /static/{*path}`: the page's scripts, styles and images.
pub async fn static_file(Path(path): Path<String>, req: HeaderMap) -> Result<Response, ApiError> {
    asset(&path, &req)
}

/// `GET /openapi.json`.
pub async fn openapi(req: HeaderMap) -> Result<Response, ApiError> {
    Ok(respond(&req, &Validators::of_body(OPENAPI.as_bytes(), None), "application/json", OPENAPI.as_bytes().to_vec()))
}
