//! Every shipped site and pipeline validates; bad configurations are reported all at once, with file and key.
use super::*;

#[test]
fn every_shipped_site_and_pipeline_validates() {
    let plan = avarisk::config::load(&repo()).unwrap_or_else(|r| panic!("{r}"));
    let ids: Vec<&str> = plan.sites.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["avawog", "swiss-alps", "tyrol-west"]);
    assert!(plan.pipelines.contains_key("onboard") && plan.pipelines.contains_key("daily"));
    assert!(
        matches!(plan.pipelines["pretrain"].stages[0], avarisk::config::Stage::Train(ref t) if t.sites == ["swiss-alps"])
    );
    let swiss = plan.site("swiss-alps").unwrap();
    assert_eq!(swiss.grid.crs.epsg, Some(2056));
    assert_eq!((swiss.grid.width, swiss.grid.height), (3230, 1898));
    assert_eq!(swiss.dem.len(), 10);
}

/// The hazard is fitted on the regions of a site's exports, and its probability is that of a region of that size: the
/// daily run must read the same points, or its regions are larger or smaller than the fitted ones and the published
/// probability is off by their ratio (the Swiss site read 6 of its 14 points: 191 releases expected for 457 recorded).
#[test]
fn the_daily_weather_points_are_the_points_the_hazard_is_fitted_on() {
    let plan = avarisk::config::load(&repo()).unwrap_or_else(|r| panic!("{r}"));
    for site in &plan.sites {
        let Some(avarisk::config::WeatherSource::OpenMeteo { points, .. }) = &site.weather else { continue };
        let dir = site.dir.join(avarisk::dataset::days::REGIONAL_DIR);
        let Some(rows) = avarisk::dataset::days::load_regional_rows(&dir).unwrap() else { continue };
        let key = |lon: f64, lat: f64| ((lon * 1e4).round() as i64, (lat * 1e4).round() as i64);
        let fitted: std::collections::BTreeSet<_> = rows.iter().map(|w| key(w.longitude, w.latitude)).collect();
        let daily: std::collections::BTreeSet<_> = points.iter().map(|p| key(p.longitude, p.latitude)).collect();
        assert_eq!(daily, fitted, "site `{}`: daily points against the points of {}", site.id, dir.display());
    }
}

const GOOD: &str = r#"
id = "demo"
name = "Demo"
crs = "EPSG:31287"
resolution_m = 90.0
timezone = "Europe/Vienna"
[bounds]
xmin = 150000.0
ymin = 350000.0
xmax = 160000.0
ymax = 360000.0
[[dem]]
path = "DEMPATH"
[[attribution]]
data = "DEM"
source = "NASA/USGS SRTMGL3"
licence = "public domain"
"#;

#[test]
fn a_good_temp_site_validates() {
    let p = temp_project(&[("demo", &GOOD.replace("DEMPATH", &srtm("N47E010")))]);
    let o = avarisk(p.path(), &["validate", "--show"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("112 x 112 cells at 90 m in EPSG:31287"), "{}", text(&o));
}

#[test]
fn every_problem_is_reported_at_once_with_file_and_key() {
    // Two sites and a pipeline, each with several problems.
    let unknown_keys = GOOD
        .replace("DEMPATH", &srtm("N47E010"))
        .replace("timezone =", "colour = \"red\"\ntimezone =")
        .replace("[bounds]", "[bounds]\nzmax = 3.0");
    let semantic = GOOD
        .replace("\"demo\"", "\"other\"")
        .replace("DEMPATH", "dem/missing.tif")
        .replace("resolution_m = 90.0", "resolution_m = -5.0")
        .replace("timezone = \"Europe/Vienna\"", "timezone = \"Europe/Atlantis\"")
        .replace("xmin = 150000.0", "xmin = 10.2") // degrees in a metric CRS: far outside the area of use
        .replace("ymin = 350000.0", "ymin = 46.9")
        .replace("xmax = 160000.0", "xmax = 10.9")
        .replace("ymax = 360000.0", "ymax = 47.4");
    let p = temp_project(&[("demo", &unknown_keys), ("other", &semantic)]);
    std::fs::write(
        p.path().join("pipelines/broken.toml"),
        "description = \"x\"\n[[stages]]\nstage = \"terrain\"\nvrm_window = 4\nfeatures = [\"slope\", \"slpoe\"]\n",
    )
    .unwrap();

    let o = avarisk(p.path(), &["validate"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    for (file, key) in [
        ("demo/site.toml", "`colour`"),
        ("demo/site.toml", "`bounds.zmax`"),
        ("other/site.toml", "`resolution_m`"),
        ("other/site.toml", "`timezone`"),
        ("other/site.toml", "`bounds`"),
        ("broken.toml", "`stages[0].vrm_window`"),
        ("broken.toml", "`stages[0].features[1]`"),
    ] {
        assert!(out.lines().any(|l| l.contains(file) && l.contains(key)), "no line with {file} and {key} in:\n{out}");
    }
    assert!(out.contains("area of EPSG:31287"), "{out}");
}

#[test]
fn a_missing_dem_file_is_named() {
    let p = temp_project(&[("demo", &GOOD.replace("DEMPATH", "dem/nowhere.tif"))]);
    let o = avarisk(p.path(), &["validate"]);
    assert_eq!(o.status.code(), Some(2));
    let out = text(&o);
    assert!(out.contains("`dem[0].path`") && out.contains("dem/nowhere.tif"), "{out}");
    // A missing archive behind /vsizip/ is found too.
    let p = temp_project(&[("demo", &GOOD.replace("DEMPATH", "/vsizip/dem/gone.zip/a.asc"))]);
    let out = text(&avarisk(p.path(), &["validate"]));
    assert!(out.contains("gone.zip"), "{out}");
}

#[test]
fn a_geographic_crs_is_refused_for_a_metre_grid() {
    let p = temp_project(&[("demo", &GOOD.replace("DEMPATH", &srtm("N47E010")).replace("EPSG:31287", "EPSG:4326"))]);
    let out = text(&avarisk(p.path(), &["validate"]));
    assert!(out.contains("`crs`") && out.contains("not a projected CRS"), "{out}");
}

#[test]
fn a_train_stage_must_name_configured_sites() {
    let p = temp_project(&[("demo", &GOOD.replace("DEMPATH", &srtm("N47E010")))]);
    std::fs::write(
        p.path().join("pipelines/pretrain.toml"),
        "description = \"x\"\n[[stages]]\nstage = \"train\"\nsites = [\"demo\", \"atlantis\"]\npatch = 30\n",
    )
    .unwrap();
    let o = avarisk(p.path(), &["validate"]);
    assert_eq!(o.status.code(), Some(2));
    let out = text(&o);
    assert!(out.contains("`stages[0].sites`") && out.contains("atlantis"), "{out}");
    assert!(out.contains("`stages[0].patch`"), "{out}");
}

#[test]
fn publish_targets_are_checked_and_the_site_overrides_the_stage() {
    let good = GOOD.replace("DEMPATH", &srtm("N47E010"));
    let with_target = format!("{good}[publish]\ntarget = \"s3://site-maps/tyrol/\"\n");
    let p = temp_project(&[("demo", &with_target), ("other", &good.replace("\"demo\"", "\"other\""))]);
    let daily = std::fs::read_to_string(p.path().join("pipelines/daily.toml")).unwrap();
    let staged = daily.replace("stage = \"publish\"", "stage = \"publish\"\ntarget = \"s3://all-maps/daily\"");
    assert_ne!(staged, daily, "pipelines/daily.toml has a publish stage");
    std::fs::write(p.path().join("pipelines/daily.toml"), staged).unwrap();
    let plan = avarisk::config::load(p.path()).unwrap_or_else(|r| panic!("{r}"));
    let stage: &avarisk::config::PublishStage = plan.stage("daily").unwrap();
    let target = |id: &str| stage.target_for(plan.site(id).unwrap()).map(|t| t.to_string());
    assert_eq!(target("demo").as_deref(), Some("s3://site-maps/tyrol"));
    assert_eq!(target("other").as_deref(), Some("s3://all-maps/daily"));
    // A site without [publish] prints (and so hashes into the ledger) as it did before the table existed.
    assert!(!format!("{:?}", plan.site("other").unwrap()).contains("publish"));

    let bad = format!("{good}[publish]\ntarget = \"s3://Bad_Bucket/x\"\n");
    let p = temp_project(&[("demo", &bad)]);
    std::fs::write(
        p.path().join("pipelines/broken.toml"),
        "description = \"x\"\n[[stages]]\nstage = \"publish\"\ntarget = \"/srv/maps\"\n",
    )
    .unwrap();
    let o = avarisk(p.path(), &["validate"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(out.lines().any(|l| l.contains("demo/site.toml") && l.contains("`publish.target`")), "{out}");
    assert!(out.contains("bucket `Bad_Bucket`"), "{out}");
    assert!(out.lines().any(|l| l.contains("broken.toml") && l.contains("`stages[0].target`")), "{out}");
    assert!(out.contains("s3://<bucket>/<prefix>"), "{out}");
}
