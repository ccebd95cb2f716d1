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
        context: 0,
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
    assert!(p.filled.is_empty(), "terrain channels are all read: {:?}", p.filled);
    read_band(&dest, 1).0
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).filter(|(x, y)| !x.is_nan() && !y.is_nan()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn maps_do_not_depend_on_the_tiling() {
    // Translation equivariance in practice: every tile reads the network's reach of real terrain around it and
    // starts on the same pooling phase, so tiles of 32, 64 and 256 cells, blended or edge to edge, give one map, with
    // no ring inside windows (the old failure: a network that learnt where in its window a cell was).
    let (_root, store, bundle) = site_and_bundle();
    let p = |tile, overlap| PredictParams { tile, overlap, batch: 4, mc_passes: 0 };
    let small = run(&store, &bundle, &p(144, 64), "small");
    let large = run(&store, &bundle, &p(256, 64), "large");
    for (tile, overlap) in [(32, 0), (64, 0), (256, 0), (64, 16)] {
        let other = run(&store, &bundle, &p(tile, overlap), &format!("t{tile}-{overlap}"));
        let d = max_diff(&large, &other);
        eprintln!("tile {tile} overlap {overlap}: largest difference from tile 256 overlap 64: {d:.2e}");
        assert!(d < 1e-3, "tile {tile} overlap {overlap} differs by {d}");
    }
    assert!(max_diff(&small, &large) < 1e-3);

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
