//! `avarisk site add`: a new site's `sites/<id>/site.toml`, scaffolded from its DEM (CRS, bounds and resolution read
//! with GDAL, each overridable), checked by the configuration compiler before it is written. An existing site is
//! never overwritten. The DEM is referenced by absolute path (a `/vsizip/` archive too), not copied.
use std::path::{Path, PathBuf};

use crate::config::{self, raw::RawSite, ConfigError, RawConfig};
use crate::geo::{raster, Bounds, Crs, GeoError, Grid};

/// What `site add` was given.
#[derive(Debug, Clone, Default)]
pub struct SiteSpec {
    pub id: String,
    /// GDAL path of the DEM (a file, or `/vsizip/<archive>/<member>`).
    pub dem: String,
    /// Avalanche records (CSV with a date and x/y or lon/lat columns, or GeoJSON points with a `date` property).
    pub events: Option<PathBuf>,
    /// CRS of the records' coordinates (default `EPSG:4326`).
    pub events_crs: Option<String>,
    /// Site CRS (`EPSG:<code>`, projected, metres); also assumed for a DEM that carries no CRS.
    pub crs: Option<String>,
    /// Cell size in metres (default: the DEM's, when it is in the site CRS).
    pub resolution_m: Option<f64>,
    pub name: Option<String>,
    /// IANA time zone (default `UTC`).
    pub timezone: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("site `{id}` exists already ({path}): remove it first or pick another id")]
    Exists { id: String, path: PathBuf },
    #[error("site id `{0}` is not valid: use lower-case letters, digits and `-` (it is the folder name)")]
    BadId(String),
    #[error("{0}")]
    Geo(#[from] GeoError),
    #[error("the DEM {dem} carries no CRS: pass --crs EPSG:<code> (the CRS its coordinates are in)")]
    NoCrs { dem: String },
    #[error("the DEM {dem} is in {crs}, not a projected CRS in metres: pass --crs EPSG:<code> for the site grid and --resolution METRES")]
    NeedsProjected { dem: String, crs: String },
    #[error("the site CRS {crs} differs from the DEM's ({dem_crs}): pass --resolution METRES for the site grid")]
    NeedsResolution { crs: String, dem_crs: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the scaffolded site does not validate:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Scaffolded {
    pub file: PathBuf,
    pub text: String,
    pub grid: Grid,
}

/// Writes `project/sites/<id>/site.toml` for `spec`, after checking it compiles and its files exist.
pub fn add(project: &Path, spec: &SiteSpec) -> Result<Scaffolded, ScaffoldError> {
    let id = spec.id.as_str();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(ScaffoldError::BadId(id.to_owned()));
    }
    let dir = project.join("sites").join(id);
    let file = dir.join("site.toml");
    if dir.exists() {
        return Err(ScaffoldError::Exists { id: id.to_owned(), path: dir });
    }
    let dem = absolute_gdal_path(&spec.dem)?;
    let ds = raster::open(&dem)?;
    let user_crs = spec.crs.as_deref().map(Crs::from_user).transpose()?;
    let (dem_crs, assumed) = match (Crs::of_dataset(&ds), &user_crs) {
        (Some(c), _) => (c, false),
        (None, Some(c)) => (c.clone(), true),
        (None, None) => return Err(ScaffoldError::NoCrs { dem }),
    };
    let site_crs = user_crs.clone().unwrap_or_else(|| dem_crs.clone());
    if !site_crs.is_projected_metres() || site_crs.epsg.is_none() {
        return Err(ScaffoldError::NeedsProjected { dem, crs: site_crs.to_string() });
    }
    let transform = ds.geo_transform().map_err(|e| GeoError::Gdal {
        action: "read the geotransform of",
        path: dem.clone(),
        source: Box::new(e),
    })?;
    let (w, h) = ds.raster_size();
    let dem_grid = Grid { crs: dem_crs.clone(), transform, width: w, height: h };
    let same_crs = dem_crs.epsg.is_some() && dem_crs.epsg == site_crs.epsg || dem_crs == site_crs;
    let resolution = match (spec.resolution_m, same_crs) {
        (Some(r), _) => r,
        (None, true) => dem_grid.res_x(),
        (None, false) => {
            return Err(ScaffoldError::NeedsResolution { crs: site_crs.to_string(), dem_crs: dem_crs.to_string() })
        }
    };
    let bounds = if same_crs {
        dem_grid.bounds()
    } else {
        Bounds::from_array(dem_crs.transform_bounds(dem_grid.bounds().as_array(), &site_crs)?)
    };
    let grid = Grid::from_bounds(site_crs.clone(), bounds, resolution);

    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Scaffolded by `avarisk site add` from {dem}.\n\
         id = {id_q}\nname = {name}\ncrs = {crs_q}\nresolution_m = {resolution:?}\ntimezone = {tz}\n\n\
         [bounds]\nxmin = {xmin:?}\nymin = {ymin:?}\nxmax = {xmax:?}\nymax = {ymax:?}\n\n[[dem]]\npath = {dem_q}\n",
        id_q = q(id),
        name = q(spec.name.as_deref().unwrap_or(id)),
        crs_q = q(&site_crs.to_string()),
        tz = q(spec.timezone.as_deref().unwrap_or("UTC")),
        xmin = bounds.xmin,
        ymin = bounds.ymin,
        xmax = bounds.xmax,
        ymax = bounds.ymax,
        dem_q = q(&dem),
    );
    if assumed {
        text.push_str(&format!("crs = {}   # the file carries none\n", q(&dem_crs.to_string())));
    }
    if let Some(events) = &spec.events {
        text.push_str(&observations_block(events, spec.events_crs.as_deref())?);
    }
    text.push_str(&format!(
        "\n[[attribution]]\ndata = {}\nsource = \"added with avarisk site add: name the DEM's producer here\"\nlicence = \"unknown: state the DEM's licence here\"\n",
        q(&dem)
    ));

    let (raw, mut errors) = config::parse::parse_strict::<RawSite>(&file, &text);
    if let Some(raw) = raw {
        let cfg = RawConfig { sites: vec![(file.clone(), raw)], pipelines: Default::default() };
        match config::compile(&cfg) {
            Ok(plan) => errors.extend(config::check_inputs(&plan)),
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(ScaffoldError::Invalid(errors));
    }
    let io = |source| ScaffoldError::Io { path: file.clone(), source };
    fs_err::create_dir_all(&dir).map_err(io)?;
    let tmp = dir.join(".site.toml.tmp");
    fs_err::write(&tmp, &text).map_err(io)?;
    fs_err::rename(&tmp, &file).map_err(io)?;
    Ok(Scaffolded { file, text, grid })
}

/// `path` with its local part made absolute (so the site folder can live anywhere), `/vsizip/` kept.
fn absolute_gdal_path(path: &str) -> Result<String, ScaffoldError> {
    let abs = |p: &str| -> Result<String, ScaffoldError> {
        let pb = PathBuf::from(p);
        let c = fs_err::canonicalize(&pb).map_err(|source| ScaffoldError::Io { path: pb.clone(), source })?;
        Ok(c.display().to_string())
    };
    if let Some(rest) = path.strip_prefix("/vsizip/") {
        if let Some(i) = rest.find(".zip") {
            let (archive, member) = rest.split_at(i + 4);
            return Ok(format!("/vsizip/{}{member}", abs(archive)?));
        }
    }
    if path.starts_with("/vsi") {
        return Ok(path.to_owned());
    }
    abs(path)
}

/// An `[[observations]]` block for `events`, with the columns guessed from a CSV header (date, x/y or lon/lat).
fn observations_block(events: &Path, crs: Option<&str>) -> Result<String, ScaffoldError> {
    let path = fs_err::canonicalize(events).map_err(|source| ScaffoldError::Io { path: events.to_owned(), source })?;
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let mut block = format!("\n[[observations]]\npath = {}\n", q(&path.display().to_string()));
    if ext == "csv" {
        let text = fs_err::read_to_string(&path).map_err(|source| ScaffoldError::Io { path: path.clone(), source })?;
        let header: Vec<String> =
            text.lines().next().unwrap_or_default().split(',').map(|h| h.trim().trim_matches('"').to_owned()).collect();
        let pick = |names: &[&str]| {
            header.iter().find(|h| names.contains(&h.to_ascii_lowercase().as_str())).cloned().unwrap_or(names[0].into())
        };
        block.push_str(&format!(
            "format = \"csv\"\ncrs = {}\n[observations.columns]\ndate = {}\nx = {}\ny = {}\n",
            q(crs.unwrap_or("EPSG:4326")),
            q(&pick(&["date", "datum", "event_date", "day"])),
            q(&pick(&["x", "lon", "longitude", "lng"])),
            q(&pick(&["y", "lat", "latitude"])),
        ));
    } else {
        block.push_str(&format!(
            "format = \"geojson\"\ncrs = {}\n[observations.columns]\ndate = \"date\"\n",
            q(crs.unwrap_or("EPSG:4326"))
        ));
    }
    Ok(block)
}
