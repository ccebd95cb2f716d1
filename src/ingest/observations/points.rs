//! Point batches through a CRS transformation, with a verdict per point: one bad record must not fail (or silently
//! shift) the others, so points a geographic CRS cannot hold are not sent, and PROJ's per-point success is kept.
use std::ffi::c_int;

use gdal::spatial_ref::CoordTransform;

use crate::geo::{Crs, GeoError};

/// A transformation from one CRS to another, x = easting/longitude, y = northing/latitude on both sides.
pub struct PointTransform {
    t: CoordTransform,
    geographic: bool,
}

impl PointTransform {
    pub fn new(from: &Crs, to: &Crs) -> Result<PointTransform, GeoError> {
        let src = from.spatial_ref()?;
        let t = CoordTransform::new(&src, &to.spatial_ref()?).map_err(|e| GeoError::Transform {
            what: "observation coordinates".into(),
            from: from.to_string(),
            to: to.to_string(),
            source: Box::new(e),
        })?;
        Ok(PointTransform { t, geographic: src.is_geographic() })
    }

    /// Whether (x, y) can be a position of the source CRS: longitude in [-180, 180] and latitude in [-90, 90] for a
    /// geographic CRS, any finite pair otherwise.
    pub fn plausible(&self, (x, y): (f64, f64)) -> bool {
        x.is_finite()
            && y.is_finite()
            && (!self.geographic || ((-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y)))
    }

    /// Transforms `points`; `None` where the point is not [`Self::plausible`] or PROJ cannot transform it.
    pub fn apply(&self, points: &[(f64, f64)]) -> Vec<Option<(f64, f64)>> {
        let sent: Vec<usize> = (0..points.len()).filter(|&i| self.plausible(points[i])).collect();
        let mut xs: Vec<f64> = sent.iter().map(|&i| points[i].0).collect();
        let mut ys: Vec<f64> = sent.iter().map(|&i| points[i].1).collect();
        let mut ok: Vec<c_int> = vec![0; sent.len()];
        if !sent.is_empty() {
            // SAFETY: the transformation handle lives as long as `self.t`; xs, ys and ok hold sent.len() values each
            // and z may be null. The return value only says whether all points succeeded: `ok` has the per-point
            // answer.
            unsafe {
                gdal_sys::OCTTransformEx(
                    self.t.to_c_hct(),
                    sent.len() as c_int,
                    xs.as_mut_ptr(),
                    ys.as_mut_ptr(),
                    std::ptr::null_mut(),
                    ok.as_mut_ptr(),
                );
            }
        }
        let mut out = vec![None; points.len()];
        for (k, &i) in sent.iter().enumerate() {
            if ok[k] != 0 && xs[k].is_finite() && ys[k].is_finite() {
                out[i] = Some((xs[k], ys[k]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_points_are_not_sent_and_the_others_still_transform() {
        let t = PointTransform::new(&Crs::wgs84(), &Crs::from_epsg(2056).unwrap()).unwrap();
        let out = t.apply(&[(8.0, 46.5), (46.5, 120.0), (f64::NAN, 1.0), (9.8, 46.8)]);
        assert!(out[0].is_some() && out[3].is_some());
        assert_eq!((out[1], out[2]), (None, None));
        let (x, y) = out[0].unwrap();
        assert!((x - 2_643_000.0).abs() < 10_000.0 && (y - 1_150_000.0).abs() < 10_000.0, "{x} {y}");
    }
}
