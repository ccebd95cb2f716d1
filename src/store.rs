//! The output root: where each stage's outputs for a site live. One place, so no stage invents paths.
//!
//! ```text
//! <root>/sites/<site>/terrain/dem.tif        DEM on the site grid (ingest::dem)
//! <root>/sites/<site>/terrain/features.tif   terrain feature stack (features::terrain)
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
}
