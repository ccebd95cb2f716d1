//! The Open-Meteo API: request URLs for the archive and forecast endpoints, and parsing of its daily JSON answer
//! into canonical rows.
use std::str::FromStr;

/// Which Open-Meteo endpoint a site queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/archive`: reanalysis, complete for past days.
    Archive,
    /// `/v1/forecast`: recent days and the days ahead.
    Forecast,
}

impl Endpoint {
    pub fn default_base_url(self) -> &'static str {
        match self {
            Endpoint::Archive => "https://archive-api.open-meteo.com",
            Endpoint::Forecast => "https://api.open-meteo.com",
        }
    }
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Archive => "/v1/archive",
            Endpoint::Forecast => "/v1/forecast",
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "archive" => Ok(Endpoint::Archive),
            "forecast" => Ok(Endpoint::Forecast),
            other => Err(format!("unknown Open-Meteo endpoint `{other}`: use archive or forecast")),
        }
    }
}
