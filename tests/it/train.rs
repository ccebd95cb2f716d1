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

    // Evaluation on the held-back winters, with baselines, JSON, a Markdown report and plots.
    let report = root.path().join("report");
    let json = report.join("eval.json");
    let o = run(&["eval", "--bundle", s, "--site", "tyrol-west", "--report", report.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("model") && out.contains("slope-only") && out.contains("PRA") && out.contains("roc_auc="),
        "{out}"
    );
    let e: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let auc = e["model"]["roc_auc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc) && e["events"].as_u64().unwrap() > 30, "{e}");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("reliability.png") && md.contains("learning_curve.png") && md.contains("| model |"), "{md}");
    for png in ["reliability.png", "learning_curve.png"] {
        let ds = gdal::Dataset::open(report.join(png)).unwrap();
        assert_eq!((ds.driver().short_name(), ds.raster_count()), ("PNG".to_string(), 3));
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
