//! avarisk turns terrain rasters and weather into daily avalanche-risk maps.
//!
//! The data flow, in the order of the modules below:
//!
//! ```text
//!  sites/*/site.toml, pipelines/*.toml
//!        │  config: parse strictly, compile() into a validated Plan (every problem at once)
//!        ▼
//!  DEM sources (GeoTIFF, ESRI ASCII, SRTM .hgt, /vsizip/...)
//!        │  ingest::dem: warp + mosaic onto the site Grid (geo), validity mask as nodata
//!        ▼
//!  <root>/<site>/terrain/dem.tif
//!        │  features::terrain: block-streamed slope, aspect, curvature, roughness, wind shelter, PRA
//!        ▼
//!  <root>/<site>/terrain/features.tif   ──► (later) dataset → model → predict → publish
//! ```
//!
//! `pipeline` is the only module that knows the order of the stages; `store` knows where each output lives.
pub mod cli;
pub mod config;
pub mod dataset;
pub mod features;
pub mod geo;
pub mod ingest;
pub mod model;
pub mod pipeline;
pub mod store;
pub mod train;
