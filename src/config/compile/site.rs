//! The `site.toml` table: id, grid, CRS, DEM sources, records, reference layers, model; weather and danger in
//! their own files.
use std::path::Path;

use chrono_tz::Tz;

use crate::config::params::Target;
use crate::config::raw::RawSite;
use crate::geo::{Bounds, Crs, Grid};

use super::*;

pub(super) fn compile_site(file: &Path, rs: &RawSite, e: &mut Errors) -> Option<Site> {
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
    if rs.model.as_ref().is_some_and(|m| m.from.is_none() && m.mode.is_some()) {
        e.push("model.mode", "a source site trains on its own records: `mode` is for a site with `from`; remove it");
    }
    if model.as_ref().and_then(|m| m.from.as_deref()) == Some(rs.id.as_str()) {
        e.push("model.from", "a site cannot start from its own bundle: leave `from` out for a source site");
    }
    let danger = rs.danger.as_ref().and_then(|d| compile_danger(d, e));
    let publish = rs.publish.as_ref().and_then(|p| match Target::parse(&p.target) {
        Ok(target) => Some(PublishSpec { target }),
        Err(m) => {
            e.push("publish.target", m);
            None
        }
    });

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
        publish,
    })
}
