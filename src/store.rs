//! The output root: where each stage's outputs for a site live. One place, so no stage invents paths.
//!
//! ```text
//! <root>/sites/<site>/terrain/dem.tif        DEM on the site grid (ingest::dem)
//! <root>/sites/<site>/terrain/features.tif   terrain feature stack (features::terrain)
//! <root>/sites/<site>/weather/daily.parquet   canonical daily weather, upserted by date (ingest::weather)
//! <root>/sites/<site>/weather/features/<date>.tif  the day's weather channels on the grid (features::weather)
//! <root>/sites/<site>/observations/events.parquet         normalised avalanche records (ingest::observations)
//! <root>/sites/<site>/observations/event_weather.parquet  weather recorded with the events, canonical table
//! <root>/sites/<site>/labels/<date>.tif       label raster of a day's events (ingest::observations)
//! <root>/cache/http/                         HTTP response cache, keyed by request (ingest::weather)
//! <root>/bundles/<site>/                      the site's model bundle (train: pretrained or fine-tuned)
//! <root>/sites/<site>/predictions/<date>.tif  the day's risk probability (+ spread) on the grid (predict)
//! <root>/published/<site>/collection.json     STAC Collection of the site's maps (publish)
//! <root>/published/<site>/<date>/             one day's map set: risk_probability.tif, danger_class.tif (COGs),
//!                                             item.json (STAC Item), zones.geojson, quicklook.png, alert.cap.xml
//! <root>/published/<site>/latest             symlink to the newest <date>, switched atomically
//! <root>/ledger.sqlite                        run ledger (pipeline)
//! <root>/avarisk.lock                         lock held by the run in progress (pipeline)
//! ```
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn site_dir(&self, site: &str) -> PathBuf {
        self.root.join("sites").join(site)
    }
    pub fn dem(&self, site: &str) -> PathBuf {
        self.site_dir(site).join("terrain").join("dem.tif")
    }
    pub fn terrain(&self, site: &str) -> PathBuf {
        self.site_dir(site).join("terrain").join("features.tif")
    }
    pub fn weather(&self, site: &str) -> PathBuf {
        self.site_dir(site).join("weather").join("daily.parquet")
    }
    pub fn weather_channels(&self, site: &str, date: chrono::NaiveDate) -> PathBuf {
        self.site_dir(site).join("weather").join("features").join(format!("{date}.tif"))
    }
    pub fn events(&self, site: &str) -> PathBuf {
        self.site_dir(site).join("observations").join("events.parquet")
    }
    pub fn event_weather(&self, site: &str) -> PathBuf {
        self.site_dir(site).join("observations").join("event_weather.parquet")
    }
    pub fn labels(&self, site: &str, date: chrono::NaiveDate) -> PathBuf {
        self.site_dir(site).join("labels").join(format!("{date}.tif"))
    }
    pub fn http_cache(&self) -> PathBuf {
        self.root.join("cache").join("http")
    }
    pub fn bundle(&self, site: &str) -> PathBuf {
        self.root.join("bundles").join(site)
    }
    /// The site's day-level hazard model ([`crate::hazard`]).
    pub fn hazard(&self, site: &str) -> PathBuf {
        self.site_dir(site).join("hazard.json")
    }
    /// The site's susceptibility map: its bundle over the whole grid (kept until the bundle changes).
    pub fn susceptibility(&self, site: &str) -> PathBuf {
        self.site_dir(site).join("predictions").join("susceptibility.tif")
    }
    pub fn prediction(&self, site: &str, date: chrono::NaiveDate) -> PathBuf {
        self.site_dir(site).join("predictions").join(format!("{date}.tif"))
    }
    pub fn published_site(&self, site: &str) -> PathBuf {
        self.root.join("published").join(site)
    }
    pub fn published(&self, site: &str, date: chrono::NaiveDate) -> PathBuf {
        self.published_site(site).join(date.to_string())
    }
    pub fn latest(&self, site: &str) -> PathBuf {
        self.published_site(site).join("latest")
    }
    pub fn ledger(&self) -> PathBuf {
        self.root.join("ledger.sqlite")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("avarisk.lock")
    }
}
