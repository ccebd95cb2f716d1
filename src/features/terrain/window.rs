//! A row block of the DEM with a halo, and the 3x3 window every local terrain operator reads.
//!
//! Missing cells (outside the raster or nodata) are `NaN`. Policy for 3x3 operators, the same as
//! `gdaldem -compute_edges`: a missing centre gives no value; a missing neighbour takes the centre's value. Interior
//! cells with nine valid values are computed exactly; edge and nodata-adjacent cells get a one-sided estimate
//! (gradients there are flattened towards the missing side).

/// Rows `row0..row0 + rows` of a raster plus `halo` cells on every side, row-major, `NaN` where missing.
pub struct Strip<'a> {
    pub z: &'a [f32],
    /// Raster width (cells) without halo.
    pub width: usize,
    /// Output rows in this strip.
    pub rows: usize,
    pub halo: usize,
    /// Cell size in metres.
    pub res: f64,
}

impl Strip<'_> {
    pub fn stride(&self) -> usize {
        self.width + 2 * self.halo
    }

    /// Value at output-relative (r, c); r and c may reach `halo` cells outside the strip.
    #[inline]
    pub fn at(&self, r: isize, c: isize) -> f32 {
        let h = self.halo as isize;
        self.z[((r + h) as usize) * self.stride() + (c + h) as usize]
    }

    /// The padded row holding output-relative row `r` (may be in the halo), starting at column `-halo`.
    #[inline]
    pub fn row(&self, r: isize) -> &[f32] {
        let s = self.stride();
        let i = (r + self.halo as isize) as usize * s;
        &self.z[i..i + s]
    }

    /// Calls `f` with the 3x3 window (NW, N, NE, W, C, E, SW, S, SE) of every cell in output-relative row `r`
    /// (which may lie in the halo, as may columns down to `-(halo - 1)`), writing its result to `out[c]`, or NaN
    /// where the centre is missing. `c0` is the column of `out[0]`.
    #[inline]
    pub fn windows(&self, r: isize, c0: isize, out: &mut [f32], f: impl Fn(&[f64; 9]) -> f32) {
        let (up, mid, down) = (self.row(r - 1), self.row(r), self.row(r + 1));
        let h = self.halo as isize;
        for (i, o) in out.iter_mut().enumerate() {
            let j = (c0 + i as isize + h) as usize;
            let e = mid[j];
            if e.is_nan() {
                *o = f32::NAN;
                continue;
            }
            let e64 = e as f64;
            let g = |v: f32| if v.is_nan() { e64 } else { v as f64 };
            let w = [
                g(up[j - 1]),
                g(up[j]),
                g(up[j + 1]),
                g(mid[j - 1]),
                e64,
                g(mid[j + 1]),
                g(down[j - 1]),
                g(down[j]),
                g(down[j + 1]),
            ];
            *o = f(&w);
        }
    }
}

/// Horn's (1981) gradient from a 3x3 window: (dz/dx east-positive, dz/dy north-positive), unitless (m/m).
#[inline]
pub fn horn(w: &[f64; 9], res: f64) -> (f64, f64) {
    let gx = ((w[2] + 2.0 * w[5] + w[8]) - (w[0] + 2.0 * w[3] + w[6])) / (8.0 * res);
    let gy = ((w[0] + 2.0 * w[1] + w[2]) - (w[6] + 2.0 * w[7] + w[8])) / (8.0 * res);
    (gx, gy)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A strip (halo `h`) of a plane z = ax + by + c sampled on `w` x `rows` cells of size `res`; x east, y north.
    pub fn plane(w: usize, rows: usize, h: usize, res: f64, a: f64, b: f64) -> Vec<f32> {
        let s = w + 2 * h;
        let mut z = vec![0f32; s * (rows + 2 * h)];
        for r in 0..rows + 2 * h {
            for c in 0..s {
                let x = c as f64 * res;
                let y = -(r as f64) * res;
                z[r * s + c] = (a * x + b * y + 1000.0) as f32;
            }
        }
        z
    }

    #[test]
    fn horn_recovers_plane_gradient() {
        let z = plane(5, 5, 1, 10.0, 0.3, -0.2);
        let s = Strip { z: &z, width: 5, rows: 5, halo: 1, res: 10.0 };
        let mut out = [0f32; 5];
        s.windows(2, 0, &mut out, |w| {
            let (gx, gy) = horn(w, 10.0);
            assert!((gx - 0.3).abs() < 1e-4 && (gy + 0.2).abs() < 1e-4, "{gx} {gy}");
            1.0
        });
        assert_eq!(out, [1.0; 5]);
    }

    #[test]
    fn missing_centre_gives_nan_and_missing_neighbour_takes_centre() {
        let mut z = vec![1f32; 9];
        z[4] = f32::NAN;
        let s = Strip { z: &z, width: 1, rows: 1, halo: 1, res: 1.0 };
        let mut out = [0f32; 1];
        s.windows(0, 0, &mut out, |_| 5.0);
        assert!(out[0].is_nan());
        let mut z = vec![1f32; 9];
        z[0] = f32::NAN;
        z[4] = 7.0;
        let s = Strip { z: &z, width: 1, rows: 1, halo: 1, res: 1.0 };
        s.windows(0, 0, &mut out, |w| w[0] as f32);
        assert_eq!(out[0], 7.0);
    }
}
