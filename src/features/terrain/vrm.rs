//! Vector ruggedness measure (Sappington et al. 2007), the roughness used in release-area work (Veitinger et al.
//! 2016): 1 - |sum of unit surface normals| / n over a k x k window. 0 = all cells face the same way (smooth, even
//! if steep), towards 1 = normals spread in every direction (rugged). Unitless.
//!
//! Normals come from Horn's gradient of each cell; missing cells in the window are left out of the sum (n counts the
//! valid ones); a missing centre gives no value.
use super::window::{horn, Strip};

/// Unit normals (nx, ny, nz) of output-relative rows `-m..rows + m` and columns `-m..width + m`, as three planes.
pub struct Normals {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub z: Vec<f32>,
    pub margin: usize,
    pub stride: usize,
}

/// Computes the normals one row at a time (`row_out` receives output-relative row r in [-m, rows + m)).
pub fn normals_row(s: &Strip, r: isize, m: usize, x: &mut [f32], y: &mut [f32], z: &mut [f32]) {
    let mut gx = vec![0f32; x.len()];
    let mut gy = vec![0f32; x.len()];
    s.windows(r, -(m as isize), &mut gx, |w| horn(w, s.res).0 as f32);
    s.windows(r, -(m as isize), &mut gy, |w| horn(w, s.res).1 as f32);
    for i in 0..x.len() {
        let (a, b) = (gx[i], gy[i]);
        if a.is_nan() {
            x[i] = f32::NAN;
            y[i] = f32::NAN;
            z[i] = f32::NAN;
            continue;
        }
        let norm = (a * a + b * b + 1.0).sqrt();
        x[i] = -a / norm;
        y[i] = -b / norm;
        z[i] = 1.0 / norm;
    }
}

/// VRM of output-relative row `r` (window `k`, normals with margin k/2) into `out`.
pub fn vrm_row(n: &Normals, r: usize, k: usize, out: &mut [f32]) {
    let m = n.margin;
    let half = k / 2;
    for (c, o) in out.iter_mut().enumerate() {
        let centre = (r + m) * n.stride + c + m;
        if n.z[centre].is_nan() {
            *o = f32::NAN;
            continue;
        }
        let (mut sx, mut sy, mut sz, mut cnt) = (0f64, 0f64, 0f64, 0u32);
        for dr in 0..k {
            let row = (r + m + dr - half) * n.stride;
            for dc in 0..k {
                let i = row + c + m + dc - half;
                let nz = n.z[i];
                if !nz.is_nan() {
                    sx += n.x[i] as f64;
                    sy += n.y[i] as f64;
                    sz += nz as f64;
                    cnt += 1;
                }
            }
        }
        *o = (1.0 - (sx * sx + sy * sy + sz * sz).sqrt() / cnt as f64).max(0.0) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::super::window::tests::plane;
    use super::*;

    fn vrm_of(z: &[f32], w: usize, rows: usize, halo: usize, k: usize) -> Vec<f32> {
        let s = Strip { z, width: w, rows, halo, res: 10.0 };
        let m = k / 2;
        let stride = w + 2 * m;
        let n_rows = rows + 2 * m;
        let mut n = Normals {
            x: vec![0.0; stride * n_rows],
            y: vec![0.0; stride * n_rows],
            z: vec![0.0; stride * n_rows],
            margin: m,
            stride,
        };
        for rr in 0..n_rows {
            let sl = rr * stride..(rr + 1) * stride;
            let (x, y, zz) = (&mut n.x[sl.clone()], &mut n.y[sl.clone()], &mut n.z[sl]);
            normals_row(&s, rr as isize - m as isize, m, x, y, zz);
        }
        let mut out = vec![0f32; w * rows];
        for r in 0..rows {
            vrm_row(&n, r, k, &mut out[r * w..(r + 1) * w]);
        }
        out
    }

    #[test]
    fn a_steep_plane_is_perfectly_smooth() {
        let z = plane(6, 4, 2, 10.0, 1.5, 0.7);
        assert!(vrm_of(&z, 6, 4, 2, 3).iter().all(|v| v.abs() < 1e-5));
    }

    #[test]
    fn a_ridge_is_rugged() {
        let mut z = plane(6, 4, 2, 10.0, 0.0, 0.0);
        let stride = 10;
        for r in 0..8 {
            for c in 0..stride {
                z[r * stride + c] = 1000.0 - 10.0 * (c as f32 - 5.0).abs();
            }
        }
        let v = vrm_of(&z, 6, 4, 2, 3);
        assert!(v[2] > 0.05, "{v:?}");
    }
}
