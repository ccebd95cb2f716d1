//! Ingest: bring outside data onto the site. For now the DEM (`dem`); weather and observations follow.
pub mod dem;
pub mod observations;
pub mod weather;
