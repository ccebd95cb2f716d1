//! Ingest: bring outside data onto the site. [`dem`] warps and mosaics the DEM sources onto the site grid;
//! [`observations`] reads avalanche records (CSV, GeoJSON, LAWIS...) into dated events on the grid; [`weather`] fetches
//! daily weather (Open-Meteo archive and forecast, station files) into the site's weather store.
pub mod dem;
pub mod observations;
pub mod weather;
