//! The `[danger]` table of a site: risk-class thresholds and the alert and zone rules.

use crate::config::raw::RawDanger;

use super::*;

pub(super) fn compile_danger(d: &RawDanger, e: &mut Errors) -> Option<DangerSpec> {
    let before = e.count();
    let t = &d.thresholds;
    if t.len() != 4 {
        e.push(
            "danger.thresholds",
            format!("give 4 probabilities (where levels 2, 3, 4 and 5 begin), found {}", t.len()),
        );
    } else if !(t.iter().all(|v| *v > 0.0 && *v < 1.0) && t.windows(2).all(|w| w[0] < w[1])) {
        e.push("danger.thresholds", format!("must be strictly increasing in (0, 1), found {t:?}"));
    }
    let level = |v: Option<u8>, key: &str, e: &mut Errors| {
        let v = v.unwrap_or(3);
        if !(2..=5).contains(&v) {
            e.push(format!("danger.{key}"), format!("must be a level from 2 to 5, found {v}"));
        }
        v
    };
    let zone_min_level = level(d.zone_min_level, "zone_min_level", e);
    let alert_level = level(d.alert_level, "alert_level", e);
    let alert_min_area_km2 = d.alert_min_area_km2.unwrap_or(5.0);
    if !(alert_min_area_km2 >= 0.0 && alert_min_area_km2.is_finite()) {
        e.push("danger.alert_min_area_km2", format!("must be a non-negative area, found {alert_min_area_km2}"));
    }
    let zone_min_area_km2 = d.zone_min_area_km2.unwrap_or(0.5);
    if !(zone_min_area_km2 >= 0.0 && zone_min_area_km2.is_finite()) {
        e.push("danger.zone_min_area_km2", format!("must be a non-negative area, found {zone_min_area_km2}"));
    }
    if e.count() > before {
        return None;
    }
    Some(DangerSpec {
        zone_min_area_km2,
        thresholds: [t[0] as f32, t[1] as f32, t[2] as f32, t[3] as f32],
        zone_min_level,
        alert_level,
        alert_min_area_km2,
        calibration: d.calibration.clone(),
    })
}
