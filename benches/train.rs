//! Benchmark P3: training throughput (training windows per second) of avarisk's U-Net against a PyTorch-Python
//! script of the same architecture, initial weights, batch, optimizer and data (`benches/train_pytorch.py`, run with
//! the venv's torch), in the same run. Data: the Swiss source site's training windows (onboarded once into
//! target/bench-data). Prints both rates (epochs after the first) and the ratio (target >= 0.95). Run with
//! `make bench-train`.
use std::path::PathBuf;
use std::process::Command;

use avarisk::config;
use avarisk::dataset::{self, Samples};
use avarisk::model::unet::{UNet, UNetConfig};
use avarisk::pipeline::{self, RunContext};
use avarisk::store::Store;
use avarisk::train::fit::{fit, Mode, TrainParams};
use tch::{nn, Device, Tensor};

const EPOCHS: usize = 3;
const BATCH: usize = 64;
const SEED: u64 = 7;

fn main() {
    avarisk::geo::init();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench-data/train");
    std::fs::create_dir_all(&dir).unwrap();
    let plan = config::load(&root).expect("bundled configuration is valid");
    let store = Store::new(dir.join("root"));
    let site = plan.site("swiss-alps").unwrap();
    if !store.events(&site.id).exists() {
        let ctx = RunContext { date: chrono::Utc::now().date_naive(), from: None, offline: true };
        let summary = pipeline::run(&plan, &plan.pipelines["onboard"], std::slice::from_ref(&site.id), &store, &ctx);
        assert_eq!(summary.failures().count(), 0, "onboarding the Swiss site failed: {summary:?}");
    }
    let samples = dataset::build(site, &store, &Default::default(), &|_| true).unwrap();
    let (mean, std) = samples.channel_stats();
    let (x, y, mask) = samples.tensors(&mean, &std, Device::Cpu).unwrap();
    Tensor::write_safetensors(&[("x", &x), ("y", &y), ("mask", &mask)], dir.join("train_data.safetensors")).unwrap();

    tch::manual_seed(SEED as i64);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let unet = UNet::new(&vs.root(), &UNetConfig::with_channels(dataset::CHANNELS.len() as i64));
    vs.save(dir.join("init.safetensors")).unwrap();

    let params = TrainParams { epochs: EPOCHS, batch: BATCH, patience: EPOCHS, seed: SEED, ..Default::default() };
    let report =
        fit(&unet, &mut vs, &samples, &Samples::default(), (&mean, &std), &params, Mode::All, |_, _| Ok(())).unwrap();
    let steady: Vec<f64> = report.history.iter().skip(1).map(|m| m.samples_per_s).collect();
    let ours = steady.iter().sum::<f64>() / steady.len() as f64;

    let out = Command::new("python3")
        .arg(root.join("benches/train_pytorch.py"))
        .args([dir.to_str().unwrap(), &EPOCHS.to_string(), &BATCH.to_string(), &SEED.to_string()])
        .output()
        .expect("python3 from the torch venv (make setup puts it first on PATH)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "PyTorch script failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
    // "threads N samples_per_s X"
    let words: Vec<&str> = text.split_whitespace().collect();
    let theirs: f64 = words.last().and_then(|v| v.parse().ok()).expect("samples_per_s in the output");
    let threads = words.get(1).copied().unwrap_or("?");

    let shape = x.size();
    println!(
        "P3 training throughput: {} windows of {} x {} x {}, batch {BATCH}, epochs 2..{EPOCHS}",
        shape[0], shape[1], shape[2], shape[3]
    );
    println!("  avarisk (tch, {} threads)   {ours:>8.1} windows/s", tch::get_num_threads());
    println!("  PyTorch (torch, {threads} threads) {theirs:>8.1} windows/s");
    let ratio = ours / theirs;
    println!(
        "  ratio avarisk/PyTorch = {ratio:.3} (target >= 0.95: {})",
        if ratio >= 0.95 { "met" } else { "NOT met" }
    );
}
