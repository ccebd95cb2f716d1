//! The pipeline runner: the only code that knows the order of the stages.
//!
//! For every selected site it runs the pipeline's stages in dependency order (`dem` before `terrain`), and keeps
//! going when one site fails: the summary lists each site's outcome. A stage that is not in the pipeline reads what
//! an earlier run left in the store.
use std::time::Instant;

use tracing::{error, info};

use crate::config::{Pipeline, Plan, Site, Stage};
use crate::features::terrain;
use crate::ingest::dem;
use crate::store::Store;

/// Outcome of one stage on one site.
#[derive(Debug)]
pub struct UnitResult {
    pub site: String,
    pub stage: &'static str,
    pub outcome: Result<String, String>,
    pub seconds: f64,
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub units: Vec<UnitResult>,
}

impl RunSummary {
    pub fn failures(&self) -> impl Iterator<Item = &UnitResult> {
        self.units.iter().filter(|u| u.outcome.is_err())
    }
}

/// Position of a stage in the dependency order.
fn rank(stage: &Stage) -> usize {
    match stage {
        Stage::Dem(_) => 0,
        Stage::Terrain(_) => 1,
    }
}

/// Runs `pipeline` on `sites` (all sites of the plan when empty), writing into `store`.
pub fn run(plan: &Plan, pipeline: &Pipeline, sites: &[String], store: &Store) -> RunSummary {
    let mut stages: Vec<&Stage> = pipeline.stages.iter().collect();
    stages.sort_by_key(|s| rank(s));
    let mut summary = RunSummary::default();
    for site in plan.sites.iter().filter(|s| sites.is_empty() || sites.contains(&s.id)) {
        for stage in &stages {
            let t = Instant::now();
            let outcome = run_stage(site, stage, store);
            let seconds = t.elapsed().as_secs_f64();
            match &outcome {
                Ok(msg) => {
                    info!(site = %site.id, stage = stage.name(), seconds = format!("{seconds:.1}"), "{msg}")
                }
                Err(e) => error!(site = %site.id, stage = stage.name(), "{e}"),
            }
            let failed = outcome.is_err();
            summary.units.push(UnitResult { site: site.id.clone(), stage: stage.name(), outcome, seconds });
            if failed {
                break; // later stages of this site depend on this one
            }
        }
    }
    summary
}

/// Runs one stage for one site; the message says what was written.
pub fn run_stage(site: &Site, stage: &Stage, store: &Store) -> Result<String, String> {
    match stage {
        Stage::Dem(p) => {
            let d = dem::ingest(site, p, &store.dem(&site.id)).map_err(|e| e.to_string())?;
            Ok(format!(
                "DEM on grid {}x{} at {} m: {} ({:.1}% valid, {:.0}..{:.0} m)",
                d.grid.width,
                d.grid.height,
                d.grid.res_x(),
                d.path.display(),
                100.0 * d.valid_cells as f64 / d.grid.cells() as f64,
                d.min_m,
                d.max_m
            ))
        }
        Stage::Terrain(p) => {
            let dem_path = store.dem(&site.id);
            if !dem_path.exists() {
                return Err(format!(
                    "{} is missing: run the dem stage first (`avarisk ingest dem --site {}`)",
                    dem_path.display(),
                    site.id
                ));
            }
            let t = terrain::derive(&dem_path, &store.terrain(&site.id), p).map_err(|e| e.to_string())?;
            let names: Vec<&str> = t.bands.iter().map(|b| b.feature.name()).collect();
            Ok(format!("{} bands ({}) in {}", names.len(), names.join(", "), t.path.display()))
        }
    }
}
