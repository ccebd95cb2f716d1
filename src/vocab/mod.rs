//! The vocabulary configuration and stages share: units and their conversions, the canonical weather variables and
//! source formats, the terrain feature names. A leaf: it depends on nothing else of avarisk, so `config` can validate
//! against it without importing a stage.
pub mod terrain;
pub mod units;
pub mod weather;
