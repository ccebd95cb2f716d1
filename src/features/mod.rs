//! Features: what the models see. `terrain` derives static terrain channels from the site DEM; weather features
//! follow in the weather ingest work.
pub mod terrain;
pub mod weather;
