//! Terrain roughness from a 3x3 window, as `gdaldem` defines it:
//! - **TRI** (Riley et al. 1999, `gdaldem TRI -alg Riley`, the default since GDAL 3.3): square root of the sum of
//!   squared differences between the centre and its 8 neighbours, metres;
//! - **roughness** (`gdaldem roughness`): largest minus smallest value in the window, metres.
//!
//! The vector ruggedness measure used in release-area work lives in [`super::vrm`].

#[inline]
pub fn tri_riley(w: &[f64; 9]) -> f32 {
    let c = w[4];
    w.iter().map(|v| (v - c) * (v - c)).sum::<f64>().sqrt() as f32
}

#[inline]
pub fn range(w: &[f64; 9]) -> f32 {
    let (lo, hi) = w.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    (hi - lo) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tri_and_range_of_a_single_spike() {
        let mut w = [0.0; 9];
        w[0] = 3.0;
        w[8] = 4.0;
        assert_eq!(tri_riley(&w), 5.0);
        assert_eq!(range(&w), 4.0);
    }
}
