//! Units of the quantities avarisk reads, and conversion to the canonical ones. The canonical units are listed once,
//! in [`super::weather::Variable`]; source files declare theirs (`unit = "degF"`) and are converted on reading.
use std::fmt;
use std::str::FromStr;

/// A unit a source may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Millimetre,
    Centimetre,
    Metre,
    Inch,
    DegreeCelsius,
    DegreeFahrenheit,
    Kelvin,
    MetrePerSecond,
    KilometrePerHour,
    MilePerHour,
    Knot,
    Degree,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dimension {
    Length,
    Temperature,
    Speed,
    Angle,
}

impl Unit {
    fn dimension(self) -> Dimension {
        use Unit::*;
        match self {
            Millimetre | Centimetre | Metre | Inch => Dimension::Length,
            DegreeCelsius | DegreeFahrenheit | Kelvin => Dimension::Temperature,
            MetrePerSecond | KilometrePerHour | MilePerHour | Knot => Dimension::Speed,
            Degree => Dimension::Angle,
        }
    }

    /// The spelling used in configuration files.
    pub fn name(self) -> &'static str {
        use Unit::*;
        match self {
            Millimetre => "mm",
            Centimetre => "cm",
            Metre => "m",
            Inch => "in",
            DegreeCelsius => "degC",
            DegreeFahrenheit => "degF",
            Kelvin => "K",
            MetrePerSecond => "m/s",
            KilometrePerHour => "km/h",
            MilePerHour => "mph",
            Knot => "kn",
            Degree => "deg",
        }
    }

    /// Converts `v` from this unit to `to`; `None` when the units measure different things.
    pub fn convert(self, v: f64, to: Unit) -> Option<f64> {
        use Unit::*;
        if self.dimension() != to.dimension() {
            return None;
        }
        // Through a base unit per dimension: mm, degC, m/s, deg.
        let base = match self {
            Millimetre => v,
            Centimetre => v * 10.0,
            Metre => v * 1000.0,
            Inch => v * 25.4,
            DegreeCelsius => v,
            DegreeFahrenheit => (v - 32.0) * 5.0 / 9.0,
            Kelvin => v - 273.15,
            MetrePerSecond => v,
            KilometrePerHour => v / 3.6,
            MilePerHour => v * 0.44704,
            Knot => v * 0.514444,
            Degree => v,
        };
        Some(match to {
            Millimetre => base,
            Centimetre => base / 10.0,
            Metre => base / 1000.0,
            Inch => base / 25.4,
            DegreeCelsius => base,
            DegreeFahrenheit => base * 9.0 / 5.0 + 32.0,
            Kelvin => base + 273.15,
            MetrePerSecond => base,
            KilometrePerHour => base * 3.6,
            MilePerHour => base / 0.44704,
            Knot => base / 0.514444,
            Degree => base,
        })
    }
}

impl FromStr for Unit {
    type Err = String;
    fn from_str(s: &str) -> Result<Unit, String> {
        use Unit::*;
        Ok(match s.trim() {
            "mm" => Millimetre,
            "cm" => Centimetre,
            "m" => Metre,
            "in" | "inch" => Inch,
            "degC" | "°C" | "C" => DegreeCelsius,
            "degF" | "°F" | "F" => DegreeFahrenheit,
            "K" => Kelvin,
            "m/s" | "ms" => MetrePerSecond,
            "km/h" | "kmh" => KilometrePerHour,
            "mph" => MilePerHour,
            "kn" | "knots" => Knot,
            "deg" | "°" => Degree,
            other => {
                return Err(format!(
                    "unknown unit `{other}`: use mm, cm, m, in, degC, degF, K, m/s, km/h, mph, kn or deg"
                ))
            }
        })
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Unit::*;
    use super::*;

    #[test]
    fn conversions() {
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(Inch.convert(1.0, Millimetre), 25.4));
        assert!(close(Metre.convert(1.62, Centimetre), 162.0));
        assert!(close(DegreeFahrenheit.convert(32.0, DegreeCelsius), 0.0));
        assert!(close(DegreeFahrenheit.convert(-40.0, DegreeCelsius), -40.0));
        assert!(close(KilometrePerHour.convert(36.0, MetrePerSecond), 10.0));
        assert_eq!(Inch.convert(1.0, DegreeCelsius), None);
        assert_eq!("km/h".parse::<Unit>(), Ok(KilometrePerHour));
        assert!("furlong".parse::<Unit>().is_err());
    }
}

/// A source column and the unit its values are in.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub column: String,
    pub unit: Unit,
}
