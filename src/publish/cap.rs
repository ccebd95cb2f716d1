//! CAP 1.2 alerts (OASIS Common Alerting Protocol, namespace `urn:oasis:names:tc:emergency:cap:1.2`).
//!
//! An alert applies when the warning zones at or above `alert_level` cover at least `alert_min_area_km2`. Relative to
//! the previous day's published item (`avarisk:alert`):
//!
//! | previous day    | today applies | message                                  |
//! |-----------------|---------------|------------------------------------------|
//! | none in force   | yes           | `Alert`                                  |
//! | alert in force  | yes           | `Update`, `references` the previous one  |
//! | alert in force  | no            | `Cancel`, `references` the previous one  |
//! | none in force   | no            | no message (no alert.cap.xml)            |
//!
//! Identifier `avarisk.<site>.<date>` (stable: a re-run of the same day replaces its message). `status` is `Test`
//! for dry runs. Times are the site-local day (`effective`/`onset` its start, `expires` its end) with a numeric
//! UTC offset as CAP requires (never `Z`). Polygons: the exterior rings of the alerting zones, simplified
//! (Douglas-Peucker, tolerance one grid cell) and written as "lat,lon" pairs, first = last; CAP has no holes, so a
//! zone's holes are part of its area; at most [`MAX_POLYGONS`] zones are drawn. Severity: level 3 Moderate,
//! 4 Severe, 5 Extreme.
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::danger::level_name;
use super::stac::AlertState;
use super::zones::{ring_to_wgs84, Ring, Zone};
use super::{DayWindow, MapInput, PublishError, PublishParams};
use crate::geo::Grid;

pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// At most this many zones are drawn as CAP polygons (the highest-level, largest ones); the description says how
/// many zones alert in all. CAP receivers choke on thousands of polygons; zones.geojson has every zone.
pub const MAX_POLYGONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Actual,
    Test,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Actual => "Actual",
            Status::Test => "Test",
        })
    }
}

/// One CAP message, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub identifier: String,
    pub sender: String,
    /// `sent`, CAP date-time with offset (`2021-02-15T05:00:00+00:00`).
    pub sent: String,
    pub status: Status,
    pub msg_type: MsgType,
    /// `sender,identifier,sent` of the message this one updates or cancels.
    pub references: Option<String>,
    pub site_name: String,
    pub date: String,
    pub effective: String,
    pub expires: String,
    /// Highest level in the alerting zones (0 for a Cancel).
    pub level: u8,
    pub alert_level: u8,
    /// Area at or above `alert_level`, km2.
    pub area_km2: f64,
    pub bundle_id: String,
    /// Zones at or above `alert_level`.
    pub zones: usize,
    /// Polygons as CAP "lat,lon lat,lon ..." strings.
    pub polygons: Vec<String>,
    /// The day's highest regional hazard and the threshold alerts go out from (NaN when the map has none).
    pub hazard: f64,
    pub alert_threshold: f64,
}

/// CAP forbids white space, commas, `<` and `&` in identifiers and senders.
pub fn is_cap_token(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || ",<&".contains(c))
}

/// CAP date-time: seconds, numeric offset, never `Z`.
pub fn cap_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Douglas-Peucker on a closed ring (keeps first/last).
fn simplify(ring: &Ring, tol: f64) -> Ring {
    fn rec(p: &[(f64, f64)], tol: f64, keep: &mut [bool], off: usize) {
        if p.len() < 3 {
            return;
        }
        let (a, b) = (p[0], p[p.len() - 1]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt();
        let mut best = (0.0, 0);
        for (i, q) in p.iter().enumerate().take(p.len() - 1).skip(1) {
            let d = if len == 0.0 {
                ((q.0 - a.0).powi(2) + (q.1 - a.1).powi(2)).sqrt()
            } else {
                ((q.0 - a.0) * dy - (q.1 - a.1) * dx).abs() / len
            };
            if d > best.0 {
                best = (d, i);
            }
        }
        if best.0 > tol {
            keep[off + best.1] = true;
            rec(&p[..=best.1], tol, keep, off);
            rec(&p[best.1..], tol, keep, off + best.1);
        }
    }
    if ring.len() < 5 {
        return ring.clone();
    }
    // Split the closed ring at its farthest point from the start so both halves are open polylines.
    let far = (1..ring.len() - 1)
        .max_by(|a, b| {
            let d = |i: usize| (ring[i].0 - ring[0].0).powi(2) + (ring[i].1 - ring[0].1).powi(2);
            d(*a).total_cmp(&d(*b))
        })
        .unwrap_or(1);
    let mut keep = vec![false; ring.len()];
    keep[0] = true;
    keep[far] = true;
    keep[ring.len() - 1] = true;
    rec(&ring[..=far], tol, &mut keep, 0);
    rec(&ring[far..], tol, &mut keep, far);
    let out: Ring = ring.iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| *p).collect();
    if out.len() >= 4 {
        out
    } else {
        ring.clone()
    }
}

fn cap_polygon(ring: &Ring, grid: &Grid) -> Result<String, PublishError> {
    let simple = simplify(ring, grid.res_x());
    let ll = ring_to_wgs84(&simple, &grid.crs, true)?;
    Ok(ll.iter().map(|(lon, lat)| format!("{lat:.5},{lon:.5}")).collect::<Vec<_>>().join(" "))
}

/// The message for today, if one applies (see the module doc).
pub fn decide(
    zones: &[Zone],
    grid: &Grid,
    input: &MapInput,
    params: &PublishParams,
    day: DayWindow,
    now: DateTime<Utc>,
    previous: Option<&AlertState>,
) -> Result<Option<Message>, PublishError> {
    let alerting: Vec<&Zone> = zones.iter().filter(|z| z.level >= params.alert_level).collect();
    // `+ 0.0`: an empty sum of f64 is -0.0, which would print as "-0.000".
    let area: f64 = alerting.iter().map(|z| z.area_km2).sum::<f64>() + 0.0;
    // A day-level hazard decides when there is one (the daily maps); a map without one alerts on its zones' area.
    let applies = match input.hazard {
        Some(h) => h.max >= h.threshold,
        None => !alerting.is_empty() && area >= params.alert_min_area_km2,
    };
    let in_force = previous.filter(|p| p.active);
    let msg_type = match (applies, in_force.is_some()) {
        (true, false) => MsgType::Alert,
        (true, true) => MsgType::Update,
        (false, true) => MsgType::Cancel,
        (false, false) => return Ok(None),
    };
    let references = match in_force {
        Some(p) if msg_type != MsgType::Alert => match (&p.sender, &p.identifier, &p.sent) {
            (Some(s), Some(i), Some(t)) => Some(format!("{s},{i},{t}")),
            _ => None,
        },
        _ => None,
    };
    let mut polygons = Vec::new();
    if applies {
        // Zones come largest danger first, then largest area: the first MAX_POLYGONS are the ones that matter.
        for z in alerting.iter().take(MAX_POLYGONS) {
            for p in &z.polygons {
                if let Some(ext) = p.first() {
                    polygons.push(cap_polygon(ext, grid)?);
                }
            }
        }
    }
    Ok(Some(Message {
        identifier: format!("avarisk.{}.{}", input.site_id, input.date),
        sender: params.cap_sender.clone(),
        sent: cap_time(now),
        status: if params.test { Status::Test } else { Status::Actual },
        msg_type,
        references,
        site_name: input.site_name.to_owned(),
        date: input.date.to_string(),
        effective: cap_time(day.start),
        expires: cap_time(day.end),
        level: if applies { alerting.iter().map(|z| z.level).max().unwrap_or(0) } else { 0 },
        alert_level: params.alert_level,
        area_km2: if applies { area } else { 0.0 },
        bundle_id: input.bundle_id.to_owned(),
        zones: if applies { alerting.len() } else { 0 },
        polygons,
        hazard: input.hazard.map_or(f64::NAN, |h| h.max),
        alert_threshold: input.hazard.map_or(f64::NAN, |h| h.threshold),
    }))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// The message as CAP 1.2 XML (elements in the order the CAP schema requires).
pub fn xml(m: &Message) -> String {
    let mut x = String::new();
    let mut el = |indent: usize, name: &str, value: &str| {
        x.push_str(&format!("{}<{name}>{}</{name}>\n", "  ".repeat(indent), esc(value)));
    };
    el(1, "identifier", &m.identifier);
    el(1, "sender", &m.sender);
    el(1, "sent", &m.sent);
    el(1, "status", &m.status.to_string());
    el(1, "msgType", &m.msg_type.to_string());
    el(1, "scope", "Public");
    if let Some(r) = &m.references {
        el(1, "references", r);
    }
    let head = std::mem::take(&mut x);
    let cancel = m.msg_type == MsgType::Cancel;
    let mut el = |indent: usize, name: &str, value: &str| {
        x.push_str(&format!("{}<{name}>{}</{name}>\n", "  ".repeat(indent), esc(value)));
    };
    el(2, "language", "en");
    el(2, "category", "Geo");
    el(2, "event", "Avalanche danger");
    el(2, "responseType", if cancel { "AllClear" } else { "Avoid" });
    el(2, "urgency", if cancel { "Past" } else { "Expected" });
    el(2, "severity", severity(m));
    el(2, "certainty", "Likely");
    el(2, "effective", &m.effective);
    el(2, "onset", &m.effective);
    el(2, "expires", &m.expires);
    el(2, "senderName", &format!("avarisk avalanche risk maps, {}", m.site_name));
    let (headline, description) = if cancel {
        (
            format!("Avalanche warning for {} cancelled on {}", m.site_name, m.date),
            if m.hazard.is_finite() {
                format!(
                    "The day-level avalanche hazard of {} ({:.3}) is below the alert threshold ({:.3}) on {}.",
                    m.site_name, m.hazard, m.alert_threshold, m.date
                )
            } else {
                format!(
                    "No area at or above avarisk risk class {} ({}) remains large enough to warn on {}.",
                    m.alert_level,
                    level_name(m.alert_level),
                    m.date
                )
            },
        )
    } else {
        (
            if m.zones == 0 {
                format!("Avalanche hazard above the alert threshold at {} on {}", m.site_name, m.date)
            } else {
                format!(
                    "Avalanche hazard above the alert threshold at {} on {}: avarisk risk class up to {} ({})",
                    m.site_name,
                    m.date,
                    m.level,
                    level_name(m.level)
                )
            },
            if m.zones == 0 {
                format!(
                    "Day-level hazard {:.3} (alert from {:.3}); no zone reaches avarisk risk class {} ({}). Predicted \
                     for {} by avarisk model {}. avarisk risk classes are not EAWS danger levels.",
                    m.hazard,
                    m.alert_threshold,
                    m.alert_level,
                    level_name(m.alert_level),
                    m.date,
                    m.bundle_id
                )
            } else {
                format!(
                    "Day-level hazard {:.3} (alert from {:.3}): {:.2} km2 in {} zone(s) at or above avarisk risk class \
                     {} ({}), up to class {} ({}), predicted for {} by avarisk model {}. avarisk risk classes are not \
                     EAWS danger levels.{}",
                    m.hazard,
                    m.alert_threshold,
                    m.area_km2,
                    m.zones,
                    m.alert_level,
                    level_name(m.alert_level),
                    m.level,
                    level_name(m.level),
                    m.date,
                    m.bundle_id,
                    if m.zones > m.polygons.len() {
                        format!(" The area shows the {} largest zones; zones.geojson has all.", m.polygons.len())
                    } else {
                        String::new()
                    }
                )
            },
        )
    };
    el(2, "headline", &headline);
    el(2, "description", &description);
    if !cancel {
        el(2, "instruction", "Avoid the warning zones' avalanche terrain; follow the regional avalanche bulletin.");
    }
    let param = |name: &str, value: String| {
        format!(
            "    <parameter>\n      <valueName>{}</valueName>\n      <value>{}</value>\n    </parameter>\n",
            esc(name),
            esc(&value)
        )
    };
    x.push_str(&param("AVARISK_RISK_CLASS", m.level.to_string()));
    x.push_str(&param("AVARISK_HAZARD", format!("{:.4}", m.hazard)));
    x.push_str(&param("AREA_KM2_AT_OR_ABOVE_ALERT_LEVEL", format!("{:.3}", m.area_km2)));
    x.push_str(&param("MODEL_BUNDLE", m.bundle_id.clone()));
    if !m.polygons.is_empty() {
        x.push_str("    <area>\n");
        x.push_str(&format!(
            "      <areaDesc>{}</areaDesc>\n",
            esc(&format!("{}: zones at avarisk risk class {} or higher", m.site_name, m.alert_level))
        ));
        for p in &m.polygons {
            x.push_str(&format!("      <polygon>{p}</polygon>\n"));
        }
        x.push_str("    </area>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"{CAP_NS}\">\n{head}  <info>\n{x}  </info>\n</alert>\n"
    )
}

/// CAP severity: from the day's hazard relative to the alert threshold (twice the threshold or more: Severe), else
/// from the highest risk class. Never Extreme: avarisk's classes are not calibrated against published danger levels.
fn severity(m: &Message) -> &'static str {
    if m.hazard.is_finite() && m.alert_threshold > 0.0 {
        return if m.hazard >= 2.0 * m.alert_threshold { "Severe" } else { "Moderate" };
    }
    match m.level {
        4 | 5 => "Severe",
        3 => "Moderate",
        _ => "Minor",
    }
}

pub fn write(path: &Path, m: &Message) -> Result<(), PublishError> {
    fs_err::write(path, xml(m)).map_err(PublishError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_keeps_corners_of_a_staircase_square() {
        // A 10 x 10 square with a vertex every unit along its edges.
        let mut r: Ring = Vec::new();
        for i in 0..10 {
            r.push((i as f64, 0.0));
        }
        for i in 0..10 {
            r.push((10.0, i as f64));
        }
        for i in 0..10 {
            r.push((10.0 - i as f64, 10.0));
        }
        for i in 0..10 {
            r.push((0.0, 10.0 - i as f64));
        }
        r.push((0.0, 0.0));
        let s = simplify(&r, 0.5);
        assert_eq!(s.len(), 5, "{s:?}");
        assert_eq!(s.first(), s.last());
    }

    #[test]
    fn tokens_and_times_follow_cap() {
        assert!(is_cap_token("avarisk"));
        assert!(!is_cap_token("ava risk"));
        assert!(!is_cap_token("a,b"));
        let t = DateTime::parse_from_rfc3339("2021-02-14T23:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(cap_time(t), "2021-02-14T23:00:00+00:00");
    }
}
