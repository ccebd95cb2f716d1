//! `compile`: the pure step from raw configuration to a validated [`Plan`]. It reports every problem at once, each
//! with its file and key, and touches neither user files nor the network (CRS facts come from GDAL/PROJ's registry).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use chrono_tz::Tz;

use super::raw::{RawColumn, RawDanger, RawPipeline, RawSite, RawStage, RawWeather};
use super::{ConfigError, RawConfig};
use crate::dataset::SamplingParams;
use crate::features::terrain::{Feature, TerrainParams, WindShelterParams};
use crate::features::weather::WeatherFeatureParams;
use crate::geo::{Bounds, Crs, Grid, Resampling};
use crate::ingest::dem::DemParams;
use crate::ingest::observations::ObservationParams;
use crate::ingest::weather::fetch::FetchParams;
use crate::ingest::weather::open_meteo::{self, Endpoint};
use crate::ingest::weather::schema::Variable;
use crate::ingest::weather::station_csv::StationFormat;
use crate::ingest::weather::units::{ColumnSpec, Unit};
use crate::predict::PredictParams;
use crate::train::fit::TrainParams;

/// How far (degrees) site bounds may reach beyond the CRS's registered area of use. Projections stay accurate a
/// little beyond it; much further means a wrong CRS or swapped axes.
const AREA_OF_USE_MARGIN_DEG: f64 = 1.0;
/// Largest grid accepted, in cells (a 100,000 x 100,000 grid is far beyond any site; it catches unit mistakes).
const MAX_CELLS: f64 = 1e10;

/// Everything avarisk needs to run: validated sites and pipelines.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sites: Vec<Site>,
    pub pipelines: BTreeMap<String, Pipeline>,
}

impl Plan {
    pub fn site(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }

    /// The parameters of pipeline `pipeline`'s stage of type `T`, when the pipeline exists and has that stage.
    pub fn stage<T: StageParams>(&self, pipeline: &str) -> Option<&T> {
        self.pipelines.get(pipeline).and_then(Pipeline::stage)
    }
}

/// The first winter (the year of its October) that is held back from training unless a stage says otherwise: winters
/// 2018/19 on are the project's test winters.
pub const HELD_BACK_FROM: i32 = 2018;

#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub name: String,
    /// The site.toml this came from, and its folder (relative paths resolve against it).
    pub file: PathBuf,
    pub dir: PathBuf,
    pub grid: Grid,
    pub timezone: Tz,
    pub dem: Vec<DemSource>,
    pub observations: Vec<ObservationSource>,
    pub reference: Vec<ReferenceLayer>,
    pub weather: Option<WeatherSource>,
    pub model: Option<ModelSpec>,
    pub danger: Option<DangerSpec>,
    pub attribution: Vec<Attribution>,
}

/// Where a site's model comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Source site whose bundle this one starts from; `None`: a source site, trained on its own records.
    pub from: Option<String>,
    pub mode: ModelMode,
}

/// How a carried-over bundle meets its new site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelMode {
    /// Fine-tune with the encoder frozen.
    Freeze,
    /// Fine-tune everything, the encoder at a smaller rate.
    Full,
    /// Unsupervised domain adaptation (no labels needed).
    Adapt,
}

/// A site's danger levels and what is published from them.
#[derive(Debug, Clone, PartialEq)]
pub struct DangerSpec {
    /// Probabilities at which levels 2, 3, 4 and 5 begin.
    pub thresholds: [f32; 4],
    pub zone_min_level: u8,
    pub alert_level: u8,
    pub alert_min_area_km2: f64,
    pub zone_min_area_km2: f64,
    pub calibration: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DemSource {
    /// The path GDAL opens (absolute, `/vsizip/` prefix kept).
    pub path: String,
    /// The local file that must exist (the archive for `/vsizip/`), `None` for remote paths.
    pub local_file: Option<PathBuf>,
    /// CRS to assume when the file carries none.
    pub crs: Option<Crs>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationFormat {
    Csv,
    GeoJson,
}

#[derive(Debug, Clone)]
pub struct ObservationSource {
    pub path: PathBuf,
    pub format: ObservationFormat,
    pub crs: Crs,
    pub description: Option<String>,
    /// Name stored with each record.
    pub source: String,
    /// CSV field separator.
    pub delimiter: u8,
    pub columns: ObservationColumns,
    /// Weather measured with each event: canonical variable <- source column.
    pub weather: Vec<(Variable, ColumnSpec)>,
}

/// Source columns (CSV) or properties (GeoJSON) of each record field.
#[derive(Debug, Clone, Default)]
pub struct ObservationColumns {
    pub date: String,
    pub x: Option<String>,
    pub y: Option<String>,
    pub id: Option<String>,
    pub kind: Option<String>,
    pub size: Option<String>,
    pub trigger: Option<String>,
    pub elevation: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ReferenceLayer {
    pub kind: String,
    pub path: PathBuf,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub enum WeatherSource {
    OpenMeteo {
        /// Base URL without trailing slash, e.g. `https://archive-api.open-meteo.com`.
        base_url: String,
        endpoint: Endpoint,
        points: Vec<WeatherPoint>,
        daily: Vec<String>,
        hourly: Vec<String>,
        recorded: Option<PathBuf>,
    },
    StationCsv {
        format: StationFormat,
        delimiter: u8,
        date_column: Option<String>,
        station_column: Option<String>,
        /// The mapping in force: the format's own, overridden by the site's `columns`.
        columns: Vec<(Variable, ColumnSpec)>,
        stations: Vec<Station>,
    },
}

#[derive(Debug, Clone)]
pub struct Station {
    pub id: String,
    pub path: PathBuf,
    pub code: String,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation_m: f64,
}

#[derive(Debug, Clone)]
pub struct WeatherPoint {
    pub id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation_m: f64,
}

#[derive(Debug, Clone)]
pub struct Attribution {
    pub data: String,
    pub source: String,
    pub licence: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub stages: Vec<Stage>,
}

impl Pipeline {
    /// The parameters of this pipeline's stage of type `T` (the `train` stage for [`TrainStage`]).
    pub fn stage<T: StageParams>(&self) -> Option<&T> {
        self.stages.iter().find_map(T::of)
    }
}

/// A stage's parameter type, found in a pipeline with [`Pipeline::stage`].
pub trait StageParams {
    fn of(stage: &Stage) -> Option<&Self>;
}

macro_rules! stage_params {
    ($($variant:ident($t:ty)),* $(,)?) => {$(
        impl StageParams for $t {
            fn of(stage: &Stage) -> Option<&Self> {
                if let Stage::$variant(p) = stage { Some(p) } else { None }
            }
        }
    )*};
}

stage_params!(
    Dem(DemParams),
    Terrain(TerrainParams),
    Observations(ObservationParams),
    Train(TrainStage),
    Weather(FetchParams),
    WeatherFeatures(WeatherFeatureParams),
    Predict(PredictParams),
    Publish(PublishStage),
);

/// A stage with its validated parameters.
#[derive(Debug, Clone)]
pub enum Stage {
    Dem(DemParams),
    Terrain(TerrainParams),
    Observations(ObservationParams),
    Train(TrainStage),
    Weather(FetchParams),
    WeatherFeatures(WeatherFeatureParams),
    /// Onboarding: give each site with a `[model]` its bundle (`sites` of the stage is unused).
    Model(TrainStage),
    /// Onboarding: give each site with a `[model]` its day-level hazard model (winters from `held_back_from` on are
    /// never fitted on).
    Hazard {
        held_back_from: i32,
    },
    Predict(PredictParams),
    Publish(PublishStage),
}

/// Parameters of the `publish` stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishStage {
    /// CAP alerts carry status `Test`.
    pub test: bool,
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Dem(_) => "dem",
            Stage::Terrain(_) => "terrain",
            Stage::Observations(_) => "observations",
            Stage::Train(_) => "train",
            Stage::Weather(_) => "weather",
            Stage::WeatherFeatures(_) => "weather_features",
            Stage::Model(_) => "model",
            Stage::Hazard { .. } => "hazard",
            Stage::Predict(_) => "predict",
            Stage::Publish(_) => "publish",
        }
    }
}

/// What to train on and how (the `train` stage).
#[derive(Debug, Clone)]
pub struct TrainStage {
    pub sites: Vec<String>,
    pub held_back_from: i32,
    pub sampling: SamplingParams,
    pub train: TrainParams,
}

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

struct Errors<'a> {
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

fn compile_site(file: &Path, rs: &RawSite, e: &mut Errors) -> Option<Site> {
    let before = e.count();
    let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();

    if rs.id.is_empty() || !rs.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        e.push("id", format!("`{}` is not a valid site id: use lower-case letters, digits and `-`", rs.id));
    } else if rs.id != folder {
        e.push("id", format!("`{}` differs from the site's folder name `{folder}`: rename one of them", rs.id));
    }
    if rs.name.trim().is_empty() {
        e.push("name", "must not be empty");
    }

    let crs = match Crs::from_user(&rs.crs) {
        Ok(c) if c.is_projected_metres() => Some(c),
        Ok(_) => {
            e.push(
                "crs",
                format!(
                    "{} is not a projected CRS in metres: site grids need one (e.g. EPSG:2056, a UTM zone)",
                    rs.crs
                ),
            );
            None
        }
        Err(err) => {
            e.push("crs", err.to_string());
            None
        }
    };

    let res = rs.resolution_m;
    if !(res.is_finite() && res > 0.0) {
        e.push("resolution_m", format!("must be a positive number of metres, got {res}"));
    }

    let b = rs.bounds;
    let finite = [b.xmin, b.ymin, b.xmax, b.ymax].iter().all(|v| v.is_finite());
    let ordered = finite && b.xmin < b.xmax && b.ymin < b.ymax;
    if !ordered {
        e.push(
            "bounds",
            format!("need finite xmin < xmax and ymin < ymax, got {:?}", [b.xmin, b.ymin, b.xmax, b.ymax]),
        );
    }
    let bounds = Bounds { xmin: b.xmin, ymin: b.ymin, xmax: b.xmax, ymax: b.ymax };
    if let (Some(crs), true) = (&crs, ordered) {
        check_area_of_use(crs, bounds, e);
    }
    if ordered && res > 0.0 && res.is_finite() {
        let cells = ((b.xmax - b.xmin) / res).ceil() * ((b.ymax - b.ymin) / res).ceil();
        if cells > MAX_CELLS {
            e.push(
                "resolution_m",
                format!("{res} m over these bounds gives {cells:.0} cells: is the resolution in metres?"),
            );
        } else if cells < 9.0 {
            e.push("bounds", format!("the grid would have only {cells:.0} cell(s) at {res} m: enlarge the bounds or refine the resolution"));
        }
    }

    let timezone = match rs.timezone.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            e.push("timezone", format!("`{}` is not an IANA time zone (e.g. Europe/Zurich)", rs.timezone));
            None
        }
    };

    if rs.dem.is_empty() {
        e.push("dem", "at least one DEM source is needed");
    }
    let mut dem = Vec::new();
    for (i, d) in rs.dem.iter().enumerate() {
        let (path, local_file) = resolve_gdal_path(&dir, &d.path);
        let crs = match d.crs.as_deref().map(Crs::from_user) {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(err)) => {
                e.push(format!("dem[{i}].crs"), err.to_string());
                None
            }
        };
        dem.push(DemSource { path, local_file, crs });
    }

    let mut observations = Vec::new();
    for (i, o) in rs.observations.iter().enumerate() {
        let key = |k: &str| format!("observations[{i}].{k}");
        let format = match o.format.as_str() {
            "csv" => Some(ObservationFormat::Csv),
            "geojson" => Some(ObservationFormat::GeoJson),
            other => {
                e.push(key("format"), format!("`{other}` is not supported: use csv or geojson"));
                None
            }
        };
        let ocrs = match o.crs.as_deref().map(Crs::from_user).unwrap_or_else(|| Ok(Crs::wgs84())) {
            Ok(c) => Some(c),
            Err(err) => {
                e.push(key("crs"), err.to_string());
                None
            }
        };
        let delimiter = compile_delimiter(o.delimiter.as_deref(), b',', &key("delimiter"), e);
        let c = &o.columns;
        if format == Some(ObservationFormat::Csv) && (c.x.is_none() || c.y.is_none()) {
            e.push(key("columns"), "a CSV needs `x` and `y` columns for the coordinates");
        }
        let weather = compile_columns(&o.weather, &key("weather"), e);
        let path = normalize(&dir.join(&o.path));
        let source = o
            .source
            .clone()
            .unwrap_or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        if let (Some(format), Some(crs)) = (format, ocrs) {
            observations.push(ObservationSource {
                path,
                format,
                crs,
                description: o.description.clone(),
                source,
                delimiter,
                columns: ObservationColumns {
                    date: c.date.clone(),
                    x: c.x.clone(),
                    y: c.y.clone(),
                    id: c.id.clone(),
                    kind: c.kind.clone(),
                    size: c.size.clone(),
                    trigger: c.trigger.clone(),
                    elevation: c.elevation.clone(),
                },
                weather,
            });
        }
    }

    let mut reference = Vec::new();
    for (i, r) in rs.reference.iter().enumerate() {
        if r.kind != "release_areas" {
            e.push(
                format!("reference[{i}].kind"),
                format!("`{}` is not a known layer kind: use release_areas", r.kind),
            );
        }
        reference.push(ReferenceLayer {
            kind: r.kind.clone(),
            path: normalize(&dir.join(&r.path)),
            description: r.description.clone(),
        });
    }

    let weather = rs.weather.as_ref().map(|w| compile_weather(w, &dir, crs.as_ref(), ordered.then_some(bounds), e));

    let model = rs.model.as_ref().map(|m| ModelSpec {
        from: m.from.clone(),
        mode: match m.mode.as_deref() {
            None | Some("freeze") => ModelMode::Freeze,
            Some("full") => ModelMode::Full,
            Some("adapt") => ModelMode::Adapt,
            Some(other) => {
                e.push("model.mode", format!("`{other}` is not a mode: use freeze, full or adapt"));
                ModelMode::Freeze
            }
        },
    });
    if model.as_ref().and_then(|m| m.from.as_deref()) == Some(rs.id.as_str()) {
        e.push("model.from", "a site cannot start from its own bundle: leave `from` out for a source site");
    }
    let danger = rs.danger.as_ref().and_then(|d| compile_danger(d, e));

    if rs.attribution.is_empty() {
        e.push("attribution", "say where the site's data come from and under which licence ([[attribution]] entries)");
    }
    for (i, a) in rs.attribution.iter().enumerate() {
        for (k, v) in [("data", &a.data), ("source", &a.source), ("licence", &a.licence)] {
            if v.trim().is_empty() {
                e.push(format!("attribution[{i}].{k}"), "must not be empty");
            }
        }
    }
    let attribution = rs
        .attribution
        .iter()
        .map(|a| Attribution {
            data: a.data.clone(),
            source: a.source.clone(),
            licence: a.licence.clone(),
            url: a.url.clone(),
        })
        .collect();

    if e.count() > before {
        return None;
    }
    Some(Site {
        id: rs.id.clone(),
        name: rs.name.clone(),
        file: file.to_path_buf(),
        dir,
        grid: Grid::from_bounds(crs?, bounds, res),
        timezone: timezone?,
        dem,
        observations,
        reference,
        weather,
        model,
        danger,
        attribution,
    })
}

/// The optional training parameters shared by the `train` and `model` stages.
struct RawTrain<'a> {
    held_back_from: &'a Option<i32>,
    epochs: &'a Option<usize>,
    batch: &'a Option<usize>,
    lr: &'a Option<f64>,
    weight_decay: &'a Option<f64>,
    patience: &'a Option<usize>,
    seed: &'a Option<u64>,
    patch: &'a Option<usize>,
    context: &'a Option<usize>,
}

fn compile_train(sites: &[String], raw: &RawTrain, key: &dyn Fn(&str) -> String, e: &mut Errors) -> TrainStage {
    let (d, ds) = (TrainParams::default(), SamplingParams::default());
    let t = TrainStage {
        sites: sites.to_vec(),
        held_back_from: raw.held_back_from.unwrap_or(HELD_BACK_FROM),
        sampling: SamplingParams {
            patch: raw.patch.unwrap_or(ds.patch),
            context: raw.context.unwrap_or(ds.context),
            seed: raw.seed.unwrap_or(ds.seed),
            ..ds
        },
        train: TrainParams {
            epochs: raw.epochs.unwrap_or(d.epochs),
            batch: raw.batch.unwrap_or(d.batch),
            lr: raw.lr.unwrap_or(d.lr),
            weight_decay: raw.weight_decay.unwrap_or(d.weight_decay),
            patience: raw.patience.unwrap_or(d.patience),
            seed: raw.seed.unwrap_or(d.seed),
        },
    };
    if t.sampling.patch < 8 || t.sampling.patch % 4 != 0 {
        e.push(key("patch"), format!("must be a multiple of 4, at least 8, got {}", t.sampling.patch));
    }
    if 2 * t.sampling.context + 4 > t.sampling.patch {
        e.push(
            key("context"),
            format!(
                "must leave a labelled centre of at least 4 cells: 2 x {} + 4 > patch {}",
                t.sampling.context, t.sampling.patch
            ),
        );
    }
    if t.train.epochs == 0 || t.train.batch == 0 {
        e.push(key("epochs"), "epochs and batch must be at least 1");
    }
    if !(t.train.lr > 0.0 && t.train.lr < 1.0) {
        e.push(key("lr"), format!("must be in (0, 1), got {}", t.train.lr));
    }
    t
}

fn compile_danger(d: &RawDanger, e: &mut Errors) -> Option<DangerSpec> {
    let before = e.count();
    let t = &d.thresholds;
    if t.len() != 4 {
        e.push(
            "danger.thresholds",
            format!("give 4 probabilities (where levels 2, 3, 4 and 5 begin), found {}", t.len()),
        );
    } else if !(t.iter().all(|v| *v > 0.0 && *v < 1.0) && t.windows(2).all(|w| w[0] < w[1])) {
        e.push("danger.thresholds", format!("must be strictly increasing in (0, 1), found {t:?}"));
    }
    let level = |v: Option<u8>, key: &str, e: &mut Errors| {
        let v = v.unwrap_or(3);
        if !(2..=5).contains(&v) {
            e.push(format!("danger.{key}"), format!("must be a level from 2 to 5, found {v}"));
        }
        v
    };
    let zone_min_level = level(d.zone_min_level, "zone_min_level", e);
    let alert_level = level(d.alert_level, "alert_level", e);
    let alert_min_area_km2 = d.alert_min_area_km2.unwrap_or(5.0);
    if !(alert_min_area_km2 >= 0.0 && alert_min_area_km2.is_finite()) {
        e.push("danger.alert_min_area_km2", format!("must be a non-negative area, found {alert_min_area_km2}"));
    }
    let zone_min_area_km2 = d.zone_min_area_km2.unwrap_or(0.5);
    if !(zone_min_area_km2 >= 0.0 && zone_min_area_km2.is_finite()) {
        e.push("danger.zone_min_area_km2", format!("must be a non-negative area, found {zone_min_area_km2}"));
    }
    if e.count() > before {
        return None;
    }
    Some(DangerSpec {
        zone_min_area_km2,
        thresholds: [t[0] as f32, t[1] as f32, t[2] as f32, t[3] as f32],
        zone_min_level,
        alert_level,
        alert_min_area_km2,
        calibration: d.calibration.clone(),
    })
}

fn check_area_of_use(crs: &Crs, bounds: Bounds, e: &mut Errors) {
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

fn compile_weather(
    w: &RawWeather,
    dir: &Path,
    crs: Option<&Crs>,
    bounds: Option<Bounds>,
    e: &mut Errors,
) -> WeatherSource {
    // Points and stations must lie on (or near) the site: their weather is spread over its grid.
    let check_point = |key: String, id: &str, lat: f64, lon: f64, e: &mut Errors| {
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            e.push(
                key,
                format!("`{id}`: latitude {lat} / longitude {lon} out of range (WGS84 degrees; latitude first?)"),
            );
            return;
        }
        if let (Some(crs), Some(b)) = (crs, bounds) {
            let (mut x, mut y) = ([lon], [lat]);
            let margin = 0.5 * (b.xmax - b.xmin).max(b.ymax - b.ymin);
            let near =
                Bounds { xmin: b.xmin - margin, ymin: b.ymin - margin, xmax: b.xmax + margin, ymax: b.ymax + margin };
            if Crs::wgs84().transform_points(crs, &mut x, &mut y).is_ok()
                && !near.contains(&Bounds { xmin: x[0], ymin: y[0], xmax: x[0], ymax: y[0] })
            {
                e.push(key, format!("`{id}` lies far outside the site bounds (latitude {lat}, longitude {lon})"));
            }
        }
    };
    match w {
        RawWeather::OpenMeteo { base_url, endpoint, points, daily, hourly, recorded } => {
            let daily = daily.clone().unwrap_or_else(|| open_meteo::DAILY.iter().map(|(n, _)| n.to_string()).collect());
            let hourly =
                hourly.clone().unwrap_or_else(|| open_meteo::HOURLY.iter().map(|(n, _)| n.to_string()).collect());
            for (key, names, known) in [
                ("weather.daily", &daily, open_meteo::DAILY.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
                ("weather.hourly", &hourly, open_meteo::HOURLY.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
            ] {
                for n in names.iter().filter(|n| !known.contains(&n.as_str())) {
                    e.push(key, format!("`{n}` is not an Open-Meteo variable avarisk reads: use {}", known.join(", ")));
                }
            }
            if daily.is_empty() && hourly.is_empty() {
                e.push("weather.daily", "request at least one variable");
            }
            let endpoint = match endpoint.as_deref().unwrap_or("archive").parse::<Endpoint>() {
                Ok(ep) => ep,
                Err(m) => {
                    e.push("weather.endpoint", m);
                    Endpoint::Archive
                }
            };
            let base_url = base_url.clone().unwrap_or_else(|| endpoint.default_base_url().to_owned());
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                e.push("weather.base_url", format!("`{base_url}` is not an http(s) URL"));
            }
            if points.is_empty() {
                e.push("weather.points", "at least one query point is needed");
            }
            let mut ids = BTreeSet::new();
            for (i, p) in points.iter().enumerate() {
                if !ids.insert(p.id.clone()) {
                    e.push(format!("weather.points[{i}].id"), format!("`{}` is used twice", p.id));
                }
                check_point(format!("weather.points[{i}]"), &p.id, p.latitude, p.longitude, e);
            }
            WeatherSource::OpenMeteo {
                base_url: base_url.trim_end_matches('/').to_owned(),
                endpoint,
                points: points
                    .iter()
                    .map(|p| WeatherPoint {
                        id: p.id.clone(),
                        latitude: p.latitude,
                        longitude: p.longitude,
                        elevation_m: p.elevation_m,
                    })
                    .collect(),
                daily,
                hourly,
                recorded: recorded.as_ref().map(|r| normalize(&dir.join(r))),
            }
        }
        RawWeather::StationCsv { format, delimiter, date_column, station_column, columns, stations } => {
            let format = match format.parse::<StationFormat>() {
                Ok(f) => f,
                Err(m) => {
                    e.push("weather.format", m);
                    StationFormat::Csv
                }
            };
            if format == StationFormat::Csv && (date_column.is_none() || columns.is_empty()) {
                e.push("weather", "the generic `csv` format needs `date_column` and `columns`");
            }
            let delimiter = compile_delimiter(delimiter.as_deref(), format.default_delimiter(), "weather.delimiter", e);
            let mut mapping: Vec<(Variable, ColumnSpec)> = format.default_columns();
            for (v, spec) in compile_columns(columns, "weather.columns", e) {
                mapping.retain(|(m, _)| *m != v);
                mapping.push((v, spec));
            }
            if stations.is_empty() {
                e.push("weather.stations", "at least one station is needed");
            }
            let mut ids = BTreeSet::new();
            let mut codes = BTreeSet::new();
            for (i, st) in stations.iter().enumerate() {
                if !ids.insert(st.id.clone()) {
                    e.push(format!("weather.stations[{i}].id"), format!("`{}` is used twice", st.id));
                }
                let code = st.code.clone().unwrap_or_else(|| st.id.clone());
                if !codes.insert((st.path.clone(), code.clone())) {
                    e.push(
                        format!("weather.stations[{i}].code"),
                        format!("`{code}` names another station of {} too", st.path),
                    );
                }
                check_point(format!("weather.stations[{i}]"), &st.id, st.latitude, st.longitude, e);
            }
            WeatherSource::StationCsv {
                format,
                delimiter,
                date_column: date_column.clone().or_else(|| format.default_date_column().map(str::to_owned)),
                station_column: station_column.clone().or_else(|| format.default_station_column().map(str::to_owned)),
                columns: mapping,
                stations: stations
                    .iter()
                    .map(|st| Station {
                        id: st.id.clone(),
                        path: normalize(&dir.join(&st.path)),
                        code: st.code.clone().unwrap_or_else(|| st.id.clone()),
                        latitude: st.latitude,
                        longitude: st.longitude,
                        elevation_m: st.elevation_m,
                    })
                    .collect(),
            }
        }
    }
}

/// Compiles `canonical column -> source column [unit]` mappings; units must measure what the column measures.
fn compile_columns(raw: &BTreeMap<String, RawColumn>, key: &str, e: &mut Errors) -> Vec<(Variable, ColumnSpec)> {
    let mut out = Vec::new();
    for (name, col) in raw {
        let Some(var) = Variable::from_column(name) else {
            let known: Vec<&str> = Variable::ALL.iter().map(|v| v.column()).collect();
            e.push(format!("{key}.{name}"), format!("not a canonical weather column: use one of {}", known.join(", ")));
            continue;
        };
        let (column, unit) = match col {
            RawColumn::Name(c) => (c.clone(), var.unit()),
            RawColumn::WithUnit { column, unit } => match unit.parse::<Unit>() {
                Ok(u) if u.convert(0.0, var.unit()).is_some() => (column.clone(), u),
                Ok(u) => {
                    e.push(
                        format!("{key}.{name}.unit"),
                        format!("`{u}` cannot be converted to {} ({name})", var.unit()),
                    );
                    continue;
                }
                Err(m) => {
                    e.push(format!("{key}.{name}.unit"), m);
                    continue;
                }
            },
        };
        out.push((var, ColumnSpec { column, unit }));
    }
    out
}

fn compile_delimiter(raw: Option<&str>, default: u8, key: &str, e: &mut Errors) -> u8 {
    match raw {
        None => default,
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(d) => {
            e.push(key, format!("`{d}` is not a single-character separator"));
            default
        }
    }
}

fn compile_pipeline(
    name: &str,
    file: &Path,
    rp: &RawPipeline,
    site_ids: &BTreeSet<String>,
    e: &mut Errors,
) -> Option<Pipeline> {
    let before = e.count();
    if rp.description.trim().is_empty() {
        e.push("description", "say what the pipeline is for");
    }
    if rp.stages.is_empty() {
        e.push("stages", "a pipeline needs at least one stage");
    }
    let mut seen = BTreeSet::new();
    let mut stages = Vec::new();
    for (i, s) in rp.stages.iter().enumerate() {
        let key = |k: &str| format!("stages[{i}].{k}");
        let stage = match s {
            RawStage::Dem { resampling } => {
                let mut p = DemParams::default();
                if let Some(r) = resampling {
                    match r.parse::<Resampling>() {
                        Ok(r) => p.resampling = r,
                        Err(m) => e.push(key("resampling"), m),
                    }
                }
                Stage::Dem(p)
            }
            RawStage::Train {
                sites,
                held_back_from,
                epochs,
                batch,
                lr,
                weight_decay,
                patience,
                seed,
                patch,
                context,
            } => {
                let raw = RawTrain { held_back_from, epochs, batch, lr, weight_decay, patience, seed, patch, context };
                let t = compile_train(sites, &raw, &key, e);
                if t.sites.is_empty() {
                    e.push(key("sites"), "name at least one source site");
                }
                for id in t.sites.iter().filter(|id| !site_ids.contains(*id)) {
                    e.push(key("sites"), format!("no site `{id}` is configured"));
                }
                Stage::Train(t)
            }
            RawStage::Model { held_back_from, epochs, batch, lr, weight_decay, patience, seed, patch, context } => {
                let raw = RawTrain { held_back_from, epochs, batch, lr, weight_decay, patience, seed, patch, context };
                Stage::Model(compile_train(&[], &raw, &key, e))
            }
            RawStage::Hazard { held_back_from } => {
                Stage::Hazard { held_back_from: held_back_from.unwrap_or(HELD_BACK_FROM) }
            }
            RawStage::Predict { tile, overlap, batch, mc_passes } => {
                let d = PredictParams::default();
                let p = PredictParams {
                    tile: tile.unwrap_or(d.tile),
                    overlap: overlap.unwrap_or(d.overlap),
                    batch: batch.unwrap_or(d.batch),
                    mc_passes: mc_passes.unwrap_or(d.mc_passes),
                };
                for problem in p.problems() {
                    e.push(key("tile"), problem);
                }
                Stage::Predict(p)
            }
            RawStage::Publish { test } => Stage::Publish(PublishStage { test: test.unwrap_or(false) }),
            RawStage::Observations { label_radius_m } => {
                if let Some(r) = label_radius_m {
                    if !(*r >= 0.0 && *r <= 5000.0) {
                        e.push(key("label_radius_m"), format!("must be in [0, 5000] metres, got {r}"));
                    }
                }
                Stage::Observations(ObservationParams { label_radius_m: *label_radius_m })
            }
            RawStage::Weather { concurrency, connect_timeout_s, read_timeout_s, retries, backoff_s } => {
                let mut p = FetchParams::default();
                let secs = |v: Option<f64>, k: &str, d: std::time::Duration, e: &mut Errors| match v {
                    None => d,
                    Some(s) if s > 0.0 && s <= 3600.0 => std::time::Duration::from_secs_f64(s),
                    Some(s) => {
                        e.push(key(k), format!("must be in (0, 3600] seconds, got {s}"));
                        d
                    }
                };
                p.connect_timeout = secs(*connect_timeout_s, "connect_timeout_s", p.connect_timeout, e);
                p.read_timeout = secs(*read_timeout_s, "read_timeout_s", p.read_timeout, e);
                p.base_backoff = secs(*backoff_s, "backoff_s", p.base_backoff, e);
                if let Some(c) = concurrency {
                    if *c == 0 || *c > 256 {
                        e.push(key("concurrency"), format!("must be 1 to 256, got {c}"));
                    }
                    p.concurrency = *c;
                }
                if let Some(r) = retries {
                    if *r > 20 {
                        e.push(key("retries"), format!("at most 20, got {r}"));
                    }
                    p.retries = *r;
                }
                Stage::Weather(p)
            }
            RawStage::WeatherFeatures { lapse_rate_c_per_km, snowfall_gradient_per_100m, idw_power, max_gap_days } => {
                let mut p = WeatherFeatureParams::default();
                if let Some(v) = lapse_rate_c_per_km {
                    if !(-15.0..=5.0).contains(v) {
                        e.push(
                            key("lapse_rate_c_per_km"),
                            format!("{v} is not a plausible lapse rate (-15..5 deg C per km)"),
                        );
                    }
                    p.lapse_rate_c_per_km = *v;
                }
                if let Some(v) = snowfall_gradient_per_100m {
                    if !(-0.5..=0.5).contains(v) {
                        e.push(
                            key("snowfall_gradient_per_100m"),
                            format!("{v} is not plausible (-0.5..0.5 per 100 m)"),
                        );
                    }
                    p.snowfall_gradient_per_100m = *v;
                }
                if let Some(v) = idw_power {
                    if !(0.0..=6.0).contains(v) {
                        e.push(key("idw_power"), format!("must be in [0, 6], got {v}"));
                    }
                    p.idw_power = *v;
                }
                if let Some(v) = max_gap_days {
                    if *v > 10 {
                        e.push(
                            key("max_gap_days"),
                            format!("gaps longer than 10 days cannot be filled honestly, got {v}"),
                        );
                    }
                    p.max_gap_days = *v;
                }
                Stage::WeatherFeatures(p)
            }
            RawStage::Terrain { features, vrm_window, wind_shelter } => {
                let mut p = TerrainParams::default();
                if let Some(list) = features {
                    let mut parsed = Vec::new();
                    for (j, f) in list.iter().enumerate() {
                        match f.parse::<Feature>() {
                            Ok(f) if parsed.contains(&f) => {
                                e.push(key(&format!("features[{j}]")), format!("`{f}` is listed twice"))
                            }
                            Ok(f) => parsed.push(f),
                            Err(m) => e.push(key(&format!("features[{j}]")), m),
                        }
                    }
                    if list.is_empty() {
                        e.push(key("features"), "list at least one feature, or leave the key out for all of them");
                    }
                    p.features = parsed;
                }
                if let Some(w) = vrm_window {
                    if *w < 3 || w % 2 == 0 || *w > 31 {
                        e.push(key("vrm_window"), format!("must be an odd number of cells from 3 to 31, got {w}"));
                    }
                    p.vrm_window = *w;
                }
                if let Some(ws) = wind_shelter {
                    let d = WindShelterParams::default();
                    let ws = WindShelterParams {
                        radius_m: ws.radius_m.unwrap_or(d.radius_m),
                        direction_deg: ws.direction_deg.unwrap_or(d.direction_deg),
                        tolerance_deg: ws.tolerance_deg.unwrap_or(d.tolerance_deg),
                        quantile: ws.quantile.unwrap_or(d.quantile),
                    };
                    if !(ws.radius_m > 0.0 && ws.radius_m <= 5000.0) {
                        e.push(
                            key("wind_shelter.radius_m"),
                            format!("must be in (0, 5000] metres, got {}", ws.radius_m),
                        );
                    }
                    if !(0.0..=360.0).contains(&ws.direction_deg) {
                        e.push(
                            key("wind_shelter.direction_deg"),
                            format!("must be in [0, 360], got {}", ws.direction_deg),
                        );
                    }
                    if !(ws.tolerance_deg > 0.0 && ws.tolerance_deg <= 180.0) {
                        e.push(
                            key("wind_shelter.tolerance_deg"),
                            format!("must be in (0, 180], got {}", ws.tolerance_deg),
                        );
                    }
                    if !(0.0..=1.0).contains(&ws.quantile) {
                        e.push(key("wind_shelter.quantile"), format!("must be in [0, 1], got {}", ws.quantile));
                    }
                    p.wind_shelter = ws;
                }
                Stage::Terrain(p)
            }
        };
        if !seen.insert(stage.name()) {
            e.push(key("stage"), format!("stage `{}` appears twice", stage.name()));
        }
        stages.push(stage);
    }
    (e.count() == before).then(|| Pipeline {
        name: name.to_owned(),
        file: file.to_path_buf(),
        description: rp.description.clone(),
        stages,
    })
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
fn normalize(p: &Path) -> PathBuf {
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
mod tests {
    use super::*;

    #[test]
    fn vsizip_paths_resolve_against_the_site_folder() {
        let (p, local) = resolve_gdal_path(Path::new("/p/sites/a"), "/vsizip/../_shared/x.zip/N46E007.hgt");
        assert_eq!(p, "/vsizip//p/sites/_shared/x.zip/N46E007.hgt");
        assert_eq!(local, Some(PathBuf::from("/p/sites/_shared/x.zip")));
        let (p, local) = resolve_gdal_path(Path::new("/p/sites/a"), "dem/a.tif");
        assert_eq!((p.as_str(), local), ("/p/sites/a/dem/a.tif", Some(PathBuf::from("/p/sites/a/dem/a.tif"))));
        assert_eq!(resolve_gdal_path(Path::new("/x"), "/vsis3/bucket/a.tif").1, None);
    }
}
