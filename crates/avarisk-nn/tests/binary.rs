//! The `avarisk-train` binary: trains from a dataset file on the CPU, prints throughput, writes a bundle; links
//! libtorch and no GDAL (or any other native library of the avarisk crate).
use std::path::Path;
use std::process::Command;

use avarisk_nn::data::{Dataset, Info, Split};

/// `n` 8 x 8 patches of 2 channels with 4 labelled pixels each, labelled by the sign of channel 0.
fn dataset(n: usize) -> Dataset {
    let (p, c) = (8, 2);
    let mut s = Split::default();
    for i in 0..n {
        let x: Vec<f32> = (0..c * p * p).map(|k| (((i * 131 + k * 17) % 23) as f32 - 11.0) / 7.0).collect();
        let mut y = vec![0f32; p * p];
        let mut mask = vec![0f32; p * p];
        for k in [5, 20, 37, 60] {
            mask[k] = 1.0;
            y[k] = f32::from(x[k] > 0.0);
        }
        s.x.extend(x);
        s.y.extend(y);
        s.mask.extend(mask);
        s.winter.push(2010 + (i % 12) as i32);
        s.event.push(i as i64);
    }
    let val_idx: Vec<usize> = (0..n).filter(|i| s.winter[*i] >= 2020).collect();
    let take = |keep: &dyn Fn(usize) -> bool| {
        let mut out = Split::default();
        for i in (0..n).filter(|i| keep(*i)) {
            out.x.extend_from_slice(&s.x[i * c * p * p..(i + 1) * c * p * p]);
            out.y.extend_from_slice(&s.y[i * p * p..(i + 1) * p * p]);
            out.mask.extend_from_slice(&s.mask[i * p * p..(i + 1) * p * p]);
            out.winter.push(s.winter[i]);
            out.event.push(s.event[i]);
        }
        out
    };
    Dataset {
        info: Info {
            channels: vec!["a".into(), "b".into()],
            patch: p,
            context: 0,
            norm_mean: vec![0.0; c],
            norm_std: vec![1.0; c],
            resolution_m: 90.0,
            sites: vec!["synthetic".into()],
            held_back_from: 2020,
            data_hash: "0".into(),
            created_by: "test".into(),
        },
        train: take(&|i| !val_idx.contains(&i)),
        val: take(&|i| val_idx.contains(&i)),
    }
}

fn train(dir: &Path, extra: &[&str]) -> std::process::Output {
    let data = dir.join("d.safetensors");
    if !data.exists() {
        dataset(96).write(&data).unwrap();
    }
    Command::new(env!("CARGO_BIN_EXE_avarisk-train"))
        .args(["--data", data.to_str().unwrap(), "--out", dir.join("bundle").to_str().unwrap(), "--epochs", "2"])
        .args(extra)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("avarisk-train runs")
}

#[test]
fn trains_on_the_cpu_and_prints_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let o = train(dir.path(), &["--device", "cpu", "--batch", "16"]);
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{out}");
    assert!(out.contains("epoch 2: loss") && out.contains("validation ROC-AUC 0."), "{out}");
    assert!(out.contains("throughput on Cpu: training") && out.contains("Mpx/s"), "{out}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bundle/bundle.json")).unwrap()).unwrap();
    assert_eq!((meta["patch"].as_u64(), meta["metrics"]["epochs_done"].as_u64()), (Some(8), Some(2)), "{meta}");
    assert!(dir.path().join("bundle/model.safetensors").is_file());

    // Asking for CUDA where libtorch sees none is an error that says what to do.
    if !tch::Cuda::is_available() {
        let o = train(dir.path(), &["--device", "cuda"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("use --device cpu or auto"));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_avarisk-train"))
        .args(["--data", "missing.safetensors", "--out", dir.path().join("b").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.safetensors"));
}

#[test]
fn links_libtorch_and_no_gdal() {
    let elf = Command::new("readelf").args(["-d", env!("CARGO_BIN_EXE_avarisk-train")]).output().unwrap();
    let elf = String::from_utf8_lossy(&elf.stdout);
    assert!(elf.contains("libtorch_cpu.so") && elf.contains("RUNPATH") && elf.contains("torch/lib"), "{elf}");
    for lib in ["libgdal", "libproj", "libsqlite", "libssl", "libcurl"] {
        assert!(!elf.contains(lib), "avarisk-train must not need {lib}: {elf}");
    }
}
