//! `avarisk serve`: a read-only HTTP API, map tiles and a web map over the published outputs
//! (`<root>/published/<site>/...`, see [`crate::store`], or with `--from s3://bucket/prefix` the bucket the pipeline
//! uploads to, see [`bucket`]), for dashboards that poll and people who look.
//!
//! ```text
//!  GET /                                       web map (Leaflet, embedded)
//!  GET /api/sites                              sites with extent, latest day, links
//!  GET /api/sites/{id}                         STAC Collection
//!  GET /api/sites/{id}/dates                   published days
//!  GET /api/sites/{id}/latest                  STAC Item of the latest day
//!  GET /api/sites/{id}/{date}                  STAC Item (asset hrefs point at /files/)
//!  GET /api/sites/{id}/{date}/zones.geojson    danger zones, WGS84
//!  GET /files/{id}/{date}/{name}               published files (COGs with byte ranges)
//!  GET /tiles/{id}/{date}/{z}/{x}/{y}.png      danger classes, Web Mercator XYZ tiles
//!  GET /health, /metrics, /openapi.json
//! ```
//!
//! Every answer carries an `ETag` (304 on `If-None-Match` / `If-Modified-Since`); only GET and HEAD exist (other
//! methods get 405); tile rendering (GDAL) runs on blocking threads behind a semaphore; requests time out.
pub mod api;
pub mod bucket;
pub mod conditional;
pub mod files;
pub mod metrics;
pub mod paths;
pub mod source;
pub mod tiles;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

/// How the server runs (the `avarisk serve` flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Output root; the server reads `<root>/published/` only (unless `from` is set).
    pub root: PathBuf,
    /// Serve from this bucket instead of the output root (`--from s3://bucket/prefix`).
    pub from: Option<crate::publish::bucket::Connection>,
    pub addr: SocketAddr,
    /// Origins allowed to call the API from a browser (`*` for any); none: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Longest time one request may take before it is answered 408.
    pub timeout: Duration,
    /// Tiles rendered at once (each holds a GDAL warp on a blocking thread).
    pub tile_concurrency: usize,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot serve {root}: {source}")]
    Root { root: String, source: std::io::Error },
    #[error(
        "cannot read {target}: {source}; check --from, AWS_ENDPOINT_URL, AWS_REGION and the credentials \
         (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    )]
    Bucket { target: String, source: Box<object_store::Error> },
    #[error("cannot listen on {addr}: {source}; pick another --addr or stop the process holding it")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("invalid --cors-origin `{origin}`: give an origin like https://dashboard.example.org, or *")]
    Cors { origin: String },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// An error answered to a client. Messages never carry filesystem paths; internal details go to the log only.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound,
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found".to_owned()),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log".to_owned())
            }
        };
        (status, Json(serde_json::json!({ "error": msg, "status": status.as_u16() }))).into_response()
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub source: source::Source,
    pub metrics: metrics::Metrics,
    pub tile_permits: Semaphore,
    pub footprints: api::Footprints,
}

/// The router with all routes and layers (what tests and the benchmark drive directly).
pub fn router(opts: &Options) -> Result<Router, ServeError> {
    build(opts).map(|(app, _)| app)
}

fn build(opts: &Options) -> Result<(Router, Arc<AppState>), ServeError> {
    let source = match &opts.from {
        Some(conn) => source::Source::Bucket(
            bucket::Remote::open(conn).map_err(|source| ServeError::Root { root: conn.target.to_string(), source })?,
        ),
        None => source::Source::Disk(
            paths::Published::open(&opts.root)
                .map_err(|source| ServeError::Root { root: opts.root.display().to_string(), source })?,
        ),
    };
    let state = Arc::new(AppState {
        source,
        metrics: metrics::Metrics::default(),
        tile_permits: Semaphore::new(opts.tile_concurrency.max(1)),
        footprints: api::Footprints::default(),
    });
    let mut app = Router::new()
        .route("/", get(web::index))
        .route("/static/{*path}", get(web::static_file))
        .route("/openapi.json", get(web::openapi))
        .route("/health", get(api::health))
        .route("/metrics", get(api::metrics))
        .route("/api/sites", get(api::sites))
        .route("/api/sites/{id}", get(api::collection))
        .route("/api/sites/{id}/dates", get(api::dates))
        .route("/api/sites/{id}/latest", get(api::latest))
        .route("/api/sites/{id}/{date}", get(api::item))
        .route("/api/sites/{id}/{date}/zones.geojson", get(api::zones))
        .route("/files/{id}/{date}/{name}", get(api::file))
        .route("/tiles/{id}/{date}/{z}/{x}/{y}", get(api::tile))
        .fallback(|| async { ApiError::NotFound })
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, opts.timeout));
    if !opts.cors_origins.is_empty() {
        app = app.layer(cors(&opts.cors_origins)?);
    }
    Ok((app.layer(axum::middleware::from_fn_with_state(state.clone(), count)).with_state(state.clone()), state))
}

fn cors(origins: &[String]) -> Result<CorsLayer, ServeError> {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| ServeError::Cors { origin: o.clone() }))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([
            axum::http::header::RANGE,
            axum::http::header::IF_NONE_MATCH,
            axum::http::header::IF_MODIFIED_SINCE,
        ])
        .expose_headers([
            axum::http::header::ETAG,
            axum::http::header::LAST_MODIFIED,
            axum::http::header::CONTENT_RANGE,
            axum::http::header::ACCEPT_RANGES,
        ]))
}

/// Counts every answer by route template and status for `/metrics`.
async fn count(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let method = req.method().clone();
    let resp = next.run(req).await;
    tracing::debug!(%method, route = %route, status = resp.status().as_u16(), "request");
    s.metrics.request(&route, resp.status().as_u16());
    resp
}

/// Serves until the process is stopped. Prints the URL to open on stdout once listening.
pub fn run(opts: &Options) -> Result<(), ServeError> {
    let (app, state) = build(opts)?;
    // Blocking threads (GDAL renders, file reads) stay alive a minute between jobs instead of 10 s, so a steady load
    // reuses them (and their GDAL/PROJ thread state) instead of churning through new ones.
    let rt =
        tokio::runtime::Builder::new_multi_thread().enable_all().thread_keep_alive(Duration::from_secs(60)).build()?;
    rt.block_on(async {
        if let source::Source::Bucket(b) = &state.source {
            b.check().await.map_err(|e| ServeError::Bucket { target: b.target().to_string(), source: Box::new(e) })?;
        }
        let listener = tokio::net::TcpListener::bind(opts.addr)
            .await
            .map_err(|source| ServeError::Bind { addr: opts.addr, source })?;
        let addr = listener.local_addr()?;
        println!("avarisk serve: open http://{addr}/ ({})", state.source.describe(&opts.root));
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(%addr, from = %state.source.describe(&opts.root), "serving");
        axum::serve(listener, app).await?;
        Ok(())
    })
}
