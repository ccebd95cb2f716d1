//! Weather ingest: every source normalises to the canonical daily table ([`schema`]), stored per site in Parquet.
pub mod open_meteo;
pub mod schema;
pub mod station_csv;
pub mod units;
