//! Train -> bundle -> fine-tune -> eval end to end through the binary, on the real western-Tyrol site (tiny epochs),
//! with resume, frozen-encoder fine-tuning and a refused mismatched bundle.
use super::dataset::onboarded;
use super::*;
use avarisk::model::bundle;
use avarisk::model::device;

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn train_resume_finetune_and_eval() {
    let root = onboarded("tyrol-west");
    let r = root.path().to_str().unwrap();
    let src = root.path().join("bundles/src");
    let s = src.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--root", r];
        all.extend_from_slice(args);
        avarisk(&repo(), &all)
    };

    let o = run(&["train", "--sites", "tyrol-west", "--out", s, "--epochs", "2", "--held-back-from", "2018"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(src.join("model.safetensors").exists() && src.join("bundle.json").exists());
    let log = root.path().join("bundles/src.metrics.jsonl");
    assert_eq!(lines(&log), 2);

    // Resume continues from the checkpoint for the epochs left, and refuses when none are.
    let o = run(&["train", "--sites", "tyrol-west", "--out", s, "--epochs", "3", "--resume"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(lines(&log), 3, "one more epoch");
    assert_eq!(bundle::read_meta(&src).unwrap().metrics["epochs_done"], 3);
    let o = run(&["train", "--sites", "tyrol-west", "--out", s, "--epochs", "3", "--resume"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already holds 3 epoch(s)"), "{}", text(&o));

    // Fine-tuning with a frozen encoder leaves every encoder tensor bit-identical and records its lineage.
    let ft = root.path().join("bundles/ft");
    let o = run(&[
        "finetune",
        "--site",
        "tyrol-west",
        "--from",
        s,
        "--out",
        ft.to_str().unwrap(),
        "--events",
        "30",
        "--epochs",
        "2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let (vs_src, ..) = bundle::load(&src, device()).unwrap();
    let (vs_ft, _, meta) = bundle::load(&ft, device()).unwrap();
    assert!(meta.parent.as_deref().unwrap().starts_with("src@sha256:"), "{:?}", meta.parent);
    let (a, b) = (vs_src.variables(), vs_ft.variables());
    let (mut same, mut changed) = (0, 0);
    for (name, t) in &a {
        if name.starts_with("encoder.") {
            assert!(t.equal(&b[name]), "{name} changed during frozen fine-tuning");
            same += 1;
        } else if !t.equal(&b[name]) {
            changed += 1;
        }
    }
    assert!(same > 10 && changed > 0, "{same} encoder tensors kept, {changed} decoder tensors changed");

    // Evaluation of the map on the held-back winters, with the baselines on the same cells, JSON, a Markdown report
    // and plots.
    let report = root.path().join("report");
    let json = report.join("eval.json");
    let o = run(&["eval", "--bundle", s, "--site", "tyrol-west", "--report", report.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for layer in ["map", "elevation", "slope", "tpi_1km", "tpi_4km", "pra", "map level", "20 controls"] {
        assert!(out.contains(layer), "{layer}: {out}");
    }
    let e: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(e["rows"][0]["name"], "map", "{e}");
    let auc = e["rows"][0]["scores"]["roc_auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc) && e["events"].as_u64().unwrap() > 30, "{e}");
    assert_eq!(e["rows"][0]["scores"]["n"].as_u64().unwrap(), 21 * e["events"].as_u64().unwrap(), "{e}");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("roc.png") && md.contains("learning_curve.png") && md.contains("| map |"), "{md}");
    for png in ["roc.png", "reliability.png", "learning_curve.png"] {
        let ds = gdal::Dataset::open(report.join(png)).unwrap();
        assert_eq!((ds.driver().short_name(), ds.raster_count()), ("PNG".to_string(), 3));
    }

    // A new file of records is scored without retraining, read with the site's own column mapping, and --from/--to
    // narrow it to days; the site's store is left alone.
    let csv =
        std::fs::read_to_string(repo().join("sites/tyrol-west/observations/incidents_tirol_processed.csv")).unwrap();
    let mut lines = csv.lines();
    let mut subset = vec![lines.next().unwrap().to_string()];
    subset.extend(lines.filter(|l| l.split(',').nth(1).is_some_and(|d| d.starts_with("2021-"))).map(str::to_string));
    let file = root.path().join("winter-2021.csv");
    std::fs::write(&file, subset.join("\n") + "\n").unwrap();
    let events_before = std::fs::read(root.path().join("sites/tyrol-west/observations/events.parquet")).unwrap();
    let f = file.to_str().unwrap();
    let args =
        ["eval", "--bundle", s, "--site", "tyrol-west", "--events", f, "--from", "2021-01-01", "--to", "2021-02-28"];
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let n: usize = out.split(" events").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n > 0 && n < subset.len() - 1, "scored {n} of {} records: {out}", subset.len() - 1);
    assert_eq!(std::fs::read(root.path().join("sites/tyrol-west/observations/events.parquet")).unwrap(), events_before);
    let o = run(&["eval", "--bundle", s, "--site", "tyrol-west", "--events", f, "--from", "2030-01-01"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("from 2030-01-01"), "{}", text(&o));

    // A trained bundle's map does not depend on the tiling: windows of 32, 64 and 256 cells edge to edge give the
    // same values (no ring inside windows: what a network that learnt its sampling frame would show).
    let map = |tile: &str| {
        let out = root.path().join(format!("t{tile}.tif"));
        let args = ["predict", "--site", "tyrol-west", "--date", "2021-02-15", "--bundle", s, "--tile", tile];
        let o = run(&[&args[..], &["--overlap", "0", "--out", out.to_str().unwrap()]].concat());
        assert!(o.status.success(), "{}", text(&o));
        read_band(&out, 1).0
    };
    let (t256, t64, t32) = (map("256"), map("64"), map("32"));
    for (name, other) in [("64", &t64), ("32", &t32)] {
        let d = t256
            .iter()
            .zip(other.iter())
            .filter(|(a, b)| **a != -9999.0 && **b != -9999.0)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-3, "tile {name} differs from tile 256 by {d}");
    }

    // A bundle whose features differ from the site's is refused, naming what differs.
    let mut meta = bundle::read_meta(&ft).unwrap();
    meta.features.swap(0, 1);
    std::fs::write(ft.join("bundle.json"), serde_json::to_string(&meta).unwrap()).unwrap();
    let o = run(&["eval", "--bundle", ft.to_str().unwrap(), "--site", "tyrol-west"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("elevation") && text(&o).contains("slope"), "{}", text(&o));
}

#[test]
fn training_is_deterministic_for_a_seed_on_cpu() {
    let root = onboarded("tyrol-west");
    let r = root.path().to_str().unwrap();
    let train = |out: &str| {
        let o = avarisk(
            &repo(),
            &["--root", r, "train", "--sites", "tyrol-west", "--out", out, "--epochs", "1", "--seed", "3"],
        );
        assert!(o.status.success(), "{}", text(&o));
        bundle::load(Path::new(out), tch::Device::Cpu).unwrap().0
    };
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let (va, vb) = (train(a.to_str().unwrap()), train(b.to_str().unwrap()));
    for (name, t) in va.variables() {
        assert!(t.equal(&vb.variables()[&name]), "{name} differs between two runs with the same seed");
    }
}

#[test]
fn adapting_without_labels_moves_only_batch_norm_statistics() {
    let root = onboarded("tyrol-west");
    let r = root.path().to_str().unwrap();
    let (src, ada) = (root.path().join("src"), root.path().join("ada"));
    let o = avarisk(
        &repo(),
        &["--root", r, "train", "--sites", "tyrol-west", "--out", src.to_str().unwrap(), "--epochs", "1"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = avarisk(
        &repo(),
        &[
            "--root",
            r,
            "adapt",
            "--site",
            "tyrol-west",
            "--from",
            src.to_str().unwrap(),
            "--out",
            ada.to_str().unwrap(),
            "--passes",
            "2",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("domain shift"), "{}", text(&o));
    let (a, b) = (bundle::load(&src, device()).unwrap().0, bundle::load(&ada, device()).unwrap().0);
    let (va, vb) = (a.variables(), b.variables());
    let mut moved = 0;
    for (name, t) in &va {
        if name.ends_with("running_mean") || name.ends_with("running_var") {
            moved += usize::from(!t.equal(&vb[name]));
        } else {
            assert!(t.equal(&vb[name]), "{name}: adaptation must not change weights");
        }
    }
    assert!(moved > 0, "batch-norm statistics were re-estimated");
    assert!(bundle::read_meta(&ada).unwrap().metrics["domain_shift"].as_f64().is_some());
}

#[test]
fn adapting_with_coral_trains_on_the_source_and_records_its_lineage() {
    let root = onboarded("tyrol-west");
    let r = root.path().to_str().unwrap();
    let (src, ada) = (root.path().join("src"), root.path().join("coral"));
    let (s, a) = (src.to_str().unwrap(), ada.to_str().unwrap());
    let o = avarisk(&repo(), &["--root", r, "train", "--sites", "tyrol-west", "--out", s, "--epochs", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let adapt = |method: &str| {
        let args = ["--root", r, "adapt", "--site", "tyrol-west", "--from", s, "--out", a, "--method", method];
        avarisk(&repo(), &[&args[..], &["--passes", "1", "--coral-epochs", "1"]].concat())
    };
    // An unknown method is a usage error (exit 2) that lists the methods there are.
    let o = adapt("mmd");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("invalid value 'mmd'") && text(&o).contains("adabn, coral"), "{}", text(&o));

    // The source is the bundle's training site (metrics.sites), here the same site: its labelled patches train.
    let o = adapt("coral");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("domain shift"), "{}", text(&o));
    let meta = bundle::read_meta(&ada).unwrap();
    assert!(meta.parent.as_deref().unwrap().starts_with("src@sha256:"), "{:?}", meta.parent);
    assert_eq!(meta.parent.unwrap(), bundle::lineage_id(&src).unwrap());
    let m = &meta.metrics;
    assert_eq!((m["method"].as_str(), m["adapted"].as_str()), (Some("coral"), Some("AdaBN+CORAL")), "{m}");
    assert_eq!(m["coral"]["source_sites"], serde_json::json!(["tyrol-west"]), "{m}");
    assert!(m["coral"]["source_patches"].as_u64().unwrap() > 50, "{m}");
    for k in ["coral_before", "coral_after"] {
        assert!(m["coral"][k].as_f64().is_some_and(|v| v.is_finite() && v >= 0.0), "{k}: {m}");
    }
    // Unlike AdaBN alone, CORAL trains weights (on the source task plus alignment).
    let (va, vb) = (bundle::load(&src, device()).unwrap().0.variables(), bundle::load(&ada, device()).unwrap().0);
    let vb = vb.variables();
    let moved = va.iter().filter(|(n, t)| n.ends_with(".weight") && !t.equal(&vb[*n])).count();
    assert!(moved > 10, "{moved} weight tensors moved");
}

#[test]
fn an_exported_dataset_trains_with_the_libtorch_only_trainer() {
    let root = onboarded("tyrol-west");
    let r = root.path().to_str().unwrap();
    let file = root.path().join("export/tyrol.safetensors");
    let f = file.to_str().unwrap();
    let args = ["--root", r, "dataset", "export", "--sites", "tyrol-west", "--held-back-from", "2018", "--out", f];
    let o = avarisk(&repo(), &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("validation patches"), "{}", text(&o));

    let d = avarisk_nn::data::read(&file).unwrap();
    assert_eq!(d.info.channels, avarisk::dataset::CHANNELS.map(String::from));
    assert_eq!((d.info.patch, d.info.context), (160, 32));
    assert_eq!((d.info.sites.clone(), d.info.held_back_from), (vec!["tyrol-west".into()], 2018));
    assert!(d.train.len() > 50 && !d.val.is_empty(), "{} + {}", d.train.len(), d.val.len());
    assert!(d.train.winter.iter().all(|w| *w < 2018) && d.val.winter.iter().all(|w| *w >= 2018));
    assert!(d.info.norm_std.iter().all(|s| *s > 0.0) && d.train.mask.iter().any(|m| *m > 0.0));

    // One epoch on the CPU; the result is a bundle avarisk itself loads for the site.
    let out = root.path().join("bundles/from-file");
    let args = avarisk_nn::trainer::Args {
        data: file.clone(),
        epochs: 1,
        out: out.clone(),
        device: avarisk_nn::trainer::DeviceChoice::Cpu,
        batch: 64,
        lr: 2e-3,
        weight_decay: 1e-4,
        seed: 7,
        threads: None,
    };
    let mut lines = Vec::new();
    let s = avarisk_nn::trainer::run(&args, |l| lines.push(l.to_string())).unwrap();
    assert!(s.train_patches_per_s > 0.0 && s.infer_patches_per_s > 0.0, "{lines:?}");
    assert!(s.val_roc_auc.is_some_and(|v| (0.0..=1.0).contains(&v)), "{lines:?}");
    let (_, _, meta) = bundle::load(&out, tch::Device::Cpu).unwrap();
    let site = avarisk::config::load(&repo()).unwrap();
    let site = site.site("tyrol-west").unwrap();
    bundle::check_compatible(&meta, &d.info.channels, site.grid.res_x()).unwrap();
    assert_eq!(meta.metrics["trained_by"], "avarisk-train");
}
