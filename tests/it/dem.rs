//! DEM ingest on real data: SRTM tiles inside zips mosaicked onto a metric grid, an ESRI ASCII grid without CRS, and
//! the errors that must leave nothing behind.
use super::*;
use avarisk::config;
use avarisk::ingest::dem::{ingest, DemError, DemParams};

/// A 90 m site in EPSG:31287 straddling the N46/N47 tile boundary (47 N) near the Arlberg-Silvretta.
fn straddling_site(dem: &[String]) -> String {
    let dems: String = dem.iter().map(|d| format!("[[dem]]\npath = \"{d}\"\n")).collect();
    format!(
        "id = \"cross\"\nname = \"Cross\"\ncrs = \"EPSG:31287\"\nresolution_m = 90.0\ntimezone = \"Europe/Vienna\"\n\
         [bounds]\nxmin = 160000.0\nymin = 345000.0\nxmax = 169000.0\nymax = 354000.0\n{dems}\
         [[attribution]]\ndata = \"DEM\"\nsource = \"SRTM\"\nlicence = \"public domain\"\n"
    )
}

fn load_site(project: &Path, id: &str) -> config::Site {
    let plan = config::load(project).unwrap_or_else(|r| panic!("{r}"));
    plan.site(id).unwrap().clone()
}

#[test]
fn two_srtm_tiles_are_mosaicked_onto_the_site_grid() {
    let p = temp_project(&[("cross", &straddling_site(&[srtm("N46E010"), srtm("N47E010")]))]);
    let site = load_site(p.path(), "cross");
    let out = p.path().join("out/dem.tif");
    let dem = ingest(&site, &DemParams::default(), &out).unwrap();
    assert_eq!((dem.grid.width, dem.grid.height), (100, 100));
    assert_eq!(dem.valid_cells, 100 * 100, "both tiles together cover the whole site");
    assert!(dem.min_m > 1000.0 && dem.max_m < 3800.0, "{} {}", dem.min_m, dem.max_m);
    let ds = gdal::Dataset::open(&out).unwrap();
    assert_eq!(ds.geo_transform().unwrap(), [160000.0, 90.0, 0.0, 354000.0, 0.0, -90.0]);
    assert!(ds.projection().contains("Austria Lambert"));
    assert_eq!(ds.rasterband(1).unwrap().no_data_value(), Some(-9999.0));
    use gdal::Metadata;
    assert_eq!(ds.metadata_item("AVARISK_RESAMPLING", "").as_deref(), Some("bilinear"));
    let layout = ds.rasterband(1).unwrap().block_size();
    assert_eq!(layout, (256, 256), "tiled output");

    // With only the northern tile, the southern part is carried as nodata (the validity mask).
    let p2 = temp_project(&[("cross", &straddling_site(&[srtm("N47E010")]))]);
    let site = load_site(p2.path(), "cross");
    let dem = ingest(&site, &DemParams::default(), &p2.path().join("dem.tif")).unwrap();
    assert!(dem.valid_cells > 1000 && dem.valid_cells < 100 * 100, "{}", dem.valid_cells);
}

#[test]
fn esri_ascii_in_a_zip_without_crs_needs_the_configured_crs() {
    let plan = config::load(&repo()).unwrap();
    let site = plan.site("avawog").unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let dem = ingest(&site, &DemParams::default(), &dir.path().join("dem.tif")).unwrap();
    assert_eq!((dem.grid.width, dem.grid.height), (489, 554));
    assert!(dem.valid_cells > 100_000, "{}", dem.valid_cells);

    let mut no_crs = site.clone();
    no_crs.dem[0].crs = None;
    let dest = dir.path().join("none.tif");
    let err = ingest(&no_crs, &DemParams::default(), &dest).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("avaWog.asc") && msg.contains("no coordinate reference system"), "{msg}");
    assert!(!dest.exists());
}

#[test]
fn a_dem_that_misses_the_site_is_refused_and_nothing_is_written() {
    let p = temp_project(&[("cross", &straddling_site(&[srtm("N46E007")]))]);
    let site = load_site(p.path(), "cross");
    let dest = p.path().join("out/dem.tif");
    let err = ingest(&site, &DemParams::default(), &dest).unwrap_err();
    assert!(matches!(err, DemError::NoCoverage { .. }), "{err}");
    assert!(err.to_string().contains("N46E007.hgt"), "{err}");
    assert!(!dest.exists());
}

#[test]
fn an_all_nodata_dem_is_refused_and_the_previous_output_survives() {
    let p = temp_project(&[]);
    let src = p.path().join("empty.tif");
    write_tif(&src, Some(31287), (159000.0, 356000.0), 30.0, (400, 400), vec![-32768.0; 400 * 400], Some(-32768.0));
    let toml = straddling_site(&[src.display().to_string()]);
    std::fs::create_dir_all(p.path().join("sites/cross")).unwrap();
    std::fs::write(p.path().join("sites/cross/site.toml"), toml).unwrap();
    let site = load_site(p.path(), "cross");
    let dest = p.path().join("out/dem.tif");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, b"previous output").unwrap();
    let err = ingest(&site, &DemParams::default(), &dest).unwrap_err();
    assert!(matches!(err, DemError::AllNodata { .. }), "{err}");
    assert!(err.to_string().contains("empty.tif"), "{err}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous output");
    let leftovers: Vec<_> =
        std::fs::read_dir(dest.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left: {leftovers:?}");
}

#[test]
fn a_geotiff_without_crs_is_named() {
    let p = temp_project(&[]);
    let src = p.path().join("nocrs.tif");
    write_tif(&src, None, (159000.0, 356000.0), 30.0, (50, 50), vec![1500.0; 2500], None);
    std::fs::create_dir_all(p.path().join("sites/cross")).unwrap();
    std::fs::write(p.path().join("sites/cross/site.toml"), straddling_site(&[src.display().to_string()])).unwrap();
    let out = text(&avarisk(
        p.path(),
        &["--root", &p.path().join("out").display().to_string(), "ingest", "dem", "--site", "cross"],
    ));
    assert!(out.contains("nocrs.tif") && out.contains("no coordinate reference system"), "{out}");
    assert!(!p.path().join("out/sites/cross/terrain/dem.tif").exists());
}
