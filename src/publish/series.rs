//! The season at a glance: after `avarisk run daily --from D1 --to D2`, each site's published days of the range as
//! one time series (`<root>/published/<site>/season.csv`: date, hazard, alert threshold, share of the site in each
//! risk class, alert) and a plot of the hazard with the days of recorded accidents marked (`season.png`). Read back
//! from the published STAC Items, so the series shows exactly what was published. Where the site's maps go to object
//! storage, both files are uploaded beside its collection ([`publish_site`]).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::{PublishError, ITEM_JSON};
use crate::config::{PublishStage, Site};
use crate::store::Store;

/// File names in `<root>/published/<site>/`.
pub const SEASON_CSV: &str = "season.csv";
pub const SEASON_PNG: &str = "season.png";

/// One published day.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub hazard: Option<f64>,
    pub alert_threshold: Option<f64>,
    /// Share of the site's mapped area in classes 1..=5.
    pub class_shares: [f64; 5],
    /// The CAP message type of the day ("Alert", "Update", "Cancel"), if any.
    pub alert: Option<String>,
    /// Whether the site's records hold an accident that day.
    pub accident: bool,
}

/// The season of `site` over `dates`, from what was published, with the site's recorded accident days marked:
/// writes [`SEASON_CSV`] and [`SEASON_PNG`] (nothing when no day of the range was published).
pub fn write_site(store: &Store, site: &str, dates: &[NaiveDate]) -> Result<Option<(PathBuf, PathBuf)>, PublishError> {
    let accidents: Vec<NaiveDate> = crate::ingest::observations::load_events(&store.events(site))
        .map(|e| e.into_iter().map(|e| e.date).collect())
        .unwrap_or_default();
    write(store, site, &read(store, site, dates, &accidents)?)
}

/// [`write_site`], then the two files uploaded beside the site's collection in the bucket where `publish` (the
/// pipeline's publish stage) sends the site's maps.
pub fn publish_site(
    store: &Store,
    site: &Site,
    publish: Option<&PublishStage>,
    dates: &[NaiveDate],
) -> Result<Option<(PathBuf, PathBuf)>, super::bucket::BucketError> {
    let written = write_site(store, &site.id, dates)?;
    if let (Some((csv, png)), Some(target)) = (&written, publish.and_then(|p| p.target_for(site))) {
        let conn = super::bucket::Connection::from_env(target);
        super::bucket::upload_site_files(&conn, &site.id, &[csv, png])?;
    }
    Ok(written)
}

/// Reads the published Items of `site` for `dates` (days not published are left out).
pub fn read(store: &Store, site: &str, dates: &[NaiveDate], accidents: &[NaiveDate]) -> Result<Vec<Day>, PublishError> {
    let mut out = Vec::new();
    for &date in dates {
        let path = store.published(site, date).join(ITEM_JSON);
        if !path.exists() {
            continue;
        }
        let text = fs_err::read_to_string(&path).map_err(PublishError::io("read", &path))?;
        let item: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| PublishError::Json { path: path.display().to_string(), message: e.to_string() })?;
        let p = &item["properties"];
        let areas: Vec<f64> =
            (1..=5).map(|l| p["avarisk:area_km2_by_level"][l.to_string()].as_f64().unwrap_or(0.0)).collect();
        let total: f64 = areas.iter().sum::<f64>().max(1e-12);
        let mut class_shares = [0f64; 5];
        class_shares.iter_mut().zip(&areas).for_each(|(s, a)| *s = a / total);
        out.push(Day {
            date,
            hazard: p["avarisk:hazard"].as_f64(),
            alert_threshold: p["avarisk:alert_threshold"].as_f64(),
            class_shares,
            alert: p["avarisk:alert"]["msg_type"].as_str().map(str::to_owned),
            accident: accidents.contains(&date),
        });
    }
    Ok(out)
}

/// Writes `season.csv` and `season.png` into the site's published folder (each replaced atomically); returns their
/// paths. Nothing is written for an empty series.
pub fn write(store: &Store, site: &str, days: &[Day]) -> Result<Option<(PathBuf, PathBuf)>, PublishError> {
    if days.is_empty() {
        return Ok(None);
    }
    let dir = store.published_site(site);
    let csv_path = dir.join(SEASON_CSV);
    let mut csv = String::from("date,hazard,alert_threshold,class1,class2,class3,class4,class5,alert,accident\n");
    for d in days {
        let f = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
        let shares: Vec<String> = d.class_shares.iter().map(|s| format!("{s:.5}")).collect();
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{}",
            d.date,
            f(d.hazard),
            f(d.alert_threshold),
            shares.join(","),
            d.alert.as_deref().unwrap_or(""),
            d.accident as u8
        );
    }
    let staged = crate::geo::raster::Staged::new(&csv_path)?;
    fs_err::write(staged.path(), csv).map_err(PublishError::io("write", &csv_path))?;
    staged.commit()?;
    let png_path = dir.join(SEASON_PNG);
    let staged = crate::geo::raster::Staged::new(&png_path)?;
    plot(staged.path(), days)?;
    staged.commit()?;
    Ok(Some((csv_path, png_path)))
}

/// The hazard per day (blue line), the alert threshold (grey), days with a recorded accident (red ticks) and alert
/// days (orange band at the bottom), 720 x 240 px.
fn plot(path: &Path, days: &[Day]) -> Result<(), PublishError> {
    let (w, h, m) = (720usize, 240usize, 20usize);
    let mut rgb = vec![255u8; w * h * 3];
    let mut set = |x: usize, y: usize, c: [u8; 3]| {
        if x < w && y < h {
            rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&c);
        }
    };
    let top = days.iter().flat_map(|d| [d.hazard, d.alert_threshold]).flatten().fold(1e-9, f64::max);
    let n = days.len().max(2) - 1;
    let x_of = |i: usize| m + i * (w - 2 * m) / n.max(1);
    let y_of = |v: f64| h - m - ((v / top).clamp(0.0, 1.0) * (h - 2 * m) as f64) as usize;
    for x in m..w - m {
        set(x, h - m, [0, 0, 0]);
    }
    for y in m..=h - m {
        set(m, y, [0, 0, 0]);
    }
    for (i, d) in days.iter().enumerate() {
        let x = x_of(i);
        if let Some(t) = d.alert_threshold {
            set(x, y_of(t), [150, 150, 150]);
        }
        if d.alert.as_deref().is_some_and(|a| a != "Cancel") {
            for y in h - m + 2..h - m + 8 {
                for dx in 0..(w - 2 * m) / n.max(1) {
                    set(x + dx, y, [255, 153, 0]);
                }
            }
        }
        if d.accident {
            for y in m..m + 10 {
                set(x, y, [200, 30, 30]);
            }
        }
        if let (Some(a), Some(b)) = (d.hazard, days.get(i + 1).and_then(|n| n.hazard)) {
            let (x0, x1, y0, y1) = (x, x_of(i + 1), y_of(a) as f64, y_of(b) as f64);
            for x in x0..=x1 {
                let t = if x1 > x0 { (x - x0) as f64 / (x1 - x0) as f64 } else { 0.0 };
                let ya = (y0 + t * (y1 - y0)).round() as usize;
                set(x, ya, [30, 90, 200]);
                set(x, ya + 1, [30, 90, 200]);
            }
        }
    }
    super::quicklook::write_rgb(path, w, h, &rgb)
}
