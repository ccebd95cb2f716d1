//! Training samples: windows of the site grid around recorded avalanches, with terrain channels and dense labels.
//!
//! **What the network must learn is the map.** Users receive a map scored cell by cell: at a later recorded
//! avalanche against other cells of the same area. Training windows are drawn so that nothing but terrain tells a
//! start zone from the cells around it:
//!
//! - *No position in the window.* Each event gets a window of `patch` x `patch` cells placed so that the event falls
//!   uniformly anywhere in its labelled centre (the cells more than `context` from the window's edges). Every valid
//!   cell of the centre is labelled: positive on start zones (within the label radius of a recorded event of the
//!   window's winter), negative elsewhere. Positives and negatives are spread over the centre alike, so the position
//!   of a pixel in its window says nothing about its label. (An earlier design placed the event in the window's
//!   central half and drew negatives over the whole window; the network learnt the sampling frame: probability 0.01
//!   in the outer cells of every window and 0.6-0.7 in the centre, whatever the terrain.)
//! - *The same context as the map.* The `context` margin is never labelled; [`crate::predict`] reads the same margin
//!   around each tile it predicts, so every cell is predicted from the context it was trained with.
//! - *Controls as the map is scored.* Each event also gets `background` windows centred uniformly within
//!   `control_radius_m` (15 km), the radius [`crate::evaluate`] draws its controls from.
//! - *No label crosses a winter split.* A start zone of another winter inside a window is left unlabelled: a window of
//!   a training winter never says anything about a held-back winter's release cells.
//!
//! **Channels** ([`channels::CHANNELS`]): terrain only: elevation, the feature stack's bands, topographic position at
//! 1 and 4 km. The weather of a day is one value per window and cases and controls share it, so a design on places
//! cannot learn from it; *when* is the day-level hazard's job ([`days`]).
//!
//! Records follow where people travel (accident data): the controls are cells of the same area, visited or not, so a
//! high score partly reflects that accident terrain is where people go.
//!
//! **Splits** are by winter (October to September), never by pixel: neighbouring pixels of one event are always on
//! the same side. Normalisation statistics come from the training split only and travel with the model.
pub mod channels;
pub mod days;
pub mod sample;

pub use channels::{SiteRasters, CHANNELS};
pub use sample::{build, winter_of, Samples, SamplingParams};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path} is missing: {hint}")]
    Missing { path: String, hint: String },
    #[error("{path}: band `{band}` not found (bands: {bands})")]
    Band { path: String, band: String, bands: String },
    #[error(transparent)]
    Geo(#[from] crate::geo::GeoError),
    #[error(transparent)]
    Observations(#[from] crate::ingest::observations::ObservationError),
    #[error("{path}: {reason}")]
    Regional { path: String, reason: String },
    #[error("no sample could be built for site `{site}`: {reason}")]
    Empty { site: String, reason: String },
    #[error("tensor: {0}")]
    Tensor(#[from] tch::TchError),
}
