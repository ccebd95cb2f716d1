//! The binary end to end: help, the onboarding pipeline on a bundled site, and exit codes.
use std::process::Command;

use super::*;

#[test]
fn help_lists_the_subcommands() {
    let o = avarisk(&repo(), &["--help"]);
    assert!(o.status.success());
    let out = text(&o);
    for cmd in ["validate", "ingest", "features", "run"] {
        assert!(out.contains(cmd), "{cmd} missing from:\n{out}");
    }
}

#[test]
fn validate_passes_on_the_repository() {
    let o = avarisk(&repo(), &["validate"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 site(s)"), "{}", text(&o));
}

#[test]
fn onboard_runs_on_avawog_and_a_failing_site_does_not_stop_the_others() {
    let good = std::fs::read_to_string(repo().join("sites/avawog/site.toml"))
        .unwrap()
        .replace("/vsizip/dem/avaWog.zip", &format!("/vsizip/{}/sites/avawog/dem/avaWog.zip", repo().display()))
        .replace("path = \"release_areas/", &format!("path = \"{}/sites/avawog/release_areas/", repo().display()));
    // Valid configuration, but its only DEM tile lies in Switzerland: fails at run time.
    let elsewhere = good
        .replace("\"avawog\"", "\"elsewhere\"")
        .replace(&format!("/vsizip/{}/sites/avawog/dem/avaWog.zip/avaWog.asc", repo().display()), &srtm("N46E007"));
    let p = temp_project(&[("avawog", &good), ("elsewhere", &elsewhere)]);
    let root = p.path().join("out");
    let o = avarisk(p.path(), &["--root", root.to_str().unwrap(), "run", "onboard"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL  elsewhere") && out.contains("does not cover site `elsewhere`"), "{out}");
    assert!(root.join("sites/avawog/terrain/dem.tif").exists(), "{out}");
    assert!(root.join("sites/avawog/terrain/features.tif").exists(), "{out}");
    assert!(!root.join("sites/elsewhere/terrain/dem.tif").exists());

    // Alone, the good site exits 0; JSON logs carry the site and stage.
    let o = avarisk(
        p.path(),
        &["--root", root.to_str().unwrap(), "--log-format", "json", "run", "onboard", "--sites", "avawog"],
    );
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn unknown_pipeline_or_site_is_a_usage_error() {
    assert_eq!(avarisk(&repo(), &["run", "nope"]).status.code(), Some(2));
    assert_eq!(avarisk(&repo(), &["run", "onboard", "--sites", "atlantis"]).status.code(), Some(2));
    assert_eq!(avarisk(&repo(), &["features", "terrain", "--site", "atlantis"]).status.code(), Some(2));
}

#[test]
fn the_binary_finds_libtorch_without_ld_library_path_and_links_cuda() {
    let o = Command::new(env!("CARGO_BIN_EXE_avarisk")).arg("info").env_remove("LD_LIBRARY_PATH").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("libtorch device") && out.contains("gdal     3."), "{out}");
    // CUDA is used when present: libtorch_cuda must stay linked (rustc links --as-needed), RUNPATH points at it.
    let elf = Command::new("readelf").args(["-d", env!("CARGO_BIN_EXE_avarisk")]).output().unwrap();
    let elf = String::from_utf8_lossy(&elf.stdout);
    assert!(elf.contains("RUNPATH") && elf.contains("torch/lib"), "{elf}");
    assert!(elf.contains("libtorch_cuda.so"), "{elf}");
}

#[test]
fn observations_and_a_days_labels_through_the_binary() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let o = avarisk(&repo(), &["--root", r, "features", "labels", "--site", "tyrol-west", "--date", "2016-02-06"]);
    assert_eq!(o.status.code(), Some(1), "labels need the observations first: {}", text(&o));
    assert!(text(&o).contains("avarisk ingest observations --site tyrol-west"), "{}", text(&o));
    let o = avarisk(&repo(), &["--root", r, "ingest", "observations", "--site", "tyrol-west"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("298 of 853") && text(&o).contains("outside the site grid"), "{}", text(&o));
    let o = avarisk(&repo(), &["--root", r, "features", "labels", "--site", "tyrol-west", "--date", "2016-02-06"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("6 event(s) on 2016-02-06"), "{}", text(&o));
    let (labels, ..) = read_band(&root.path().join("sites/tyrol-west/labels/2016-02-06.tif"), 1);
    let positive = labels.iter().filter(|v| **v == 1.0).count();
    // 135 m around each of the 6 start zones on a 90 m grid: the own cell and 4 to 8 neighbours each.
    assert!((6 * 5..=6 * 9).contains(&positive), "{positive}");
}
