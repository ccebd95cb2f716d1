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
//! **Temporal negatives (learning *when*).** With `temporal_negatives` > 0 and regional daily weather for the site
//! (`sites/<id>/weather/cantons/*.csv`, Open-Meteo historical-weather exports, ERA5-based, at canton capitals; the
//! Swiss site has them for 2018-2023), every event whose day they cover also gets that many patches at its own patch
//! location and pixels on other December-April days of its winter, drawn among the days without any recorded event
//! within `context_radius_m` of its start zone, each with *that day's* weather and every labelled pixel negative. Only
//! the weather differs between the event's patch and these, so they are what makes the weather channels earn their
//! place. They carry the event's winter, so winter-blocked splits keep them with their event.
//!
//! **The trap: one weather source per event.** The weather recorded with SLF accidents is IMIS station means; the
//! regional exports are Open-Meteo model values at valley points. Were the positive to keep its IMIS weather while its
//! temporal negatives carry Open-Meteo weather, "IMIS-looking weather" would mean "accident" and the network would
//! learn the source, not the danger. So every patch of an event that takes part in the temporal design (its event
//! patch, its same-day context patch and its temporal negatives) takes its weather from the regional exports: the
//! nearest point's air temperature, carried to the event's start-zone elevation with the lapse rate of the daily
//! weather channels (-6.5 deg C/km), constant over the patch as recorded weather is. The exports have no snow depth or
//! wind, so those channels are missing (the training mean) for these patches, on both sides. Events outside the
//! exports' years keep their recorded weather, and their cases and controls still share it, so the source never
//! separates labels. The target (western Tyrol, LAWIS) records carry Open-Meteo values per incident as well, so this
//! source is also the closer one to the target's.
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
pub use sample::{build, winter_of, PatchKind, Samples, SamplingParams};

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
