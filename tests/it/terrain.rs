//! Terrain features agree with `gdaldem` (GDAL 3.6, the reference named in each check) on real DEMs: the AvaFrame
//! avaWog 5 m DEM and an SRTM 90 m crop. Compared on every cell where gdaldem gives a value (gdaldem leaves the
//! outer ring and cells next to nodata empty; avarisk computes them one-sidedly, see features::terrain::window).
//!
//! Tolerances: slope 5e-3 deg, aspect 0.1 deg on cells steeper than 1 deg (aspect is ill-conditioned on near-flat
//! ground), TRI and roughness 1e-4 m. gdaldem 3.6 adds the window's elevations in float32 before scaling, avarisk in
//! f64; the differences are gdaldem's rounding (largest on the 5 m DEM: slope 0.0023 deg, aspect 0.071 deg; on SRTM:
//! 0.0002 and 0.005 deg; TRI and roughness identical).
use std::process::Command;

use super::*;
use avarisk::features::terrain::{derive, Feature, TerrainParams};
use avarisk::ingest::dem::{ingest, DemParams};

fn gdaldem(args: &[&str]) {
    let o = Command::new("gdaldem")
        .args(args)
        .arg("-q")
        .output()
        .expect("gdaldem (Debian gdal-bin) is installed by make setup");
    assert!(o.status.success(), "gdaldem {args:?}: {}", text(&o));
}

struct Agreement {
    compared: usize,
    gdal_valid: usize,
}

/// Compares band `band` of our stack with a gdaldem output; `circular` compares angles modulo 360.
fn agree(ours: &Path, band: usize, reference: &Path, tol: f64, circular: bool, mask: Option<&[f32]>) -> Agreement {
    let (a, w, h, nd_a) = read_band(ours, band);
    let (b, w2, h2, nd_b) = read_band(reference, 1);
    assert_eq!((w, h), (w2, h2));
    let (nd_a, nd_b) = (nd_a.unwrap() as f32, nd_b.unwrap() as f32);
    let (mut compared, mut gdal_valid, mut worst) = (0, 0, 0f64);
    for i in 0..a.len() {
        if b[i] == nd_b {
            continue;
        }
        gdal_valid += 1;
        if let Some(m) = mask {
            if m[i] < 1.0 {
                continue;
            }
        }
        assert_ne!(a[i], nd_a, "cell {i}: gdaldem has {} but avarisk has nodata", b[i]);
        let mut d = (a[i] as f64 - b[i] as f64).abs();
        if circular {
            d = d.min(360.0 - d);
        }
        worst = worst.max(d);
        compared += 1;
    }
    eprintln!("{}: max |avarisk - gdaldem| = {worst} over {compared} cells", reference.display());
    assert!(worst <= tol, "{}: max |avarisk - gdaldem| = {worst} > {tol}", reference.display());
    Agreement { compared, gdal_valid }
}

fn check_against_gdaldem(dem: &Path, dir: &Path) {
    let params = TerrainParams {
        features: vec![Feature::Slope, Feature::Aspect, Feature::Tri, Feature::Roughness],
        ..Default::default()
    };
    let stack = dir.join("features.tif");
    derive(dem, &stack, &params).unwrap();
    let d = dem.to_str().unwrap();
    let out = |n: &str| dir.join(n).display().to_string();
    gdaldem(&["slope", d, &out("slope.tif"), "-alg", "Horn"]);
    gdaldem(&["aspect", d, &out("aspect.tif"), "-alg", "Horn"]);
    gdaldem(&["TRI", d, &out("tri.tif"), "-alg", "Riley"]);
    gdaldem(&["roughness", d, &out("roughness.tif")]);

    let s = agree(&stack, 1, &dir.join("slope.tif"), 5e-3, false, None);
    let (slope, ..) = read_band(&stack, 1);
    let steep: Vec<f32> = slope.iter().map(|v| if *v > 1.0 { 1.0 } else { 0.0 }).collect();
    let a = agree(&stack, 2, &dir.join("aspect.tif"), 0.1, true, Some(&steep));
    let t = agree(&stack, 3, &dir.join("tri.tif"), 1e-4, false, None);
    let r = agree(&stack, 4, &dir.join("roughness.tif"), 1e-4, false, None);
    for (name, ag) in [("slope", &s), ("tri", &t), ("roughness", &r)] {
        assert_eq!(ag.compared, ag.gdal_valid, "{name}: every gdaldem cell compared");
        assert!(ag.compared > 1000, "{name}: only {} cells", ag.compared);
    }
    assert!(a.compared as f64 > 0.5 * a.gdal_valid as f64, "aspect compared on {} of {}", a.compared, a.gdal_valid);

    // Edges: avarisk gives a value on the outer ring where gdaldem gives none (documented one-sided policy).
    let (ours, w, _, nd) = read_band(&stack, 1);
    let (dem_v, ..) = read_band(dem, 1);
    let edge_valid_dem = (0..w).filter(|&c| dem_v[c] != -9999.0).count();
    let edge_valid_ours = (0..w).filter(|&c| ours[c] != nd.unwrap() as f32).count();
    assert_eq!(edge_valid_ours, edge_valid_dem, "first row: a slope wherever the DEM is valid");
}

#[test]
fn matches_gdaldem_on_the_avaframe_5m_dem() {
    let plan = avarisk::config::load(&repo()).unwrap();
    let site = plan.site("avawog").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dem = dir.path().join("dem.tif");
    ingest(site, &DemParams::default(), &dem).unwrap();
    check_against_gdaldem(&dem, dir.path());
}

#[test]
fn matches_gdaldem_on_an_srtm_90m_crop() {
    let site = format!(
        "id = \"crop\"\nname = \"Crop\"\ncrs = \"EPSG:31287\"\nresolution_m = 90.0\ntimezone = \"Europe/Vienna\"\n\
         [bounds]\nxmin = 150000.0\nymin = 340000.0\nxmax = 180000.0\nymax = 370000.0\n\
         [[dem]]\npath = \"{}\"\n[[dem]]\npath = \"{}\"\n\
         [[attribution]]\ndata = \"DEM\"\nsource = \"SRTM\"\nlicence = \"public domain\"\n",
        srtm("N46E010"),
        srtm("N47E010")
    );
    let p = temp_project(&[("crop", &site)]);
    let plan = avarisk::config::load(p.path()).unwrap();
    let dem = p.path().join("dem.tif");
    ingest(plan.site("crop").unwrap(), &DemParams::default(), &dem).unwrap();
    check_against_gdaldem(&dem, p.path());
}

#[test]
fn the_full_stack_has_named_bands_with_units_and_plausible_values() {
    let plan = avarisk::config::load(&repo()).unwrap();
    let site = plan.site("avawog").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dem = dir.path().join("dem.tif");
    ingest(site, &DemParams::default(), &dem).unwrap();
    let stack = derive(&dem, &dir.path().join("f.tif"), &TerrainParams::default()).unwrap();
    let ds = gdal::Dataset::open(&stack.path).unwrap();
    use gdal::Metadata;
    assert_eq!(ds.raster_count(), Feature::ALL.len());
    for (i, f) in Feature::ALL.iter().enumerate() {
        let band = ds.rasterband(i + 1).unwrap();
        assert_eq!(band.description().unwrap(), f.name());
        assert_eq!(band.unit(), f.unit());
    }
    let stat = |f: Feature| stack.bands.iter().find(|b| b.feature == f).unwrap().clone();
    // avaWog is a steep avalanche path: mean slope well above 20 degrees, PRA present but not everywhere.
    assert!(stat(Feature::Slope).mean > 20.0, "{:?}", stat(Feature::Slope));
    assert!(stat(Feature::Vrm).min >= 0.0 && stat(Feature::Vrm).max <= 1.0);
    let pra = stat(Feature::Pra);
    assert!(pra.min >= 0.0 && pra.max <= 1.0 && pra.mean > 0.05 && pra.mean < 0.9, "{pra:?}");
    let ws = stat(Feature::WindShelter);
    assert!(ws.min < 0.0 && ws.max > 0.0, "ridges exposed and hollows sheltered: {ws:?}");
    assert!(stat(Feature::AspectSin).min >= -1.0 && stat(Feature::AspectCos).max <= 1.0);
}
