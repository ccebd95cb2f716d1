//! Training samples: patches of the site grid around recorded avalanches, with terrain and weather channels and
//! sparse labels.
//!
//! **Design (matched case-control).** For every recorded event, one patch of `patch` x `patch` cells holds the
//! event's start zone at a random offset (its cell and those within the label radius are positives) and `negatives`
//! valid cells of the same patch, at least `min_negative_distance_m` from any positive of that day, as negatives;
//! a second patch, centred on a random valid cell within `context_radius_m` of the event, holds negatives only. All
//! other pixels are unlabelled and do not enter the loss. Positives and negatives share the day's weather (the
//! weather recorded with the event), so the weather channels carry no signal about *which days* are dangerous in this
//! design: it learns *where*, given the day. Records follow where people travel (accident data), so negatives drawn
//! near events are near popular terrain too: the design compares skied terrain that released with skied terrain
//! that did not, which is what a risk map for the same users needs, and says nothing about unvisited terrain.
//!
//! **Channels** ([`channels::CHANNELS`]): terrain from the site's feature stack and DEM, multi-scale topographic
//! position (TPI at 1 and 4 km, for a receptive field of several kilometres at 90 m), and the harmonised weather
//! variables both source (SLF/IMIS) and target (LAWIS/Open-Meteo) records carry: air temperature, snow depth, wind
//! speed. New snow is left out: LAWIS only has 3-day sums. A missing weather value becomes the training mean (0 after
//! normalisation).
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
    #[error("no sample could be built for site `{site}`: {reason}")]
    Empty { site: String, reason: String },
    #[error("tensor: {0}")]
    Tensor(#[from] tch::TchError),
}
