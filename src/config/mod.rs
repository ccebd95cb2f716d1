//! Configuration: sites (`sites/<id>/site.toml`) and pipelines (`pipelines/<name>.toml`).
//!
//! Three steps, each reporting every problem it finds (with file and key) rather than stopping at the first:
//! 1. [`parse`]: strict TOML into the [`raw`] types (unknown keys are errors);
//! 2. [`compile()`]: a pure function from raw types to a validated [`Plan`] (no disk, no network);
//! 3. [`check_inputs`]: the files the plan names exist.
//!
//! [`load`] runs all three over a project folder; `avarisk validate` prints its report.
pub mod compile;
pub mod params;
pub mod plan;
pub mod error;
pub mod parse;
pub mod raw;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use compile::compile;
pub use error::{ConfigError, ConfigReport};
pub use plan::{
    Attribution, DangerSpec, DemSource, ModelMode, ModelSpec, ObservationSource, Pipeline, Plan, PublishSpec,
    PublishStage, ReferenceLayer, Site, Stage, StageParams, TrainStage, WeatherPoint, WeatherSource, HELD_BACK_FROM,
};

/// Raw files as read from disk, before compilation.
#[derive(Debug, Default)]
pub struct RawConfig {
    /// (site.toml path, parsed site) in folder-name order.
    pub sites: Vec<(PathBuf, raw::RawSite)>,
    /// pipeline name -> (file, parsed pipeline).
    pub pipelines: BTreeMap<String, (PathBuf, raw::RawPipeline)>,
}

/// Reads, parses, compiles and checks the configuration under `project` (which holds `sites/` and `pipelines/`).
pub fn load(project: &Path) -> Result<Plan, ConfigReport> {
    let (raw, mut errors) = read_all(project);
    match compile(&raw) {
        Ok(plan) => {
            errors.extend(check_inputs(&plan));
            if errors.is_empty() {
                Ok(plan)
            } else {
                Err(ConfigReport { errors })
            }
        }
        Err(e) => {
            errors.extend(e);
            Err(ConfigReport { errors })
        }
    }
}

/// Reads and strictly parses every site and pipeline file under `project`.
pub fn read_all(project: &Path) -> (RawConfig, Vec<ConfigError>) {
    let mut raw = RawConfig::default();
    let mut errors = Vec::new();
    let sites_dir = project.join("sites");
    for dir in sorted_entries(&sites_dir, &mut errors) {
        let file = dir.join("site.toml");
        // Folders without site.toml (such as `_shared`) hold data used by sites, not sites.
        if !dir.is_dir() || !file.exists() {
            continue;
        }
        if let Some(site) = read_one::<raw::RawSite>(&file, &mut errors) {
            raw.sites.push((file, site));
        }
    }
    let pipelines_dir = project.join("pipelines");
    for file in sorted_entries(&pipelines_dir, &mut errors) {
        if file.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(p) = read_one::<raw::RawPipeline>(&file, &mut errors) {
            raw.pipelines.insert(name, (file, p));
        }
    }
    (raw, errors)
}

fn sorted_entries(dir: &Path, errors: &mut Vec<ConfigError>) -> Vec<PathBuf> {
    match fs_err::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            v
        }
        Err(e) => {
            errors.push(ConfigError::new(dir, "", format!("cannot list the folder: {e}")));
            Vec::new()
        }
    }
}

fn read_one<T: serde::de::DeserializeOwned>(file: &Path, errors: &mut Vec<ConfigError>) -> Option<T> {
    match fs_err::read_to_string(file) {
        Ok(text) => {
            let (value, errs) = parse::parse_strict::<T>(file, &text);
            errors.extend(errs);
            value
        }
        Err(e) => {
            errors.push(ConfigError::new(file, "", format!("cannot read: {e}")));
            None
        }
    }
}

/// Checks that every local file a plan names exists. Remote paths (`/vsis3/`, `/vsicurl/`...) are not checked here.
pub fn check_inputs(plan: &Plan) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for site in &plan.sites {
        let mut check = |key: String, local: &Option<PathBuf>, shown: &str| {
            if let Some(p) = local {
                if !p.exists() {
                    errors.push(ConfigError::new(
                        &site.file,
                        key,
                        format!(
                            "file not found: {shown} (looked for {}; paths are relative to the site folder)",
                            p.display()
                        ),
                    ));
                }
            }
        };
        for (i, d) in site.dem.iter().enumerate() {
            check(format!("dem[{i}].path"), &d.local_file, &d.path);
        }
        for (i, o) in site.observations.iter().enumerate() {
            check(format!("observations[{i}].path"), &Some(o.path.clone()), &o.path.display().to_string());
        }
        for (i, r) in site.reference.iter().enumerate() {
            check(format!("reference[{i}].path"), &Some(r.path.clone()), &r.path.display().to_string());
        }
        if let Some(WeatherSource::StationCsv { stations, .. }) = &site.weather {
            for (i, st) in stations.iter().enumerate() {
                check(format!("weather.stations[{i}].path"), &Some(st.path.clone()), &st.path.display().to_string());
            }
        }
    }
    errors
}
