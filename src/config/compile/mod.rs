//! `compile`: the pure step from raw configuration to a validated [`Plan`]. It reports every problem at once, each
//! with its file and key, and touches neither user files nor the network (CRS facts come from GDAL/PROJ's registry).
//! One file per table: [`site`] (grid, sources, records, model), [`weather`], [`danger`], [`pipeline`] (stages).
mod danger;
mod pipeline;
mod site;
mod weather;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::config::{ConfigError, RawConfig};
use crate::geo::{Bounds, Crs};

use super::plan::*;
use danger::*;
use pipeline::*;
use site::*;
use weather::*;

/// How far (degrees) site bounds may reach beyond the CRS's registered area of use. Projections stay accurate a
/// little beyond it; much further means a wrong CRS or swapped axes.
pub(super) const AREA_OF_USE_MARGIN_DEG: f64 = 1.0;
/// Largest grid accepted, in cells (a 100,000 x 100,000 grid is far beyond any site; it catches unit mistakes).
pub(super) const MAX_CELLS: f64 = 1e10;

/// Validates raw configuration into a [`Plan`], or returns every problem found.
pub fn compile(raw: &RawConfig) -> Result<Plan, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut sites = Vec::new();
    let mut ids = BTreeSet::new();
    for (file, rs) in &raw.sites {
        let mut e = Errors { file, list: &mut errors };
        if !ids.insert(rs.id.clone()) {
            e.push("id", format!("site id `{}` is used by another site", rs.id));
        }
        if let Some(site) = compile_site(file, rs, &mut e) {
            sites.push(site);
        }
    }
    for site in &sites {
        let Some(from) = site.model.as_ref().and_then(|m| m.from.as_ref()) else { continue };
        let mut e = Errors { file: &site.file, list: &mut errors };
        match sites.iter().find(|s| &s.id == from) {
            // The source is configured but has errors of its own, reported with its file.
            None if ids.contains(from) => {}
            None => e.push("model.from", format!("no site `{from}` is configured")),
            Some(s) if s.model.as_ref().is_none_or(|m| m.from.is_some()) => {
                e.push("model.from", format!("site `{from}` is not a source site: give it a `[model]` without `from`"))
            }
            Some(_) => {}
        }
    }
    let mut pipelines = BTreeMap::new();
    for (name, (file, rp)) in &raw.pipelines {
        let mut e = Errors { file, list: &mut errors };
        if let Some(p) = compile_pipeline(name, file, rp, &ids, &mut e) {
            pipelines.insert(name.clone(), p);
        }
    }
    if errors.is_empty() {
        Ok(Plan { sites, pipelines })
    } else {
        Err(errors)
    }
}

pub(super) struct Errors<'a> {
    file: &'a Path,
    list: &'a mut Vec<ConfigError>,
}

impl Errors<'_> {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.list.push(ConfigError::new(self.file, key, message));
    }
    fn count(&self) -> usize {
        self.list.len()
    }
}

pub(super) fn check_area_of_use(crs: &Crs, bounds: Bounds, e: &mut Errors) {
    let Some([w, s, east, n]) = crs.area_of_use() else {
        return;
    };
    let m = AREA_OF_USE_MARGIN_DEG;
    let inside = match crs.transform_bounds(bounds.as_array(), &Crs::wgs84()) {
        Ok([bw, bs, be, bn]) => (bw >= w - m && be <= east + m && bs >= s - m && bn <= n + m)
            .then_some(())
            .ok_or(format!("they reach lon {bw:.2}..{be:.2}, lat {bs:.2}..{bn:.2}")),
        Err(_) => Err("they cannot be transformed to longitude/latitude".to_owned()),
    };
    if let Err(why) = inside {
        e.push(
            "bounds",
            format!(
                "not in the valid area of {crs} (lon {w:.2}..{east:.2}, lat {s:.2}..{n:.2}): {why}; check the CRS, and that bounds are in its units (x = easting)"
            ),
        );
    }
}

/// Resolves a site-relative path for GDAL. Returns the path to open and the local file that must exist.
/// `/vsizip/rel/archive.zip/member` resolves `rel` against `dir`; other `/vsi...` paths are passed through.
pub fn resolve_gdal_path(dir: &Path, path: &str) -> (String, Option<PathBuf>) {
    for prefix in ["/vsizip/", "/vsitar/", "/vsigzip/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let abs = if rest.starts_with('/') { PathBuf::from(rest) } else { normalize(&dir.join(rest)) };
            let abs_str = abs.display().to_string();
            let lower = abs_str.to_ascii_lowercase();
            let archive = [".zip", ".tar.gz", ".tgz", ".tar", ".gz"]
                .iter()
                .filter_map(|ext| {
                    lower
                        .find(&format!("{ext}/"))
                        .map(|i| i + ext.len())
                        .or_else(|| lower.ends_with(ext).then_some(lower.len()))
                })
                .min()
                .map(|end| PathBuf::from(&abs_str[..end]));
            return (format!("{prefix}{abs_str}"), archive);
        }
    }
    if path.starts_with("/vsi") {
        return (path.to_owned(), None);
    }
    let abs = normalize(&dir.join(path));
    (abs.display().to_string(), Some(abs))
}

/// Removes `.` and `..` components without touching the disk.
pub(super) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests;
