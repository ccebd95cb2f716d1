//! The day's map, what the `predict` stage writes: the site's susceptibility map (its bundle over the whole grid,
//! [`super::predict`], computed once per bundle and kept) combined with the day's hazard of each cell's weather
//! region ([`crate::hazard`]) into one probability per cell and day.
//!
//! ```text
//!  bundle ──predict (once per bundle)──► susceptibility.tif ──┐
//!  weather/daily.parquet ──day features per point──► hazard per point ──► region of each cell (nearest point)
//!                                                              └──► p(cell) = expected releases(region) x s(cell)
//!                                                                     / sum of s over the region ──► predictions/<day>.tif
//! ```
//!
//! A region's cells share its expected recorded releases (the hazard times the releases per accident day,
//! [`HazardModel::expected_releases`]) in proportion to their susceptibility, so summed over a region the map gives
//! back the releases expected there that day. The map therefore rises and falls with the day's weather, and its
//! classes ([`crate::publish`]) follow.
use std::path::PathBuf;

use chrono::NaiveDate;
use gdal::Metadata;

use super::{predict, Inputs, PredictError, PredictParams};
use crate::config::Site;
use crate::geo::raster::{self, BandSpec, Staged};
use crate::geo::{Crs, GeoError, Grid};
use crate::hazard::{self, HazardModel};
use crate::model::bundle;
use crate::store::Store;

/// What [`day_map`] wrote.
#[derive(Debug, Clone)]
pub struct DayMap {
    pub path: PathBuf,
    /// Hazard of each weather point's region on the day.
    pub hazard: Vec<(String, f64)>,
    /// The model's alert threshold: a region at or above it is under alert.
    pub alert_threshold: f64,
    pub valid_cells: usize,
    /// Whether the susceptibility map was (re)computed for this run.
    pub susceptibility_computed: bool,
}

impl DayMap {
    /// The highest regional hazard of the day.
    pub fn max_hazard(&self) -> f64 {
        self.hazard.iter().map(|(_, h)| *h).fold(0.0, f64::max)
    }
}

impl std::fmt::Display for DayMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h: Vec<String> = self.hazard.iter().map(|(p, h)| format!("{p} {h:.3}")).collect();
        write!(
            f,
            "risk probability on {} valid cells, hazard {} (alert from {:.3}){}: {}",
            self.valid_cells,
            h.join(", "),
            self.alert_threshold,
            if self.susceptibility_computed { ", susceptibility map computed" } else { "" },
            self.path.display()
        )
    }
}

/// Metadata key of the susceptibility map naming the bundle it came from.
const BUNDLE_KEY: &str = "AVARISK_BUNDLE";

/// The `predict` stage for one site and day. `None` when the site has no `[model]`.
pub fn day_map(
    site: &Site,
    store: &Store,
    date: NaiveDate,
    params: &PredictParams,
) -> Result<Option<DayMap>, PredictError> {
    if site.model.is_none() {
        return Ok(None);
    }
    let bundle_dir = store.bundle(&site.id);
    if !bundle_dir.exists() {
        return Err(PredictError::Missing {
            path: bundle_dir.display().to_string(),
            hint: format!("give the site its model first (`avarisk run onboard --sites {}`)", site.id),
        });
    }
    let model = HazardModel::load(&store.hazard(&site.id)).map_err(|e| PredictError::Params(e.to_string()))?;

    // The day's hazard at every weather point of the site.
    let weather_path = store.weather(&site.id);
    if !weather_path.exists() {
        return Err(PredictError::Missing {
            path: weather_path.display().to_string(),
            hint: "ingest the site's weather first (the `weather` stage of `avarisk run daily`)".into(),
        });
    }
    let rows = crate::ingest::weather::store::load(&weather_path).map_err(|e| PredictError::Params(e.to_string()))?;
    let features = hazard::point_features(&site.id, &rows, date).map_err(|e| PredictError::Params(e.to_string()))?;
    if features.is_empty() {
        return Err(PredictError::Params(format!("site `{}`: no weather point has features for {date}", site.id)));
    }
    let points: Vec<(String, f64, f64)> = features.iter().map(|p| (p.id.clone(), p.longitude, p.latitude)).collect();
    let hazards: Vec<f64> = features.iter().map(|p| model.hazard(&p.x, date)).collect();
    let maps = site_maps(site, store, params, &points)?;
    let (sus, grid, width) = (&maps.susceptibility, &maps.grid, maps.grid.width);
    let staged = Staged::new(&store.prediction(&site.id, date))?;
    let spec = BandSpec {
        name: "risk_probability".into(),
        unit: "1".into(),
        description: "probability of a recorded avalanche release starting in the cell on the day".into(),
    };
    let mut out = raster::create_f32(staged.path(), grid, &[spec])?;
    let md_err = |e| GeoError::Gdal {
        action: "write metadata to",
        path: staged.path().display().to_string(),
        source: Box::new(e),
    };
    let hazard_list: Vec<(String, f64)> = features.iter().map(|p| p.id.clone()).zip(hazards.iter().copied()).collect();
    out.set_metadata_item("AVARISK_DATE", &date.to_string(), "").map_err(md_err)?;
    out.set_metadata_item(BUNDLE_KEY, &maps.bundle_id, "").map_err(md_err)?;
    out.set_metadata_item("AVARISK_HAZARD", &serde_json::to_string(&hazard_list).unwrap_or_default(), "")
        .map_err(md_err)?;
    out.set_metadata_item("AVARISK_ALERT_THRESHOLD", &model.alert_threshold.to_string(), "").map_err(md_err)?;
    let mut valid = 0;
    for row in 0..grid.height {
        let line: Vec<f32> = (0..width)
            .map(|c| {
                let i = row * width + c;
                let r = maps.region[i] as usize;
                hazard::cell_probability(model.expected_releases(hazards[r]), sus[i], maps.totals[r])
            })
            .collect();
        valid += line.iter().filter(|v| v.is_finite()).count();
        raster::write_rows(&out, 1, row, width, line)?;
    }
    drop(out);
    let path = staged.commit()?;
    Ok(Some(DayMap {
        path,
        hazard: hazard_list,
        alert_threshold: model.alert_threshold,
        valid_cells: valid,
        susceptibility_computed: maps.computed,
    }))
}

/// What a site's daily maps share across days: the susceptibility map of its bundle, the weather region (nearest
/// point) of every cell and each region's total susceptibility.
pub struct SiteMaps {
    pub susceptibility: Vec<f32>,
    pub grid: Grid,
    /// Index into the points given to [`site_maps`] of each cell's region.
    pub region: Vec<u16>,
    /// Sum of the susceptibility over each region's valid cells.
    pub totals: Vec<f64>,
    /// Whether the susceptibility map was (re)computed.
    pub computed: bool,
    /// Lineage id of the bundle that made the susceptibility map.
    pub bundle_id: String,
}

/// The site's [`SiteMaps`] for weather points `(id, longitude, latitude)`: the susceptibility map is read from
/// [`Store::susceptibility`] when it was made by the current bundle, else predicted (and kept).
pub fn site_maps(
    site: &Site,
    store: &Store,
    params: &PredictParams,
    points: &[(String, f64, f64)],
) -> Result<SiteMaps, PredictError> {
    let bundle_dir = store.bundle(&site.id);
    let bundle_id = bundle::lineage_id(&bundle_dir)?;
    let sus_path = store.susceptibility(&site.id);
    let current = raster::open(&sus_path.display().to_string())
        .ok()
        .and_then(|ds| ds.metadata_item(BUNDLE_KEY, ""))
        .is_some_and(|id| id == bundle_id);
    if !current {
        let inputs = Inputs { dem: store.dem(&site.id), terrain: store.terrain(&site.id), weather: None };
        let today = chrono::Utc::now().date_naive();
        predict(&inputs, &bundle_dir, today, params, &sus_path, crate::model::device())?;
    }
    let (susceptibility, width) = raster::read_band(&sus_path)?;
    let grid = Grid::of_dataset(&raster::open(&sus_path.display().to_string())?, &sus_path.display().to_string())?;
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = points.iter().map(|(_, lon, lat)| (*lon, *lat)).unzip();
    Crs::wgs84().transform_points(&site.grid.crs, &mut xs, &mut ys)?;
    let t = grid.transform;
    let mut region = vec![0u16; susceptibility.len()];
    let mut totals = vec![0f64; points.len()];
    for (i, s) in susceptibility.iter().enumerate() {
        let (x, y) = (t[0] + ((i % width) as f64 + 0.5) * t[1], t[3] + ((i / width) as f64 + 0.5) * t[5]);
        let d = |k: usize| (xs[k] - x).powi(2) + (ys[k] - y).powi(2);
        let r = (0..points.len()).min_by(|a, b| d(*a).total_cmp(&d(*b))).unwrap_or(0);
        region[i] = r as u16;
        if s.is_finite() {
            totals[r] += *s as f64;
        }
    }
    Ok(SiteMaps { susceptibility, grid, region, totals, computed: !current, bundle_id })
}
