//! Weather vocabulary: the canonical daily variables (column names, units, valid ranges), the Open-Meteo endpoints and
//! variable names avarisk asks for, and the station-file layouts it reads. Configuration validates against these;
//! `ingest::weather` reads with them.
use std::str::FromStr;

use super::units::{ColumnSpec, Unit};

/// A measured quantity of the canonical table, with its column name and canonical unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variable {
    NewSnow,
    SnowDepth,
    Precip,
    Rain,
    TMean,
    TMin,
    TMax,
    WindSpeed,
    WindDir,
}
impl Variable {
    pub const ALL: [Variable; 9] = [
        Variable::NewSnow,
        Variable::SnowDepth,
        Variable::Precip,
        Variable::Rain,
        Variable::TMean,
        Variable::TMin,
        Variable::TMax,
        Variable::WindSpeed,
        Variable::WindDir,
    ];

    pub fn column(self) -> &'static str {
        match self {
            Variable::NewSnow => "new_snow_cm",
            Variable::SnowDepth => "snow_depth_cm",
            Variable::Precip => "precip_mm",
            Variable::Rain => "rain_mm",
            Variable::TMean => "t_mean_c",
            Variable::TMin => "t_min_c",
            Variable::TMax => "t_max_c",
            Variable::WindSpeed => "wind_speed_ms",
            Variable::WindDir => "wind_dir_deg",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Variable::NewSnow | Variable::SnowDepth => Unit::Centimetre,
            Variable::Precip | Variable::Rain => Unit::Millimetre,
            Variable::TMean | Variable::TMin | Variable::TMax => Unit::DegreeCelsius,
            Variable::WindSpeed => Unit::MetrePerSecond,
            Variable::WindDir => Unit::Degree,
        }
    }

    /// Physically possible range in canonical units; values outside are source errors.
    pub fn valid_range(self) -> (f64, f64) {
        match self {
            Variable::NewSnow => (0.0, 300.0),
            Variable::SnowDepth => (0.0, 2000.0),
            Variable::Precip | Variable::Rain => (0.0, 500.0),
            Variable::TMean | Variable::TMin | Variable::TMax => (-70.0, 50.0),
            Variable::WindSpeed => (0.0, 120.0),
            Variable::WindDir => (0.0, 360.0),
        }
    }

    pub fn from_column(name: &str) -> Option<Variable> {
        Variable::ALL.iter().copied().find(|v| v.column() == name)
    }
}

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

/// Open-Meteo daily variables avarisk understands, and the canonical variable each fills.
pub const DAILY: [(&str, Variable); 8] = [
    ("snowfall_sum", Variable::NewSnow),
    ("precipitation_sum", Variable::Precip),
    ("rain_sum", Variable::Rain),
    ("temperature_2m_mean", Variable::TMean),
    ("temperature_2m_min", Variable::TMin),
    ("temperature_2m_max", Variable::TMax),
    ("wind_speed_10m_max", Variable::WindSpeed),
    ("wind_direction_10m_dominant", Variable::WindDir),
];

/// Hourly variables aggregated to the local day (mean over the day's hours).
pub const HOURLY: [(&str, Variable); 1] = [("snow_depth", Variable::SnowDepth)];

/// Layout of a station file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationFormat {
    /// NRCS SNOTEL daily CSV report (`#` comment header, inches and deg F), one station per file.
    Snotel,
    /// SLF IMIS daily CSV (`;`-separated, one file for many stations, `station_code` column).
    ///
    /// The defaults fit the daily measurements export (`imis_daily_*_measurements.csv`: `date` is the day, see the
    /// module docs). Its `DW_30MIN_MEAN` is an arithmetic mean of 30-min directions (350 and 10 deg average to 180), so
    /// it is not mapped by default; map `wind_dir_deg` yourself if you accept that. The snow export has no `date`
    /// column: read it with `date_column = "measure_date"` and e.g. `new_snow_cm = "HN_1D"`.
    Imis,
    /// Any CSV: `date_column` and `columns` declared in site.toml.
    Csv,
}
impl FromStr for StationFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "snotel" => Ok(StationFormat::Snotel),
            "imis" => Ok(StationFormat::Imis),
            "csv" => Ok(StationFormat::Csv),
            other => Err(format!("unknown station format `{other}`: use snotel, imis or csv")),
        }
    }
}
impl StationFormat {
    pub fn default_delimiter(self) -> u8 {
        match self {
            StationFormat::Imis => b';',
            _ => b',',
        }
    }

    /// The column holding the day (see the module docs for what day each format gives).
    pub fn default_date_column(self) -> Option<&'static str> {
        match self {
            StationFormat::Snotel => Some("Date"),
            // `date` is the aggregation day; `measure_date` is the first timestamp in it (same date part).
            StationFormat::Imis => Some("date"),
            StationFormat::Csv => None,
        }
    }

    pub fn default_station_column(self) -> Option<&'static str> {
        match self {
            StationFormat::Imis => Some("station_code"),
            _ => None,
        }
    }

    /// The column mapping the format declares (canonical variable <- source column, unit).
    pub fn default_columns(self) -> Vec<(Variable, ColumnSpec)> {
        let c = |v: Variable, column: &str, unit: Unit| (v, ColumnSpec { column: column.to_owned(), unit });
        match self {
            StationFormat::Snotel => vec![
                // PRCP: total precipitation of the day (the report's "Precipitation Increment").
                c(Variable::Precip, "Precipitation Increment (in)", Unit::Inch),
                c(Variable::TMax, "Air Temperature Maximum (degF)", Unit::DegreeFahrenheit),
                c(Variable::TMin, "Air Temperature Minimum (degF)", Unit::DegreeFahrenheit),
                c(Variable::TMean, "Air Temperature Average (degF)", Unit::DegreeFahrenheit),
            ],
            StationFormat::Imis => vec![
                // Daily median of the 30-min snow heights.
                c(Variable::SnowDepth, "HS", Unit::Centimetre),
                // Daily means of the 30-min means.
                c(Variable::TMean, "TA_30MIN_MEAN", Unit::DegreeCelsius),
                c(Variable::WindSpeed, "VW_30MIN_MEAN", Unit::MetrePerSecond),
            ],
            StationFormat::Csv => Vec::new(),
        }
    }
}
