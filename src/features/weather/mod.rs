//! Daily weather features: from the canonical daily table ([`crate::ingest::weather::schema`]) to per-point
//! features for a day ([`daily`], polars), spread onto the site grid as raster channels ([`grid`]).
//!
//! **Gaps are explicit.** A day without data is missing, never zero. Fill policy: temperature, snow depth and wind
//! speed gaps of up to `max_gap_days` between two known days are linearly interpolated; accumulations (new snow,
//! precipitation, rain) are never interpolated, so a window sum over a missing day is missing. A channel no point can
//! give for the day is refused with an error naming the site, day and points; a variable the source never provides
//! (e.g. snow depth from a source without it) makes its channels unavailable: written as nodata and listed in the
//! raster's metadata (`AVARISK_UNAVAILABLE`).
pub mod daily;
pub mod grid;

pub use crate::config::params::WeatherFeatureParams;
pub use daily::{daily_features, PointFeatures};
pub use grid::write_channels;

/// How a channel changes with elevation between a point and a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downscale {
    /// Add lapse rate x elevation difference.
    Temperature,
    /// Multiply by 1 + gradient x elevation difference / 100 m (clamped to [0, 3]).
    Snowfall,
    /// Same value at every elevation.
    None,
}

/// One weather raster channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    NewSnow24h,
    NewSnow72h,
    NewSnow7d,
    NewSnow14d,
    SnowDepthChange24h,
    TMean,
    TMax,
    Warming3d,
    RainOnSnow,
    WindSpeed,
    WindDrift,
    WindSectorSin,
    WindSectorCos,
}

impl Channel {
    pub const ALL: [Channel; 13] = [
        Channel::NewSnow24h,
        Channel::NewSnow72h,
        Channel::NewSnow7d,
        Channel::NewSnow14d,
        Channel::SnowDepthChange24h,
        Channel::TMean,
        Channel::TMax,
        Channel::Warming3d,
        Channel::RainOnSnow,
        Channel::WindSpeed,
        Channel::WindDrift,
        Channel::WindSectorSin,
        Channel::WindSectorCos,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Channel::NewSnow24h => "new_snow_24h",
            Channel::NewSnow72h => "new_snow_72h",
            Channel::NewSnow7d => "new_snow_7d",
            Channel::NewSnow14d => "new_snow_14d",
            Channel::SnowDepthChange24h => "snow_depth_change_24h",
            Channel::TMean => "t_mean",
            Channel::TMax => "t_max",
            Channel::Warming3d => "warming_3d",
            Channel::RainOnSnow => "rain_on_snow",
            Channel::WindSpeed => "wind_speed",
            Channel::WindDrift => "wind_drift",
            Channel::WindSectorSin => "wind_sector_sin",
            Channel::WindSectorCos => "wind_sector_cos",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Channel::NewSnow24h
            | Channel::NewSnow72h
            | Channel::NewSnow7d
            | Channel::NewSnow14d
            | Channel::SnowDepthChange24h => "cm",
            Channel::TMean | Channel::TMax | Channel::Warming3d => "degC",
            Channel::WindSpeed => "m/s",
            Channel::WindDrift => "m/s*cm",
            Channel::RainOnSnow | Channel::WindSectorSin | Channel::WindSectorCos => "1",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Channel::NewSnow24h => "new snow of the day",
            Channel::NewSnow72h => "new snow over the day and the 2 before",
            Channel::NewSnow7d => "new snow over the day and the 6 before",
            Channel::NewSnow14d => "new snow over the day and the 13 before",
            Channel::SnowDepthChange24h => "snow depth minus the previous day's",
            Channel::TMean => "mean 2 m air temperature of the day",
            Channel::TMax => "maximum 2 m air temperature of the day",
            Channel::Warming3d => "maximum temperature minus that of 3 days before",
            Channel::RainOnSnow => "1 when >= 2 mm rain fell on >= 10 cm snow (or on >= 10 cm new snow in 7 days)",
            Channel::WindSpeed => "wind speed of the day (the source's daily mean or max)",
            Channel::WindDrift => "wind-drift proxy: wind speed x new snow over 72 h",
            Channel::WindSectorSin => "sin of the centre of the 45-degree sector the wind blows from",
            Channel::WindSectorCos => "cos of the centre of the 45-degree sector the wind blows from",
        }
    }

    pub fn downscale(self) -> Downscale {
        match self {
            Channel::TMean | Channel::TMax => Downscale::Temperature,
            Channel::NewSnow24h | Channel::NewSnow72h | Channel::NewSnow7d | Channel::NewSnow14d => Downscale::Snowfall,
            _ => Downscale::None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WeatherFeatureError {
    #[error("site `{site}` has no weather for {date}: {detail}; ingest it first (`avarisk ingest weather --site {site} --from ... --to ...`)")]
    Missing { site: String, date: chrono::NaiveDate, detail: String },
    #[error("weather features: {0}")]
    Polars(String),
    #[error(transparent)]
    Geo(#[from] crate::geo::GeoError),
}
