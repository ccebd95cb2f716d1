//! Publishing: one day's risk prediction for a site -> the map set users receive every morning.
//!
//! ```text
//!  predictions/<date>.tif (risk_probability [+ risk_spread]) + terrain/dem.tif
//!    ──► risk_probability.tif   Float32 COG, 512 px tiles, DEFLATE + floating-point predictor, overviews (average)
//!    ──► danger_class.tif       Byte COG, EAWS levels 1-5 (0 = no data), EAWS colour table, overviews (mode)
//!    ──► zones.geojson          warning zones (level >= zone_min_level) with area and terrain statistics, WGS84
//!    ──► quicklook.png          hillshade + danger levels + legend + site name and date
//!    ──► alert.cap.xml          CAP 1.2 Alert / Update / Cancel, relative to the previous day (only when one applies)
//!    ──► item.json              STAC 1.0.0 Item (projection extension, assets, provenance, alert state)
//!  <root>/published/<site>/collection.json (STAC Collection of every published day), latest -> <date>
//! ```
//!
//! Where each file lives is [`crate::store::Store`]'s business (`published`, `published_site`, `latest`).
//!
//! **Atomicity.** Everything is written into a hidden staging folder inside `<root>/published/<site>/`, checked (the
//! COGs for COG layout, every file present), then swapped in for `<date>` with one atomic exchange of the two
//! folders (Linux `renameat2(RENAME_EXCHANGE)`; elsewhere the old folder is renamed aside and the new one renamed in,
//! a moment without the folder). The STAC Collection is replaced by a rename and `latest` by renaming a new symlink
//! over it. A failure at any step, before or after the swap, puts the previous folder, `latest` and collection back:
//! dashboards see yesterday's map or today's complete one, never a part. Runs for one site must not overlap (the
//! pipeline's lock sees to that): leftovers of a killed run are removed by the next run for the same date.
//!
//! **Object storage.** [`bucket::upload_day`] mirrors a published day into an S3 bucket afterwards, pointers last,
//! with the same guarantee to readers of the bucket (the pipeline's `publish` stage calls it when the site or the
//! stage names a `target`).
//!
//! **Failure injection** for tests and drills: [`PublishParams::fail_at`], or the environment variable
//! `AVARISK_FAIL_PUBLISH_AT=<step>` (read by `publish` only when `fail_at` is `None`), makes the run fail right
//! after that [`FailPoint`].
//!
//! Memory: the day's rasters are held whole (probability, spread, DEM as f32, classes as u8, zone labels as u32:
//! 21 bytes a cell, 130 MB for the 6.1 Mpx swiss-alps grid); GDAL streams the COG encoding.
pub mod bucket;
pub mod cap;
pub mod cog;
pub mod danger;
mod layers;
mod place;
pub mod quicklook;
pub mod series;
pub mod stac;
pub mod zones;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

pub use danger::{DangerScale, EAWS_RGB, LEVEL_NAMES};
use layers::Layers;

use crate::geo::GeoError;
use crate::store::Store;

/// File names inside a published `<date>/` folder.
pub const PROBABILITY_TIF: &str = "risk_probability.tif";
pub const CLASS_TIF: &str = "danger_class.tif";
pub const ITEM_JSON: &str = "item.json";
pub const ZONES_GEOJSON: &str = "zones.geojson";
pub const QUICKLOOK_PNG: &str = "quicklook.png";
pub const ALERT_CAP: &str = "alert.cap.xml";
/// File name of the site's STAC Collection in `<root>/published/<site>/`.
pub const COLLECTION_JSON: &str = "collection.json";

/// How a day is published. Defaults: zones from level 3, alerts from level 3 over at least 1 km2, zones under
/// 0.05 km2 dropped, status Actual, sender `avarisk`. Deserialisable (e.g. from a pipeline stage's parameters),
/// every field optional.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PublishParams {
    /// Warning zones are the areas at or above this level (1..=5).
    pub zone_min_level: u8,
    /// A CAP alert is issued when the zones at or above this level (>= `zone_min_level`) cover ...
    pub alert_level: u8,
    /// ... at least this many km2 (after speckle removal).
    pub alert_min_area_km2: f64,
    /// Zones (connected areas of one level, 4-neighbour) smaller than this are speckle and dropped, km2. They still
    /// count in the danger-class raster and the per-level areas of the STAC Item.
    pub zone_min_area_km2: f64,
    /// CAP `<status>Test</status>` (dry runs, demos) instead of `Actual`.
    pub test: bool,
    /// CAP `<sender>`: a globally unambiguous name of the warning service (no spaces, commas or `<&`).
    pub cap_sender: String,
    /// Test hook: fail right after this step (see the module doc). `None` in production; never read from files.
    #[serde(skip)]
    pub fail_at: Option<FailPoint>,
}

impl Default for PublishParams {
    fn default() -> Self {
        PublishParams {
            zone_min_level: 3,
            alert_level: 3,
            alert_min_area_km2: 1.0,
            zone_min_area_km2: 0.05,
            test: false,
            cap_sender: "avarisk".into(),
            fail_at: None,
        }
    }
}

impl PublishParams {
    fn check(&self) -> Result<(), PublishError> {
        let bad = |m: String| Err(PublishError::Params(m));
        if !(1..=5).contains(&self.zone_min_level) {
            return bad(format!("zone_min_level = {}: use a danger level 1..=5", self.zone_min_level));
        }
        if !(self.zone_min_level..=5).contains(&self.alert_level) {
            return bad(format!(
                "alert_level = {}: use a level from zone_min_level ({}) to 5 (alerts are drawn from the zones)",
                self.alert_level, self.zone_min_level
            ));
        }
        if !(self.alert_min_area_km2.is_finite() && self.alert_min_area_km2 >= 0.0) {
            return bad(format!("alert_min_area_km2 = {}: use an area >= 0", self.alert_min_area_km2));
        }
        if !(self.zone_min_area_km2.is_finite() && self.zone_min_area_km2 >= 0.0) {
            return bad(format!("zone_min_area_km2 = {}: use an area >= 0", self.zone_min_area_km2));
        }
        if !cap::is_cap_token(&self.cap_sender) {
            return bad(format!("cap_sender = {:?}: CAP forbids spaces, commas, `<` and `&` in it", self.cap_sender));
        }
        Ok(())
    }
}

/// One day's map to publish.
#[derive(Debug, Clone)]
pub struct MapInput<'a> {
    /// Site id (folder name, STAC Collection id); letters, digits, `-`, `_`, `.`.
    pub site_id: &'a str,
    /// Name people read (quicklook title, CAP area description).
    pub site_name: &'a str,
    /// The site-local day the map is for.
    pub date: NaiveDate,
    /// The site's time zone: the map covers `date` 00:00 to 24:00 local time (STAC start/end, CAP effective/expires).
    pub time_zone: chrono_tz::Tz,
    /// Float32 GeoTIFF on the site grid: band 1 `risk_probability` (0..1), optional band 2 `risk_spread`; nodata set.
    pub prediction: &'a Path,
    /// The site DEM on the same grid (Float32, metres, nodata set).
    pub dem: &'a Path,
    /// Lineage id of the model bundle that made the prediction (`name@sha256:...`).
    pub bundle_id: &'a str,
    pub scale: &'a DangerScale,
    /// Data attributions (site.toml `[[attribution]]`), carried into the STAC Collection and Item.
    pub attribution: Vec<String>,
    /// The day-level hazard the map was made with: a CAP alert goes out when it reaches its threshold. `None`:
    /// alerts follow the area of the zones at `alert_level`.
    pub hazard: Option<DayHazard>,
}

/// The day's highest regional hazard ([`crate::hazard`]) and the threshold from which it alerts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DayHazard {
    pub max: f64,
    pub threshold: f64,
}

impl DayHazard {
    /// The hazard a day's prediction raster was made with (its `AVARISK_HAZARD` and `AVARISK_ALERT_THRESHOLD`
    /// metadata, written by [`crate::predict::day`]); `None` for a raster without them.
    pub fn of_prediction(path: &Path) -> Option<DayHazard> {
        use gdal::Metadata;
        let ds = crate::geo::raster::open(&path.display().to_string()).ok()?;
        let points: Vec<(String, f64)> = serde_json::from_str(&ds.metadata_item("AVARISK_HAZARD", "")?).ok()?;
        let threshold = ds.metadata_item("AVARISK_ALERT_THRESHOLD", "")?.parse().ok()?;
        let max = points.iter().map(|(_, h)| *h).fold(f64::NAN, f64::max);
        max.is_finite().then_some(DayHazard { max, threshold })
    }
}

/// A step of [`publish`] after which a failure can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// risk_probability.tif written to staging.
    Probability,
    /// danger_class.tif written.
    Class,
    /// zones.geojson written.
    Zones,
    /// quicklook.png written.
    Quicklook,
    /// alert.cap.xml written (or found not to apply).
    Alert,
    /// item.json written.
    Item,
    /// staging folder checked.
    Check,
    /// new collection.json written beside the old one, not yet renamed.
    Collection,
    /// `<date>/` swapped in (the previous one is put back).
    Swap,
    /// `latest` switched (it and `<date>/` are put back).
    Latest,
}

impl FailPoint {
    pub const ALL: [FailPoint; 10] = [
        FailPoint::Probability,
        FailPoint::Class,
        FailPoint::Zones,
        FailPoint::Quicklook,
        FailPoint::Alert,
        FailPoint::Item,
        FailPoint::Check,
        FailPoint::Collection,
        FailPoint::Swap,
        FailPoint::Latest,
    ];
    pub fn name(self) -> &'static str {
        match self {
            FailPoint::Probability => "probability",
            FailPoint::Class => "class",
            FailPoint::Zones => "zones",
            FailPoint::Quicklook => "quicklook",
            FailPoint::Alert => "alert",
            FailPoint::Item => "item",
            FailPoint::Check => "check",
            FailPoint::Collection => "collection",
            FailPoint::Swap => "swap",
            FailPoint::Latest => "latest",
        }
    }
    /// The step named by `AVARISK_FAIL_PUBLISH_AT`; an unknown name is an error (a drill with a typo must not pass).
    fn from_env() -> Result<Option<FailPoint>, PublishError> {
        let Ok(v) = std::env::var("AVARISK_FAIL_PUBLISH_AT") else { return Ok(None) };
        match FailPoint::ALL.into_iter().find(|p| p.name() == v.trim()) {
            Some(p) => Ok(Some(p)),
            None => Err(PublishError::Params(format!(
                "AVARISK_FAIL_PUBLISH_AT={v:?}: use one of {}",
                FailPoint::ALL.map(|p| p.name()).join(", ")
            ))),
        }
    }
}

/// What a successful [`publish`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// `<root>/published/<site>/<date>/`.
    pub dir: PathBuf,
    /// Its STAC Item.
    pub item: PathBuf,
    /// The site's STAC Collection.
    pub collection: PathBuf,
    /// Highest danger level on the map (0 when the map has no valid cell).
    pub max_level: u8,
    /// Area per level 1..=5 in km2 (index = level - 1).
    pub area_km2_by_level: [f64; 5],
    /// Warning zones written to zones.geojson.
    pub zones: usize,
    /// The CAP message written, if one applied.
    pub alert: Option<cap::MsgType>,
    /// The date `latest` points at after this run (the newest published date, not necessarily this one).
    pub latest: NaiveDate,
}

/// Errors of publishing; each names the file, setting or step involved.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Geo(#[from] GeoError),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error("publish settings: {0}")]
    Params(String),
    #[error("cannot {action} {path}: {source}")]
    Gdal { action: &'static str, path: String, source: Box<gdal::errors::GdalError> },
    #[error("{path} is not a valid Cloud Optimized GeoTIFF ({reason}); it was not published")]
    NotCog { path: String, reason: String },
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Json { path: String, message: String },
    #[error("publish failed on purpose after step `{}` (AVARISK_FAIL_PUBLISH_AT or PublishParams::fail_at)", .0.name())]
    Injected(FailPoint),
}

impl PublishError {
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PublishError {
        let path = path.display().to_string();
        move |source| PublishError::Io { action, path, source }
    }
    pub(crate) fn gdal(action: &'static str, path: &Path) -> impl FnOnce(gdal::errors::GdalError) -> PublishError {
        let path = path.display().to_string();
        move |e| PublishError::Gdal { action, path, source: Box::new(e) }
    }
}

/// The UTC bounds of the site-local day a map is for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl DayWindow {
    pub fn new(date: NaiveDate, tz: chrono_tz::Tz) -> DayWindow {
        use chrono::TimeZone;
        let at = |d: NaiveDate| {
            let local = d.and_hms_opt(0, 0, 0).expect("midnight exists");
            // A midnight skipped by a DST change (none in the Alps) falls back to reading it as UTC.
            tz.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or(local.and_utc())
        };
        DayWindow { start: at(date), end: at(date.succ_opt().expect("dates before year 262143")) }
    }
}

/// Publishes one day's map for a site: writes, checks and atomically moves into place the whole map set, updates
/// the site's STAC Collection and `latest`. See the module doc for what is written and the guarantees on failure.
pub fn publish(store: &Store, input: &MapInput, params: &PublishParams) -> Result<Published, PublishError> {
    params.check()?;
    input.scale.check().map_err(PublishError::Params)?;
    if !stac::is_id(input.site_id) {
        return Err(PublishError::Params(format!(
            "site id {:?}: use letters, digits, `-`, `_` and `.` only (it names folders and CAP identifiers)",
            input.site_id
        )));
    }
    let fail_at = match params.fail_at {
        Some(p) => Some(p),
        None => FailPoint::from_env()?,
    };
    let step = |p: FailPoint| if fail_at == Some(p) { Err(PublishError::Injected(p)) } else { Ok(()) };

    let layers = Layers::load(input)?;
    let day = DayWindow::new(input.date, input.time_zone);
    let site_dir = store.published_site(input.site_id);
    let staging = place::Staging::new(&site_dir, input.date)?;
    let s = staging.path();

    cog::write_probability(&s.join(PROBABILITY_TIF), &layers, input)?;
    step(FailPoint::Probability)?;
    cog::write_class(&s.join(CLASS_TIF), &layers, input)?;
    step(FailPoint::Class)?;
    let zones = zones::extract(&layers, params)?;
    zones::write_geojson(&s.join(ZONES_GEOJSON), &zones, &layers.grid, input)?;
    step(FailPoint::Zones)?;
    quicklook::write(&s.join(QUICKLOOK_PNG), &layers, input)?;
    step(FailPoint::Quicklook)?;

    let previous_day = input.date.pred_opt().map(|d| store.published(input.site_id, d).join(ITEM_JSON));
    let previous = match &previous_day {
        Some(p) if p.exists() => stac::read_alert_state(p)?,
        _ => None,
    };
    let now = Utc::now();
    let message = cap::decide(&zones, &layers.grid, input, params, day, now, previous.as_ref())?;
    if let Some(m) = &message {
        cap::write(&s.join(ALERT_CAP), m)?;
    }
    step(FailPoint::Alert)?;

    let item = stac::item(&stac::ItemInput {
        input,
        grid: &layers.grid,
        day,
        created: now,
        area_km2_by_level: layers.area_km2_by_level(),
        max_level: layers.max_level(),
        zones: zones.len(),
        has_spread: layers.spread.is_some(),
        alert: stac::AlertState::of(message.as_ref()),
    })?;
    stac::write_json(&s.join(ITEM_JSON), &item)?;
    step(FailPoint::Item)?;

    cog::check(&s.join(PROBABILITY_TIF), cog::Expect::probability(layers.spread.is_some()))?;
    cog::check(&s.join(CLASS_TIF), cog::Expect::class())?;
    for f in [ITEM_JSON, ZONES_GEOJSON, QUICKLOOK_PNG] {
        let p = s.join(f);
        let len = fs_err::metadata(&p).map_err(PublishError::io("check", &p))?.len();
        if len == 0 {
            return Err(PublishError::Input { path: p.display().to_string(), message: "written empty".into() });
        }
    }
    step(FailPoint::Check)?;

    let dest = store.published(input.site_id, input.date);
    let collection = stac::collection(&site_dir, input, &item)?;
    let collection_path = site_dir.join(COLLECTION_JSON);
    let staged_collection = crate::geo::raster::Staged::new(&collection_path)?;
    stac::write_json(staged_collection.path(), &collection)?;
    step(FailPoint::Collection)?;

    // From here on every failure undoes what was moved, newest first.
    let swap = place::swap_in(staging, &dest)?;
    if let Err(e) = step(FailPoint::Swap) {
        swap.undo();
        return Err(e);
    }
    let latest_date = match place::newest_date(&site_dir) {
        Ok(d) => d.unwrap_or(input.date).max(input.date),
        Err(e) => {
            swap.undo();
            return Err(e);
        }
    };
    let latest = match place::switch_latest(&store.latest(input.site_id), latest_date) {
        Ok(l) => l,
        Err(e) => {
            swap.undo();
            return Err(e);
        }
    };
    if let Err(e) = step(FailPoint::Latest) {
        latest.undo();
        swap.undo();
        return Err(e);
    }
    if let Err(e) = staged_collection.commit() {
        latest.undo();
        swap.undo();
        return Err(e.into());
    }
    swap.finish();
    tracing::info!(site = %input.site_id, date = %input.date, alert = ?message.as_ref().map(|m| m.msg_type),
        zones = zones.len(), "published");

    Ok(Published {
        item: dest.join(ITEM_JSON),
        dir: dest,
        collection: collection_path,
        max_level: layers.max_level(),
        area_km2_by_level: layers.area_km2_by_level(),
        zones: zones.len(),
        alert: message.map(|m| m.msg_type),
        latest: latest_date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only unit test that touches AVARISK_FAIL_PUBLISH_AT (no other unit test calls `publish`).
    #[test]
    fn fail_point_env_names_a_step_or_is_refused() {
        std::env::set_var("AVARISK_FAIL_PUBLISH_AT", "swap");
        assert_eq!(FailPoint::from_env().unwrap(), Some(FailPoint::Swap));
        std::env::set_var("AVARISK_FAIL_PUBLISH_AT", "swpa");
        let e = FailPoint::from_env().unwrap_err().to_string();
        assert!(e.contains("probability, class"), "{e}");
        std::env::remove_var("AVARISK_FAIL_PUBLISH_AT");
        assert_eq!(FailPoint::from_env().unwrap(), None);
    }

    #[test]
    fn params_check_names_the_setting() {
        let p = PublishParams { alert_level: 2, ..PublishParams::default() };
        assert!(p.check().unwrap_err().to_string().contains("alert_level = 2"));
        let p: PublishParams = toml::from_str("zone_min_level = 4\nalert_level = 5\ntest = true").unwrap();
        assert_eq!((p.zone_min_level, p.alert_level, p.test, p.alert_min_area_km2), (4, 5, true, 1.0));
        p.check().unwrap();
        assert!(toml::from_str::<PublishParams>("fail_at = \"swap\"").is_err());
    }
}
