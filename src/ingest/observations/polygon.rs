//! Avalanche outlines: area centroid (the start point used for the event) and WKT text, in the site CRS (metres).
//!
//! A polygon is a list of rings, the exterior first and holes after; a multipolygon a list of polygons. Ring
//! orientation is not trusted (files get it wrong): each exterior ring adds its absolute area, each hole removes it.

/// Area-weighted centroid of `polygons`; `None` when the total area is zero (a degenerate outline).
pub fn centroid(polygons: &[Vec<Vec<(f64, f64)>>]) -> Option<(f64, f64)> {
    let (mut area, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for rings in polygons {
        for (k, ring) in rings.iter().enumerate() {
            let (a, cx, cy) = ring_moments(ring);
            // Same sign convention for every ring: exterior +|a|, holes -|a|.
            let sign = if k == 0 { 1.0 } else { -1.0 } * a.signum();
            area += sign * a;
            sx += sign * cx;
            sy += sign * cy;
        }
    }
    (area.abs() > 0.0 && area.is_finite()).then(|| (sx / area, sy / area))
}

/// Signed area of a ring and its first moments (sum of area * centroid), by the shoelace formula. The ring may or
/// may not repeat its first vertex at the end.
fn ring_moments(ring: &[(f64, f64)]) -> (f64, f64, f64) {
    if ring.len() < 3 {
        return (0.0, 0.0, 0.0);
    }
    // Relative to the first vertex: national grid coordinates (2.6e6 m) would lose precision in the products.
    let (ox, oy) = ring[0];
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for i in 0..ring.len() {
        let (x0, y0) = (ring[i].0 - ox, ring[i].1 - oy);
        let (x1, y1) = (ring[(i + 1) % ring.len()].0 - ox, ring[(i + 1) % ring.len()].1 - oy);
        let cross = x0 * y1 - x1 * y0;
        a += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    let a = a / 2.0;
    // Moments: area * centroid, the centroid shifted back by the origin.
    (a, cx / 6.0 + a * ox, cy / 6.0 + a * oy)
}

/// WKT of `polygons` (a `POLYGON` when there is one, else a `MULTIPOLYGON`), centimetre precision.
pub fn wkt(polygons: &[Vec<Vec<(f64, f64)>>]) -> String {
    let ring = |r: &Vec<(f64, f64)>| {
        let pts: Vec<String> = r.iter().map(|(x, y)| format!("{x:.2} {y:.2}")).collect();
        format!("({})", pts.join(", "))
    };
    let poly = |p: &Vec<Vec<(f64, f64)>>| format!("({})", p.iter().map(ring).collect::<Vec<_>>().join(", "));
    match polygons {
        [one] => format!("POLYGON {}", poly(one)),
        many => format!("MULTIPOLYGON ({})", many.iter().map(poly).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, side: f64) -> Vec<(f64, f64)> {
        vec![(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side), (x0, y0)]
    }

    #[test]
    fn centroid_of_squares_holes_and_multipolygons() {
        let (x, y) = centroid(&[vec![square(2_600_000.0, 1_200_000.0, 100.0)]]).unwrap();
        assert!((x - 2_600_050.0).abs() < 1e-6 && (y - 1_200_050.0).abs() < 1e-6, "{x} {y}");
        // Clockwise ring: same centroid.
        let mut cw = square(0.0, 0.0, 2.0);
        cw.reverse();
        assert_eq!(centroid(&[vec![cw]]), Some((1.0, 1.0)));
        // A hole in the right half shifts the centroid left: 4x2 square minus 1x1 hole at (2.5..3.5, 0.5..1.5).
        let (x, y) =
            centroid(&[vec![vec![(0.0, 0.0), (4.0, 0.0), (4.0, 2.0), (0.0, 2.0)], square(2.5, 0.5, 1.0)]]).unwrap();
        assert!((x - (8.0 * 2.0 - 3.0) / 7.0).abs() < 1e-12 && (y - 1.0).abs() < 1e-12, "{x} {y}");
        // Two equal squares: midway.
        assert_eq!(centroid(&[vec![square(0.0, 0.0, 1.0)], vec![square(10.0, 0.0, 1.0)]]), Some((5.5, 0.5)));
        assert_eq!(centroid(&[vec![vec![(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]]]), None);
    }

    #[test]
    fn wkt_text() {
        assert_eq!(
            wkt(&[vec![vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]]]),
            "POLYGON ((0.00 0.00, 1.00 0.00, 0.00 1.00, 0.00 0.00))"
        );
        assert!(wkt(&[vec![square(0.0, 0.0, 1.0)], vec![square(5.0, 5.0, 1.0)]]).starts_with("MULTIPOLYGON (((0.00"));
    }
}
