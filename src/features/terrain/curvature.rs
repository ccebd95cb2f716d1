//! Plan (contour) and profile curvature from a 3x3 window, with Evans' (1979) second-order polynomial derivatives
//! (the finite differences of Zevenbergen & Thorne 1987). Units: 1/m.
//!
//! Signs (x east, y north): **profile** curvature is positive where the slope is convex along the fall line (getting
//! steeper downhill, where snowpack tension concentrates) and negative where concave; **plan** curvature is positive
//! on divergent terrain (ridges, spurs) and negative on convergent terrain (gullies, bowls where snow accumulates).
//! Both are 0 on flat cells.

/// (plan, profile) curvature in 1/m.
#[inline]
pub fn plan_profile(w: &[f64; 9], res: f64) -> (f32, f32) {
    let l2 = res * res;
    let p = (w[5] - w[3]) / (2.0 * res); // dz/dx
    let q = (w[1] - w[7]) / (2.0 * res); // dz/dy
    let r = (w[3] - 2.0 * w[4] + w[5]) / l2; // d2z/dx2
    let t = (w[1] - 2.0 * w[4] + w[7]) / l2; // d2z/dy2
    let s = (w[2] - w[0] - w[8] + w[6]) / (4.0 * l2); // d2z/dxdy
    let g2 = p * p + q * q;
    if g2 == 0.0 {
        return (0.0, 0.0);
    }
    let plan = -(q * q * r - 2.0 * p * q * s + p * p * t) / g2.powf(1.5);
    let profile = -(p * p * r + 2.0 * p * q * s + q * q * t) / (g2 * (1.0 + g2).powf(1.5));
    (plan as f32, profile as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(f: impl Fn(f64, f64) -> f64, x0: f64, y0: f64, res: f64) -> [f64; 9] {
        let mut w = [0.0; 9];
        for (i, (dy, dx)) in
            [(1., -1.), (1., 0.), (1., 1.), (0., -1.), (0., 0.), (0., 1.), (-1., -1.), (-1., 0.), (-1., 1.)]
                .iter()
                .enumerate()
        {
            w[i] = f(x0 + dx * res, y0 + dy * res);
        }
        w
    }

    #[test]
    fn cone_flank_is_divergent_and_straight() {
        // A cone peak at the origin: contours are circles (divergent), the fall line is straight.
        let cone = |x: f64, y: f64| -(x * x + y * y).sqrt();
        let (plan, profile) = plan_profile(&sample(cone, 100.0, 0.0, 1.0), 1.0);
        assert!((plan - 0.01).abs() < 1e-4, "{plan}");
        assert!(profile.abs() < 1e-5, "{profile}");
    }

    #[test]
    fn convex_shoulder_has_positive_profile_and_gully_negative_plan() {
        let shoulder = |x: f64, _y: f64| -0.001 * x * x; // steeper downhill to the east
        let (_, profile) = plan_profile(&sample(shoulder, 200.0, 0.0, 5.0), 5.0);
        assert!(profile > 0.0, "{profile}");
        let gully = |x: f64, y: f64| 0.5 * y + 0.01 * x * x; // valley along y, sloping down to the south
        let (plan, _) = plan_profile(&sample(gully, 0.0, 0.0, 5.0), 5.0);
        assert!(plan < 0.0, "{plan}");
    }
}
