//! Raw configuration types, exactly as written in `sites/<id>/site.toml` and `pipelines/<name>.toml`.
//!
//! Every struct denies unknown keys so a typo never passes silently. Nothing here is validated beyond TOML types:
//! [`super::compile`] turns these into a checked [`super::Plan`]. Defaults are documented on each field.
use std::collections::BTreeMap;

use serde::Deserialize;

/// `sites/<id>/site.toml`: one area that gets a daily risk map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    /// Lower-case identifier `[a-z0-9-]`, equal to the site's folder name.
    pub id: String,
    /// Human-readable name shown on maps and in the API.
    pub name: String,
    /// Projected CRS of the site grid, as `EPSG:<code>` (the grid is in metres).
    pub crs: String,
    /// Grid cell size in metres (square cells).
    pub resolution_m: f64,
    /// Site extent in the site CRS. The grid starts at (xmin, ymax) and extends east/south to whole cells.
    pub bounds: RawBounds,
    /// IANA time zone of the site (e.g. `Europe/Zurich`): a "day" of weather and risk is a local day.
    pub timezone: String,
    /// Elevation sources, mosaicked in order (later sources fill gaps of earlier ones).
    pub dem: Vec<RawDemSource>,
    /// Dated avalanche records for this site (read by the ingest stage).
    #[serde(default)]
    pub observations: Vec<RawObservationSource>,
    /// Undated reference layers, e.g. expert release-area polygons.
    #[serde(default)]
    pub reference: Vec<RawReferenceLayer>,
    /// Where the daily weather comes from (see the weather ingest stage). Absent: no weather source yet.
    #[serde(default)]
    pub weather: Option<RawWeather>,
    /// Where the site's model comes from (the `model` stage of onboarding). Absent: the site gets no model.
    #[serde(default)]
    pub model: Option<RawModel>,
    /// Risk classes of the published maps (from `avarisk verify --site ID`).
    #[serde(default)]
    pub danger: Option<RawDanger>,
    /// Where the published maps go besides the output root. Absent: the pipeline's `publish` stage decides.
    #[serde(default)]
    pub publish: Option<RawPublish>,
    /// Where the site's data come from and under which licence. At least one entry.
    pub attribution: Vec<RawAttribution>,
}

/// The site's model: trained on its own records (a source site), or carried over from a source site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// Source site whose bundle this site starts from. Absent: the site is a source, trained on its own records.
    #[serde(default)]
    pub from: Option<String>,
    /// How a carried-over bundle meets the site: `freeze` (fine-tune the decoder, encoder frozen; default),
    /// `full` (fine-tune everything, the encoder at a smaller rate) or `adapt` (no labels: domain adaptation).
    #[serde(default)]
    pub mode: Option<String>,
}

/// avarisk risk classes 1-5 (not EAWS danger levels) from the risk probability, and what is published from them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDanger {
    /// Probabilities at which levels 2, 3, 4 and 5 begin, strictly increasing in (0, 1).
    pub thresholds: Vec<f64>,
    /// Lowest level drawn as a warning zone in zones.geojson. Default 3.
    #[serde(default)]
    pub zone_min_level: Option<u8>,
    /// Level from which a CAP alert is issued. Default 3.
    #[serde(default)]
    pub alert_level: Option<u8>,
    /// Area (km2) at or above `alert_level` that issues an alert. Default 5.
    #[serde(default)]
    pub alert_min_area_km2: Option<f64>,
    /// Zones smaller than this (km2) are left out of zones.geojson (they stay in the class raster). Default 0.5.
    #[serde(default)]
    pub zone_min_area_km2: Option<f64>,
    /// How the thresholds were derived (free text, written by `avarisk verify`).
    #[serde(default)]
    pub calibration: Option<String>,
}

/// `[publish]` of a site.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublish {
    /// Object storage the day's map set is uploaded to after it is in place on disk: `s3://<bucket>/<prefix>`
    /// (objects under `<prefix>/<site>/`). Overrides the `publish` stage's `target` for this site.
    pub target: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBounds {
    pub xmin: f64,
    pub ymin: f64,
    pub xmax: f64,
    pub ymax: f64,
}

/// One GDAL-readable elevation file. Relative paths are relative to the site folder, also after a `/vsizip/` prefix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDemSource {
    pub path: String,
    /// CRS for a file that carries none (e.g. an ESRI ASCII grid without `.prj`), as `EPSG:<code>`.
    #[serde(default)]
    pub crs: Option<String>,
}

/// A file of dated avalanche records, with the mapping from its columns (CSV) or properties (GeoJSON) to avarisk's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawObservationSource {
    pub path: String,
    /// `csv` or `geojson`.
    pub format: String,
    /// CRS of the coordinates, default `EPSG:4326` (x = longitude, y = latitude).
    #[serde(default)]
    pub crs: Option<String>,
    /// What the records are, for people (e.g. "SLF avalanche accidents, start zones").
    #[serde(default)]
    pub description: Option<String>,
    /// Name stored with each record (default: the file name).
    #[serde(default)]
    pub source: Option<String>,
    /// CSV field separator, one character (default `,`).
    #[serde(default)]
    pub delimiter: Option<String>,
    pub columns: RawObservationColumns,
    /// Weather measured for each event: canonical weather column (e.g. `t_mean_c`) -> source column, with its unit
    /// when it differs from the canonical one.
    #[serde(default)]
    pub weather: BTreeMap<String, RawColumn>,
}

/// Which source columns (CSV) or properties (GeoJSON) hold each field of a record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawObservationColumns {
    /// Date or date-time of the event (ISO 8601; a date-time is converted to the site-local day).
    pub date: String,
    /// Coordinates (CSV only; GeoJSON uses the geometry).
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    /// Avalanche type (slab, loose, ...).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
    /// Trigger (natural, human, ...).
    #[serde(default)]
    pub trigger: Option<String>,
    /// Recorded elevation of the start zone, metres.
    #[serde(default)]
    pub elevation: Option<String>,
}

/// A source column: its name, or `{ column = "...", unit = "..." }` when its unit differs from the canonical one.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawColumn {
    Name(String),
    WithUnit { column: String, unit: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReferenceLayer {
    /// What the layer holds, e.g. `release_areas`.
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Weather source of a site; one variant per kind of source.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawWeather {
    /// The Open-Meteo API (or a self-hosted instance at `base_url`), queried at one or more points.
    OpenMeteo {
        /// Default: `https://archive-api.open-meteo.com` for `archive`, `https://api.open-meteo.com` for `forecast`.
        #[serde(default)]
        base_url: Option<String>,
        /// `archive` (reanalysis, past days) or `forecast` (recent days and the days ahead). Default `archive`.
        #[serde(default)]
        endpoint: Option<String>,
        points: Vec<RawWeatherPoint>,
        /// Daily variables to request (default: all avarisk understands, see `ingest::weather::DAILY`).
        #[serde(default)]
        daily: Option<Vec<String>>,
        /// Hourly variables to request and average over the local day (default: `snow_depth`).
        #[serde(default)]
        hourly: Option<Vec<String>>,
        /// Folder of recorded Open-Meteo answers, `<point id>.json`, used when offline and not in the cache.
        #[serde(default)]
        recorded: Option<String>,
    },
    /// Daily station files (NRCS SNOTEL, SLF IMIS, or any CSV with a declared column mapping).
    StationCsv {
        /// `snotel`, `imis` or `csv` (generic: give `date_column` and `columns`).
        format: String,
        /// CSV field separator (default: the format's own).
        #[serde(default)]
        delimiter: Option<String>,
        /// Generic format: the date column.
        #[serde(default)]
        date_column: Option<String>,
        /// Multi-station files: the column holding the station code.
        #[serde(default)]
        station_column: Option<String>,
        /// Canonical weather column -> source column (with unit); adds to or overrides the format's mapping.
        #[serde(default)]
        columns: BTreeMap<String, RawColumn>,
        stations: Vec<RawStation>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeatherPoint {
    pub id: String,
    /// WGS84 degrees.
    pub latitude: f64,
    pub longitude: f64,
    /// Metres above sea level.
    pub elevation_m: f64,
}

/// A weather station: where its file is and where it stands.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStation {
    pub id: String,
    /// Its file (several stations may share one file, told apart by `station_column`).
    pub path: String,
    /// Its code in a multi-station file (default: `id`).
    #[serde(default)]
    pub code: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    pub elevation_m: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttribution {
    /// What this entry covers, e.g. "DEM" or "observations/slf_accidents.csv".
    pub data: String,
    /// Who made the data, e.g. "NASA/USGS SRTMGL3".
    pub source: String,
    pub licence: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// `pipelines/<name>.toml`: named stages with their parameters. Only the runner knows how to order them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub description: String,
    pub stages: Vec<RawStage>,
}

/// The keys the `train` and `model` stages share (`sites` only in `train`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraining {
    /// Source site ids (several: all data-rich sites together); `train` only.
    #[serde(default)]
    pub sites: Option<Vec<String>>,
    /// Winters from this one on (the year of their October) are held back for validation. Default 2018.
    #[serde(default)]
    pub held_back_from: Option<i32>,
    /// Default 15.
    #[serde(default)]
    pub epochs: Option<usize>,
    /// Default 64.
    #[serde(default)]
    pub batch: Option<usize>,
    /// Base learning rate (AdamW). Default 0.002.
    #[serde(default)]
    pub lr: Option<f64>,
    /// Default 0.0001.
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// Epochs without a better validation ROC-AUC before stopping. Default 4.
    #[serde(default)]
    pub patience: Option<usize>,
    /// Seed of sampling, initial weights and shuffling. Default 7.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Input window side in cells (a multiple of 4). Default 160.
    #[serde(default)]
    pub patch: Option<usize>,
    /// Unlabelled context cells on each side of the window (prediction reads the same margin). Default 32.
    #[serde(default)]
    pub context: Option<usize>,
}

/// A stage and its parameters; `stage = "<name>"` selects the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStage {
    /// Put the site's DEM sources on the site grid.
    Dem {
        /// GDAL resampling for elevation: `bilinear` (default), `cubic`, `cubicspline`, `lanczos`, `average`, `nearest`.
        #[serde(default)]
        resampling: Option<String>,
    },
    /// Read the site's dated avalanche records onto its grid (and the weather recorded with them).
    Observations {
        /// Radius (m) around a start zone marked positive in label rasters: the records' position uncertainty.
        /// Default: one and a half grid cells.
        #[serde(default)]
        label_radius_m: Option<f64>,
    },
    /// Train the release network on the events of `sites` (run with `avarisk train --pipeline NAME --out DIR`).
    Train(RawTraining),
    /// Fetch or read the site's weather into its store.
    Weather {
        /// Requests in flight at once across sites and points. Default 8.
        #[serde(default)]
        concurrency: Option<usize>,
        #[serde(default)]
        connect_timeout_s: Option<f64>,
        #[serde(default)]
        read_timeout_s: Option<f64>,
        /// Attempts after the first on timeouts, connection errors, 429 and 5xx. Default 4.
        #[serde(default)]
        retries: Option<u32>,
        /// First backoff in seconds (doubles each attempt, full jitter). Default 0.5.
        #[serde(default)]
        backoff_s: Option<f64>,
    },
    /// Daily weather features on the site grid.
    WeatherFeatures {
        /// Temperature change with elevation, deg C per km. Default -6.5.
        #[serde(default)]
        lapse_rate_c_per_km: Option<f64>,
        /// Relative snowfall change per 100 m of elevation (0.05 = +5 % per 100 m). Default 0.05.
        #[serde(default)]
        snowfall_gradient_per_100m: Option<f64>,
        /// Inverse-distance-weighting power across points. Default 2.
        #[serde(default)]
        idw_power: Option<f64>,
        /// Longest gap (days) in temperature, snow depth and wind filled by linear interpolation. Default 2.
        #[serde(default)]
        max_gap_days: Option<u32>,
    },
    /// Give each site with a `[model]` its day-level hazard model: fitted on a source site's region-days of every
    /// winter its records span, carried to target sites with their own climatology.
    Hazard {
        /// No longer a setting (an error naming the change): `avarisk verify` leaves each verified winter out.
        #[serde(default)]
        held_back_from: Option<i32>,
    },
    /// Give each site with a `[model]` its bundle: pretrain source sites, fine-tune or adapt the others from theirs.
    /// The keys of `train`, without `sites`.
    Model(RawTraining),
    /// Run the site's bundle over its grid with the day's weather (tiled, blended).
    Predict {
        /// Window side in cells (multiple of 4). Default 256.
        #[serde(default)]
        tile: Option<usize>,
        /// Cells shared by neighbouring windows. Default 64.
        #[serde(default)]
        overlap: Option<usize>,
        /// Windows per forward pass. Default 4.
        #[serde(default)]
        batch: Option<usize>,
        /// Monte Carlo dropout passes for the spread band (0 = off). Default 0.
        #[serde(default)]
        mc_passes: Option<usize>,
    },
    /// Publish the day's map set (COGs, STAC, zones, quicklook, CAP).
    Publish {
        /// Mark CAP alerts `Test` (dry runs, demos). Default false.
        #[serde(default)]
        test: Option<bool>,
        /// Object storage every site's map set is uploaded to, `s3://<bucket>/<prefix>` (a site's `[publish]
        /// target` overrides it). Default: none, the maps stay in the output root.
        #[serde(default)]
        target: Option<String>,
    },
    /// Derive the terrain feature stack from the site DEM.
    Terrain {
        /// Features to write, in band order. Default: all of them.
        #[serde(default)]
        features: Option<Vec<String>>,
        /// Side of the square window for the vector ruggedness measure, in cells (odd, >= 3). Default 3.
        #[serde(default)]
        vrm_window: Option<usize>,
        #[serde(default)]
        wind_shelter: Option<RawWindShelter>,
    },
}

/// Plattner's wind-shelter index parameters (Plattner et al. 2004, as used by Veitinger et al. 2016).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindShelter {
    /// Search radius in metres (at least one cell is always used). Default 60.
    #[serde(default)]
    pub radius_m: Option<f64>,
    /// Direction the wind blows from, degrees clockwise from north. Default 0.
    #[serde(default)]
    pub direction_deg: Option<f64>,
    /// Half-width of the upwind sector in degrees; 180 means all directions. Default 180.
    #[serde(default)]
    pub tolerance_deg: Option<f64>,
    /// Quantile of the elevation angles taken as the index, in [0, 1]. Default 0.5 (median).
    #[serde(default)]
    pub quantile: Option<f64>,
}
