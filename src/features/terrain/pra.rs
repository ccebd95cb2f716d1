//! Fuzzy potential release areas (PRA) after Veitinger, Purves & Sovilla (2016, NHESS 16, 2211-2225), with the
//! membership parameters of their reference implementation (as reimplemented in AutoATES v2, Toft et al. 2023):
//!
//! - slope (degrees): bell(a = 11, b = 4, c = 43), most likely release between ~32 and ~54 degrees;
//! - roughness (VRM): bell(a = 0.01, b = 5, c = -0.007), smooth snow-covered terrain is favoured;
//! - wind shelter (radians): bell(a = 3, b = 10, c = 3), sheltered (lee) terrain is favoured.
//!
//! bell(x) = 1 / (1 + |(x - c) / a|^(2b)). Memberships combine with Veitinger's fuzzy AND:
//! PRA = (1 - m) m + m (mu_slope + mu_rough + mu_wind) / 3 with m = min(mu). Result in [0, 1].
//! A physics-informed baseline and model input; it knows nothing about the weather of a day.

#[derive(Debug, Clone, Copy)]
pub struct Bell {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Bell {
    #[inline]
    pub fn at(&self, x: f64) -> f64 {
        1.0 / (1.0 + ((x - self.c) / self.a).abs().powf(2.0 * self.b))
    }
}

pub const SLOPE: Bell = Bell { a: 11.0, b: 4.0, c: 43.0 };
pub const ROUGHNESS: Bell = Bell { a: 0.01, b: 5.0, c: -0.007 };
pub const WIND_SHELTER: Bell = Bell { a: 3.0, b: 10.0, c: 3.0 };

/// PRA membership from slope (degrees), VRM and wind shelter (radians); NaN if any input is missing.
#[inline]
pub fn pra(slope_deg: f32, vrm: f32, shelter_rad: f32) -> f32 {
    if slope_deg.is_nan() || vrm.is_nan() || shelter_rad.is_nan() {
        return f32::NAN;
    }
    let (s, r, w) = (SLOPE.at(slope_deg as f64), ROUGHNESS.at(vrm as f64), WIND_SHELTER.at(shelter_rad as f64));
    let m = s.min(r).min(w);
    ((1.0 - m) * m + m * (s + r + w) / 3.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steep_smooth_sheltered_slopes_are_release_areas_and_flats_are_not() {
        let steep = pra(40.0, 0.001, 0.2);
        let flat = pra(5.0, 0.001, 0.2);
        let cliff = pra(75.0, 0.001, 0.2);
        let rugged = pra(40.0, 0.05, 0.2);
        assert!(steep > 0.8, "{steep}");
        assert!(flat < 0.01 && cliff < 0.05 && rugged < 0.05, "{flat} {cliff} {rugged}");
        assert!(pra(f32::NAN, 0.0, 0.0).is_nan());
    }
}
