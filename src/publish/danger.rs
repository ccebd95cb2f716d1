//! The risk scale: the probability of a recorded release in a cell on a day -> **avarisk risk class** 1-5, drawn in
//! the EAWS colours.
//!
//! These are *not* the EAWS avalanche danger levels a warning service issues: they are not calibrated against
//! published danger levels, but against recorded accidents (per-site thresholds in site.toml, from
//! `avarisk verify`); this module only applies them. Class names say so ("Very low" .. "Very high", never the EAWS
//! level names). A class begins *at* its threshold: with thresholds `[t2, t3, t4, t5]`, `p < t2` is class 1 and
//! `p == t3` is class 3.

/// Class value for "no prediction" (nodata) in the danger-class raster.
pub const NO_LEVEL: u8 = 0;

/// What the classes are called wherever users read them (legend, STAC, CAP, web map).
pub const SCALE_NAME: &str = "avarisk risk class";

/// Class names, index = class - 1.
pub const LEVEL_NAMES: [&str; 5] = ["Very low", "Low", "Moderate", "High", "Very high"];

/// EAWS colours (RGB), index = level - 1: 1 #CCFF66, 2 #FFFF00, 3 #FF9900, 4 #FF0000. Level 5 is drawn by EAWS as a
/// red/black chequer; a colour table holds one colour per value, so the class raster uses its black (#000000) and
/// the quicklook draws the chequer ([`level5_chequer`]).
pub const EAWS_RGB: [[u8; 3]; 5] =
    [[0xCC, 0xFF, 0x66], [0xFF, 0xFF, 0x00], [0xFF, 0x99, 0x00], [0xFF, 0x00, 0x00], [0, 0, 0]];

/// Colour of level 5 at pixel (x, y) of a picture: EAWS's red/black chequer, `cell` px squares.
pub fn level5_chequer(x: usize, y: usize, cell: usize) -> [u8; 3] {
    if ((x / cell) + (y / cell)) % 2 == 0 {
        [0, 0, 0]
    } else {
        [0xFF, 0, 0]
    }
}

/// Probability thresholds at which danger levels 2, 3, 4 and 5 begin: strictly increasing, each in (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DangerScale {
    pub thresholds: [f32; 4],
}

impl DangerScale {
    /// Checks the thresholds; the message says what is wrong and is meant for the user (it names no file: the
    /// caller knows where the thresholds came from).
    pub fn check(&self) -> Result<(), String> {
        let t = self.thresholds;
        if t.iter().any(|v| !(v.is_finite() && *v > 0.0 && *v < 1.0)) {
            return Err(format!("danger thresholds {t:?}: each must lie strictly between 0 and 1"));
        }
        if t.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("danger thresholds {t:?}: must be strictly increasing (levels 2, 3, 4, 5)"));
        }
        Ok(())
    }

    /// Danger level 1..=5 of probability `p` (`p` in 0..1; a NaN counts as level 1, use [`DangerScale::class`] for
    /// rasters with nodata).
    pub fn level(&self, p: f32) -> u8 {
        1 + self.thresholds.iter().filter(|t| p >= **t).count() as u8
    }

    /// Class raster value of `p`: its level, or [`NO_LEVEL`] when `p` is NaN (no prediction).
    pub fn class(&self, p: f32) -> u8 {
        if p.is_nan() {
            NO_LEVEL
        } else {
            self.level(p)
        }
    }
}

/// The name of a level 1..=5 ("Considerable"), "no data" otherwise.
pub fn level_name(level: u8) -> &'static str {
    match level {
        1..=5 => LEVEL_NAMES[level as usize - 1],
        _ => "no data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_begin_at_their_threshold() {
        let s = DangerScale { thresholds: [0.1, 0.25, 0.5, 0.8] };
        s.check().unwrap();
        assert_eq!(s.level(0.0), 1);
        assert_eq!(s.level(0.099_999), 1);
        assert_eq!(s.level(0.1), 2);
        assert_eq!(s.level(0.25), 3);
        assert_eq!(s.level(0.499_99), 3);
        assert_eq!(s.level(0.5), 4);
        assert_eq!(s.level(0.8), 5);
        assert_eq!(s.level(1.0), 5);
        assert_eq!(s.class(f32::NAN), NO_LEVEL);
        assert_eq!(level_name(3), "Moderate");
        assert_eq!(level_name(1), "Very low");
    }

    #[test]
    fn rejects_unordered_or_out_of_range_thresholds() {
        assert!(DangerScale { thresholds: [0.1, 0.1, 0.5, 0.8] }.check().is_err());
        assert!(DangerScale { thresholds: [0.0, 0.2, 0.5, 0.8] }.check().is_err());
        assert!(DangerScale { thresholds: [0.1, 0.2, 0.5, 1.0] }.check().is_err());
        assert!(DangerScale { thresholds: [0.1, 0.2, f32::NAN, 0.8] }.check().is_err());
    }
}
