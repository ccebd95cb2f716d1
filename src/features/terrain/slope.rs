//! Slope angle (Horn 1981), degrees from horizontal, as `gdaldem slope -alg Horn` computes it.
use super::window::horn;

#[inline]
pub fn slope_deg(w: &[f64; 9], res: f64) -> f32 {
    let (gx, gy) = horn(w, res);
    // Gradient in f64 (exact differences of elevations); the angle in f32, the precision of the output.
    ((gx * gx + gy * gy).sqrt() as f32).atan().to_degrees()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_five_degrees_on_a_unit_ramp() {
        // z rises 10 m per 10 m cell to the east.
        let w = [0.0, 10.0, 20.0, 0.0, 10.0, 20.0, 0.0, 10.0, 20.0];
        assert!((slope_deg(&w, 10.0) - 45.0).abs() < 1e-4);
        assert_eq!(slope_deg(&[5.0; 9], 10.0), 0.0);
    }
}
