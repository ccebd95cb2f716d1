//! Aspect: the compass direction a slope faces (its downslope direction), degrees clockwise from north
//! (0 = north, 90 = east, 180 = south, 270 = west), from Horn's gradient, as `gdaldem aspect` computes it.
//! Flat cells have no aspect (nodata in `aspect`, 0 in `aspect_sin`/`aspect_cos`).
//! Models see aspect as (sin, cos): east-west and north-south components without the 359/0 wrap.
use super::window::horn;

/// Degrees in [0, 360), NaN on flat cells.
#[inline]
pub fn aspect_deg(w: &[f64; 9], res: f64) -> f32 {
    let (gx, gy) = horn(w, res);
    if gx == 0.0 && gy == 0.0 {
        return f32::NAN;
    }
    let a = (-gx as f32).atan2(-gy as f32).to_degrees();
    if a < 0.0 {
        a + 360.0
    } else {
        a
    }
}

/// (sin, cos) of the aspect: east and north components of the unit downslope direction; (0, 0) on flat cells.
#[inline]
pub fn aspect_sin_cos(w: &[f64; 9], res: f64) -> (f32, f32) {
    let (gx, gy) = horn(w, res);
    let g = (gx * gx + gy * gy).sqrt();
    if g == 0.0 {
        return (0.0, 0.0);
    }
    ((-gx / g) as f32, (-gy / g) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_rising_to_the_north_faces_south() {
        // Top row (north) highest.
        let w = [20.0, 20.0, 20.0, 10.0, 10.0, 10.0, 0.0, 0.0, 0.0];
        assert!((aspect_deg(&w, 10.0) - 180.0).abs() < 1e-4);
        let (s, c) = aspect_sin_cos(&w, 10.0);
        assert!(s.abs() < 1e-6 && (c + 1.0).abs() < 1e-6);
        // Rising to the west faces east.
        let w = [20.0, 10.0, 0.0, 20.0, 10.0, 0.0, 20.0, 10.0, 0.0];
        assert!((aspect_deg(&w, 10.0) - 90.0).abs() < 1e-4);
        assert!(aspect_deg(&[1.0; 9], 10.0).is_nan());
    }
}
