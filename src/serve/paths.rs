//! Strict resolution of request parameters to files under the published root.
//!
//! Every path the server opens comes from here: the site id must match `[a-z0-9-]{1,64}`, the date must be a real
//! calendar day written `YYYY-MM-DD`, the file name must be one of the published names, and the resolved path
//! (after following symlinks) must lie inside the canonical `<root>/published`. Anything else is "not found", and the
//! error never carries a filesystem path, so clients learn nothing about the disk layout.
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::store::Store;

/// Files of one published day that the server hands out, with their media types.
pub const DAY_FILES: &[(&str, &str)] = &[
    ("risk_probability.tif", "image/tiff; application=geotiff; profile=cloud-optimized"),
    ("danger_class.tif", "image/tiff; application=geotiff; profile=cloud-optimized"),
    ("item.json", "application/geo+json"),
    ("zones.geojson", "application/geo+json"),
    ("quicklook.png", "image/png"),
    ("alert.cap.xml", "application/cap+xml"),
];

/// Why a request does not map to a published file. Messages are safe to send to clients: they echo no path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Reject {
    #[error("invalid site id: use lowercase letters, digits and '-' (at most 64)")]
    SiteId,
    #[error("invalid date: use YYYY-MM-DD")]
    Date,
    #[error("unknown file name: use one of risk_probability.tif, danger_class.tif, item.json, zones.geojson, quicklook.png, alert.cap.xml")]
    FileName,
    #[error("not found")]
    NotFound,
}

/// Checks a site id: `[a-z0-9-]{1,64}`, not starting with '-'.
pub fn site_id(id: &str) -> Result<&str, Reject> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(id)
    } else {
        Err(Reject::SiteId)
    }
}

/// Parses a date written exactly `YYYY-MM-DD` (no sign, no spaces, a real calendar day).
pub fn date(text: &str) -> Result<NaiveDate, Reject> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(Reject::Date);
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| Reject::Date)
}

/// The media type of a published file name, or `Reject::FileName`.
pub fn file_name(name: &str) -> Result<(&'static str, &'static str), Reject> {
    DAY_FILES.iter().find(|(n, _)| *n == name).copied().ok_or(Reject::FileName)
}

/// The published root, canonicalised once at start-up; resolves requests strictly inside it.
#[derive(Debug, Clone)]
pub struct Published {
    store: Store,
    /// Canonical `<root>/published` (symlinks resolved).
    base: PathBuf,
}

impl Published {
    /// `root` is the output root (`--root`); its `published/` folder must exist.
    pub fn open(root: &Path) -> std::io::Result<Published> {
        let store = Store::new(root);
        let dir = store.root().join("published");
        let base = std::fs::canonicalize(&dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{}: {e}; publish maps there first (`avarisk run daily`)", dir.display()),
            )
        })?;
        Ok(Published { store, base })
    }

    /// Canonicalises `p` and accepts it only if it exists and lies inside the published root.
    fn inside(&self, p: &Path) -> Result<PathBuf, Reject> {
        let c = std::fs::canonicalize(p).map_err(|_| Reject::NotFound)?;
        if c.starts_with(&self.base) {
            Ok(c)
        } else {
            Err(Reject::NotFound)
        }
    }

    /// The site's published folder.
    pub fn site_dir(&self, site: &str) -> Result<PathBuf, Reject> {
        let c = self.inside(&self.store.published_site(site_id(site)?))?;
        if c.is_dir() {
            Ok(c)
        } else {
            Err(Reject::NotFound)
        }
    }

    /// `collection.json` of a site.
    pub fn collection(&self, site: &str) -> Result<PathBuf, Reject> {
        let dir = self.site_dir(site)?;
        self.file(&dir.join("collection.json"))
    }

    /// A file of one published day.
    pub fn day_file(&self, site: &str, day: &str, name: &str) -> Result<PathBuf, Reject> {
        let (site, day) = (site_id(site)?, date(day)?);
        file_name(name)?;
        self.file(&self.store.published(site, day).join(name))
    }

    fn file(&self, p: &Path) -> Result<PathBuf, Reject> {
        let c = self.inside(p)?;
        if c.is_file() {
            Ok(c)
        } else {
            Err(Reject::NotFound)
        }
    }

    /// Ids of the sites with a `collection.json`, sorted.
    pub fn sites(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.base)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| self.collection(id).is_ok())
            .collect();
        ids.sort();
        ids
    }

    /// Published days of a site (folders named `YYYY-MM-DD` holding an `item.json`), oldest first.
    pub fn dates(&self, site: &str) -> Result<Vec<NaiveDate>, Reject> {
        let dir = self.site_dir(site)?;
        let mut days: Vec<NaiveDate> = std::fs::read_dir(&dir)
            .map_err(|_| Reject::NotFound)?
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| date(&n).ok())
            .filter(|d| self.day_file(site, &d.to_string(), "item.json").is_ok())
            .collect();
        days.sort();
        Ok(days)
    }

    /// The day the site's `latest` symlink points at (it must name a published day inside the root); falls back to
    /// the newest published day when there is no such link.
    pub fn latest(&self, site: &str) -> Result<NaiveDate, Reject> {
        let link = self.store.latest(site_id(site)?);
        if let Ok(target) = std::fs::canonicalize(&link) {
            let day = target.file_name().and_then(|n| n.to_str()).and_then(|n| date(n).ok());
            if let Some(day) = day {
                let expected = self.site_dir(site)?.join(day.to_string());
                if target == expected && self.day_file(site, &day.to_string(), "item.json").is_ok() {
                    return Ok(day);
                }
            }
            return Err(Reject::NotFound);
        }
        self.dates(site)?.pop().ok_or(Reject::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_ids_are_strict() {
        for ok in ["swiss-alps", "a", "tyrol-west-2"] {
            assert_eq!(site_id(ok), Ok(ok));
        }
        for bad in ["", "..", "a/b", "A", "a_b", "-x", "a b", "%2e%2e", "/etc", "é", &"a".repeat(65)] {
            assert_eq!(site_id(bad), Err(Reject::SiteId), "{bad}");
        }
    }

    #[test]
    fn dates_are_strict() {
        assert_eq!(date("2021-02-15"), Ok(NaiveDate::from_ymd_opt(2021, 2, 15).unwrap()));
        for bad in ["2021-2-15", "2021-02-30", "+2021-02-1", "2021/02/15", "latest", "2021-02-15/..", " 2021-02-15"] {
            assert_eq!(date(bad), Err(Reject::Date), "{bad}");
        }
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("collection.json"), "{}").unwrap();
        std::fs::create_dir_all(root.path().join("published/good")).unwrap();
        std::fs::write(root.path().join("published/good/collection.json"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("published/evil")).unwrap();
        let p = Published::open(root.path()).unwrap();
        assert!(p.collection("good").is_ok());
        assert_eq!(p.collection("evil"), Err(Reject::NotFound));
        assert_eq!(p.sites(), vec!["good".to_string()]);
    }
}
