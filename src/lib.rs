//! avarisk turns terrain rasters and weather into daily avalanche-risk maps.
//!
//! The data flow (module in brackets):
//!
//! ```text
//!  sites/*/site.toml, pipelines/*.toml ──[config]──► validated Plan (every problem at once)
//!
//!  DEM sources ──[ingest::dem]──► terrain/dem.tif ──[features::terrain]──► terrain/features.tif
//!  avalanche records ──[ingest::observations]──► observations/events.parquet
//!  weather API / station files ──[ingest::weather]──► weather/daily.parquet ──[features::weather]──► day features
//!
//!  terrain + events ──[dataset]──► windows ──[train]──► network bundle [model]          (where)
//!  regional weather + events ──[hazard]──► hazard.json                                  (when)
//!  bundle ──[predict]──► susceptibility.tif ─┬─[predict::day]──► predictions/<day>.tif ──[publish]──► COG, STAC,
//!  day features ──[hazard]──► regional hazard ┘                                          zones, quicklook, CAP
//!  published maps + held-back records ──[evaluate]──► map-level scores, season verification
//! ```
//!
//! `pipeline` is the only module that knows the order of the stages; `store` knows where each output lives (under
//! `<root>/sites/<site>/`); `geo` holds the grid, CRS and raster I/O every stage shares.
// In the order data flows: shared foundations, then ingest -> features -> dataset -> model/train/hazard -> predict ->
// evaluate/publish -> serve, then what drives them (pipeline, cli).
pub mod geo;
pub mod vocab;
pub mod config;
pub mod store;
pub mod ingest;
pub mod features;
pub mod dataset;
pub mod model;
pub mod train;
pub mod hazard;
pub mod predict;
pub mod evaluate;
pub mod experiments;
pub mod publish;
pub mod serve;
pub mod pipeline;
pub mod cli;
