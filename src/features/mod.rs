//! Features: what the models see. [`terrain`] derives the static terrain channels from the site DEM (slope, aspect,
//! curvature, TPI, wind shelter, PRA, ...: the susceptibility network's inputs); [`weather`] turns the daily weather
//! store into the day's channels on the site grid (new snow, temperatures, wind, downscaled with elevation) and the
//! per-point day features the hazard model reads.
pub mod terrain;
pub mod weather;
