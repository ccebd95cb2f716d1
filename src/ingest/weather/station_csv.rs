//! Daily station files: NRCS SNOTEL, SLF IMIS, or any CSV with a declared column mapping, converted to the canonical
//! table ([`super::schema`]).
use std::str::FromStr;

use super::schema::Variable;
use super::units::{ColumnSpec, Unit};

/// Layout of a station file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StationFormat {
    /// NRCS SNOTEL daily CSV report (`#` comment header, inches and deg F).
    Snotel,
    /// SLF IMIS daily CSV (`;`-separated, one file for many stations, `station_code` column).
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

    pub fn default_date_column(self) -> Option<&'static str> {
        match self {
            StationFormat::Snotel => Some("Date"),
            StationFormat::Imis => Some("measure_date"),
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
                c(Variable::Precip, "Precipitation Increment (in)", Unit::Inch),
                c(Variable::TMax, "Air Temperature Maximum (degF)", Unit::DegreeFahrenheit),
                c(Variable::TMin, "Air Temperature Minimum (degF)", Unit::DegreeFahrenheit),
                c(Variable::TMean, "Air Temperature Average (degF)", Unit::DegreeFahrenheit),
            ],
            StationFormat::Imis => vec![
                c(Variable::SnowDepth, "HS", Unit::Centimetre),
                c(Variable::TMean, "TA_30MIN_MEAN", Unit::DegreeCelsius),
                c(Variable::WindSpeed, "VW_30MIN_MEAN", Unit::MetrePerSecond),
                c(Variable::WindDir, "DW_30MIN_MEAN", Unit::Degree),
            ],
            StationFormat::Csv => Vec::new(),
        }
    }
}
