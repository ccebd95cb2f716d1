//! Tiled inference over a whole site grid: no seams at window borders, nodata where the terrain is invalid, clear
//! errors. Runs on the real avaWog DEM (5 m, 489 x 554 cells) with a network of seeded random weights: seams are a
//! property of the tiling, not of what the network learnt.
use super::*;
use avarisk::dataset::CHANNELS;
use avarisk::model::bundle::{self, BundleMeta, Versions};
use avarisk::model::{UNet, UNetConfig};
use avarisk::predict::{predict, Inputs, PredictParams};
use avarisk::store::Store;
use gdal::Metadata;
use tch::{nn, Device};

/// avaWog onboarded (DEM and terrain) and a seeded random bundle at its resolution.
fn site_and_bundle() -> (tempfile::TempDir, Store, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let o = avarisk(&repo(), &["--root", root.path().to_str().unwrap(), "run", "onboard", "--sites", "avawog"]);
    assert!(o.status.success(), "{}", text(&o));
    let store = Store::new(root.path());
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = UNetConfig::with_channels(CHANNELS.len() as i64);
    let _unet = UNet::new(&vs.root(), &cfg);
    // Rough scales of each channel, so the random network sees inputs of order one.
    let (mean, std): (Vec<f32>, Vec<f32>) = CHANNELS
        .iter()
        .map(|c| match *c {
            "elevation" => (1500.0, 300.0),
            "slope" => (30.0, 15.0),
            "tpi_1km" | "tpi_4km" => (0.0, 50.0),
            "t_mean_c" => (-5.0, 5.0),
            _ => (0.0, 1.0),
        })
        .unzip();
    let meta = BundleMeta {
        name: "random".into(),
        created: chrono::Utc::now().to_rfc3339(),
        features: CHANNELS.iter().map(|c| c.to_string()).collect(),
        norm_mean: mean,
        norm_std: std,
        resolution_m: 5.0,
        patch: 32,
        unet: cfg,
        metrics: serde_json::Value::Null,
        parent: None,
        data_hash: "test".into(),
        versions: Versions::current(),
    };
    let dir = root.path().join("bundle");
    bundle::save(&dir, &vs, &meta).unwrap();
    (root, store, dir)
}

fn run(store: &Store, bundle: &std::path::Path, params: &PredictParams, name: &str) -> Vec<f32> {
    let inputs = Inputs { dem: store.dem("avawog"), terrain: store.terrain("avawog"), weather: None };
    let dest = store.root().join(format!("{name}.tif"));
    let date = chrono::NaiveDate::from_ymd_opt(2021, 2, 15).unwrap();
    let p = predict(&inputs, bundle, date, params, &dest, Device::Cpu).unwrap();
    assert_eq!(p.grid_size, (489, 554));
    assert!(p.filled.contains(&"t_mean_c".to_string()), "weather features are filled: {:?}", p.filled);
    read_band(&dest, 1).0
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).filter(|(x, y)| !x.is_nan() && !y.is_nan()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn maps_from_two_tile_sizes_agree_and_unblended_tiles_do_not() {
    let (_root, store, bundle) = site_and_bundle();
    let p = |tile, overlap| PredictParams { tile, overlap, batch: 4, mc_passes: 0 };
    let small = run(&store, &bundle, &p(144, 64), "small");
    let large = run(&store, &bundle, &p(224, 64), "large");
    let blended = max_diff(&small, &large);
    // The same tilings without overlap: windows meet edge to edge, each border cell sees half its context.
    let small_hard = run(&store, &bundle, &p(144, 0), "small-hard");
    let large_hard = run(&store, &bundle, &p(224, 0), "large-hard");
    let hard = max_diff(&small_hard, &large_hard);
    eprintln!("max difference between tile sizes: blended {blended:.4}, edge to edge {hard:.4}");
    assert!(blended < 0.02, "blended maps differ by up to {blended}");
    assert!(hard > 3.0 * blended, "the check cannot see seams: edge to edge {hard} vs blended {blended}");

    // Nodata exactly where a terrain channel is invalid (the DEM's edges and holes carry into slope and friends).
    let (dem, w, h, _) = read_band(&store.dem("avawog"), 1);
    let (slope, ..) = read_band(&store.terrain("avawog"), 1);
    assert_eq!(small.len(), w * h);
    let invalid_terrain = |i: usize| dem[i] == -9999.0 || slope[i] == -9999.0 || slope[i].is_nan();
    let nodata = |v: f32| v == -9999.0;
    let mismatched = (0..w * h).filter(|&i| invalid_terrain(i) && !nodata(small[i])).count();
    assert_eq!(mismatched, 0, "cells with invalid terrain must be nodata");
    let valid: Vec<f32> = small.iter().copied().filter(|v| !nodata(*v)).collect();
    assert!(valid.len() > w * h / 2);
    assert!(valid.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn mc_dropout_writes_a_spread_band() {
    let (_root, store, bundle) = site_and_bundle();
    let inputs = Inputs { dem: store.dem("avawog"), terrain: store.terrain("avawog"), weather: None };
    let dest = store.root().join("mc.tif");
    let date = chrono::NaiveDate::from_ymd_opt(2021, 2, 15).unwrap();
    let params = PredictParams { tile: 160, overlap: 48, batch: 4, mc_passes: 4 };
    predict(&inputs, &bundle, date, &params, &dest, Device::Cpu).unwrap();
    let ds = gdal::Dataset::open(&dest).unwrap();
    assert_eq!(ds.raster_count(), 2);
    assert_eq!(ds.rasterband(2).unwrap().description().unwrap(), "risk_spread");
    let (spread, ..) = read_band(&dest, 2);
    let valid: Vec<f32> = spread.into_iter().filter(|v| *v != -9999.0).collect();
    assert!(valid.iter().all(|v| *v >= 0.0));
    assert!(valid.iter().any(|v| *v > 0.0), "dropout passes must differ somewhere");
}

#[test]
fn predict_without_a_bundle_says_how_to_get_one() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path().to_str().unwrap();
    let o = avarisk(&repo(), &["--root", r, "run", "onboard", "--sites", "avawog"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = avarisk(&repo(), &["--root", r, "predict", "--site", "avawog", "--date", "2021-02-15"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("bundles/avawog") && t.contains("not found"), "{t}");
    assert!(!root.path().join("sites/avawog/predictions/2021-02-15.tif").exists());
}
