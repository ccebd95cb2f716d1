//! Plattner's wind-shelter index (Plattner et al. 2004), as used for release areas by Veitinger et al. (2016):
//! the `quantile` of the elevation angles atan((z_i - z_0) / d_i) to the cells i within `radius` of the cell and
//! inside the sector centred on the direction the wind blows from (`tolerance` either side; 180 = all around).
//! Radians in (-pi/2, pi/2): positive = sheltered (terrain rises around/upwind), negative = exposed (ridges).
//! Missing cells are left out; a missing centre gives no value. The radius is at least 1.5 cells (the 8 neighbours).
use super::window::Strip;
pub use crate::config::params::WindShelterParams;

impl WindShelterParams {
    /// Search radius in cells at resolution `res`; at least 1.5 so the 8 neighbours always count.
    pub fn radius_cells(&self, res: f64) -> f64 {
        (self.radius_m / res).max(1.5)
    }

    /// Halo (cells) the index needs around a block.
    pub fn halo(&self, res: f64) -> usize {
        self.radius_cells(res).floor() as usize
    }

    /// (row offset, col offset, distance m) of every cell in the search sector.
    pub fn offsets(&self, res: f64) -> Vec<(isize, isize, f64)> {
        let rc = self.radius_cells(res);
        let r = rc.floor() as isize;
        let mut v = Vec::new();
        for dr in -r..=r {
            for dc in -r..=r {
                if (dr, dc) == (0, 0) || ((dr * dr + dc * dc) as f64).sqrt() > rc + 1e-9 {
                    continue;
                }
                // Azimuth of the offset, clockwise from north (rows run south).
                let az = (dc as f64).atan2(-(dr as f64)).to_degrees().rem_euclid(360.0);
                let diff = (az - self.direction_deg).rem_euclid(360.0);
                if diff.min(360.0 - diff) <= self.tolerance_deg + 1e-9 {
                    v.push((dr, dc, ((dr * dr + dc * dc) as f64).sqrt() * res));
                }
            }
        }
        v
    }
}

/// Wind shelter of output-relative row `r` into `out`. `scratch` is reused between calls.
pub fn shelter_row(
    s: &Strip,
    r: isize,
    offsets: &[(isize, isize, f64)],
    q: f64,
    scratch: &mut Vec<f64>,
    out: &mut [f32],
) {
    for (c, o) in out.iter_mut().enumerate() {
        let z0 = s.at(r, c as isize);
        if z0.is_nan() {
            *o = f32::NAN;
            continue;
        }
        scratch.clear();
        for &(dr, dc, d) in offsets {
            let zi = s.at(r + dr, c as isize + dc);
            if !zi.is_nan() {
                scratch.push(((zi - z0) as f64 / d).atan());
            }
        }
        *o = quantile(scratch, q).map_or(f32::NAN, |v| v as f32);
    }
}

/// Linear-interpolated quantile (numpy's default), reordering `v`.
pub fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, a, rest) = v.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
    let a = *a;
    if frac == 0.0 || rest.is_empty() {
        return Some(a);
    }
    let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
    Some(a + frac * (b - a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy() {
        assert_eq!(quantile(&mut [3.0, 1.0, 2.0, 4.0], 0.5), Some(2.5));
        assert_eq!(quantile(&mut [5.0], 0.5), Some(5.0));
        assert_eq!(quantile(&mut [1.0, 2.0, 3.0], 0.0), Some(1.0));
        assert_eq!(quantile(&mut [1.0, 2.0, 3.0], 1.0), Some(3.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn sector_keeps_only_upwind_cells() {
        let p = WindShelterParams { radius_m: 20.0, direction_deg: 0.0, tolerance_deg: 45.0, quantile: 0.5 };
        let offs = p.offsets(10.0);
        assert!(!offs.is_empty());
        assert!(offs.iter().all(|(dr, _, _)| *dr < 0), "north sector has only rows above: {offs:?}");
        assert_eq!(WindShelterParams::default().offsets(10.0).len(), 112); // all cells within 6 cells
        assert_eq!(WindShelterParams::default().offsets(90.0).len(), 8); // at least the 8 neighbours
    }

    #[test]
    fn a_hollow_is_sheltered_and_a_peak_exposed() {
        let p = WindShelterParams { radius_m: 10.0, ..Default::default() };
        let offs = p.offsets(10.0);
        let mut z = vec![10f32; 9];
        z[4] = 0.0;
        let s = Strip { z: &z, width: 1, rows: 1, halo: 1, res: 10.0 };
        let mut out = [0f32];
        shelter_row(&s, 0, &offs, 0.5, &mut Vec::new(), &mut out);
        // Median of 4 x atan(10/10) (sides) and 4 x atan(10/14.1) (corners).
        assert!((out[0] - 0.7004).abs() < 1e-3, "{out:?}");
        z[4] = 20.0;
        let s = Strip { z: &z, width: 1, rows: 1, halo: 1, res: 10.0 };
        shelter_row(&s, 0, &offs, 0.5, &mut Vec::new(), &mut out);
        assert!(out[0] < 0.0);
    }
}
