//! The validated configuration: the [`Plan`] of sites and pipelines every stage runs from, and the stage types.
use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono_tz::Tz;

use crate::config::params::DemParams;
use crate::config::params::FetchParams;
use crate::config::params::ObservationParams;
use crate::config::params::PredictParams;
use crate::config::params::SamplingParams;
use crate::config::params::Target;
use crate::config::params::TerrainParams;
use crate::config::params::TrainParams;
use crate::config::params::WeatherFeatureParams;
use crate::geo::{Crs, Grid};
use crate::vocab::units::ColumnSpec;
use crate::vocab::weather::Endpoint;
use crate::vocab::weather::StationFormat;
use crate::vocab::weather::Variable;

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

#[derive(Clone)]
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
    /// `[publish]`: where the site's maps go besides the output root.
    pub publish: Option<PublishSpec>,
}

// Written out rather than derived: the runner hashes this text into every unit's input hash, and a site without
// `[publish]` keeps the text (so the hashes) it had before the table existed: no unit runs again after an upgrade.
impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Site");
        d.field("id", &self.id)
            .field("name", &self.name)
            .field("file", &self.file)
            .field("dir", &self.dir)
            .field("grid", &self.grid)
            .field("timezone", &self.timezone)
            .field("dem", &self.dem)
            .field("observations", &self.observations)
            .field("reference", &self.reference)
            .field("weather", &self.weather)
            .field("model", &self.model)
            .field("danger", &self.danger)
            .field("attribution", &self.attribution);
        if let Some(p) = &self.publish {
            d.field("publish", p);
        }
        d.finish()
    }
}

/// A site's `[publish]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishSpec {
    /// Object storage the site's map sets are uploaded to.
    pub target: Target,
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
    /// Onboarding: give each site with a `[model]` its day-level hazard model, fitted on every winter its records
    /// span (`avarisk verify` scores each of those winters with a model fitted without it).
    Hazard,
    Predict(PredictParams),
    Publish(PublishStage),
}

/// Parameters of the `publish` stage.
#[derive(Clone, PartialEq, Default)]
pub struct PublishStage {
    /// CAP alerts carry status `Test`.
    pub test: bool,
    /// Object storage every site's map set is uploaded to (a site's `[publish]` overrides it).
    pub target: Option<Target>,
}

// Written out for the same reason as `Site`'s: without a target, the text (and the publish units' hashes) stays.
impl std::fmt::Debug for PublishStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("PublishStage");
        d.field("test", &self.test);
        if let Some(t) = &self.target {
            d.field("target", t);
        }
        d.finish()
    }
}

impl PublishStage {
    /// Where `site`'s maps are uploaded: the site's `[publish] target`, else the stage's, else nowhere.
    pub fn target_for<'a>(&'a self, site: &'a Site) -> Option<&'a Target> {
        site.publish.as_ref().map(|p| &p.target).or(self.target.as_ref())
    }
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
            Stage::Hazard => "hazard",
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
