//! avarisk turns terrain rasters and weather into daily avalanche-risk maps.
//!
//! The data flow (module in brackets):
//!
//! ```text
//!  sites/*/site.toml, pipelines/*.toml ──[config]──► validated Plan (every problem at once)
//!
//!  DEM sources ──[ingest::dem]──► terrain/dem.tif ──[features::terrain]──► terrain/features.tif
//!  weather API / station files ──[ingest::weather]──► weather/daily.parquet ──[features::weather]──► weather/features/<day>.tif
//!  avalanche records ──[ingest::observations]──► observations/events.parquet (+ event weather, label rasters)
//!
//!  features + events ──[dataset]──► patches ──[train]──► model bundle [model] ──► (next) predict ──► publish
//! ```
//!
//! `pipeline` is the only module that knows the order of the stages; `store` knows where each output lives (under
//! `<root>/sites/<site>/`); `geo` holds the grid, CRS and raster I/O every stage shares.
pub mod cli;
pub mod config;
pub mod dataset;
pub mod evaluate;
pub mod features;
pub mod geo;
pub mod hazard;
pub mod ingest;
pub mod model;
pub mod pipeline;
pub mod predict;
pub mod publish;
pub mod serve;
pub mod store;
pub mod train;
