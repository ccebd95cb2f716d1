//! Pretraining on data-rich sites, and what every training run shares: the bundle description, fitting with a
//! checkpointed bundle after every epoch and metrics as JSON lines.
use std::io::Write;
use std::path::{Path, PathBuf};

use tch::nn;

use super::fit::{self, FitReport, Mode, TrainParams};
use crate::config::Plan;
use crate::dataset::{Samples, SamplingParams, CHANNELS};
use crate::model::bundle::{self, BundleMeta, Versions};
use crate::model::device;
use crate::model::unet::{UNet, UNetConfig};
use crate::store::Store;

use super::{spec::*, RunError};

/// Pretrains a new model on `spec.sites`, writing the bundle to `out` (checkpoint after every epoch). With `resume`,
/// an existing checkpoint at `out` is loaded and training continues for the epochs it had left.
pub fn pretrain(plan: &Plan, store: &Store, spec: &Spec, out: &Path, resume: bool) -> Result<FitReport, RunError> {
    let (train, val, res) = source_split(plan, store, spec)?;
    let (mean, std) = train.channel_stats();
    let (vs, unet, done) = if resume && out.join(bundle::META_FILE).exists() {
        let (vs, unet, m) = bundle::load(out, device())?;
        let done = m.metrics["epochs_done"].as_u64().unwrap_or(0) as usize;
        tracing::info!(bundle = %out.display(), epochs_done = done, "resuming from the last checkpoint");
        (vs, unet, done)
    } else {
        tch::manual_seed(spec.train.seed as i64); // the initial weights depend on the seed only
        let vs = nn::VarStore::new(device());
        let unet = UNet::new(&vs.root(), &unet_config(&spec.unet));
        (vs, unet, 0)
    };
    if done >= spec.train.epochs {
        return Err(RunError::Empty {
            what: "remaining",
            hint: format!("{} already holds {done} epoch(s)", out.display()),
        });
    }
    // A resumed run continues with the epochs left and a fresh shuffle order (seeded by the epochs done).
    let params =
        TrainParams { epochs: spec.train.epochs - done, seed: spec.train.seed + done as u64, ..spec.train.clone() };
    let meta = |report: Option<&FitReport>, epochs: usize| BundleMeta {
        metrics: serde_json::json!({ "sites": spec.sites, "held_back_from": spec.held_back_from, "train_patches": train.len(), "val_patches": val.len(), "epochs_done": done + epochs, "fit": report }),
        data_hash: data_hash(&train),
        ..new_meta(out, (&mean, &std), res, window(&spec.sampling), unet_config(&spec.unet))
    };
    fit_and_save(&unet, vs, &train, &val, (&mean, &std), &params, Mode::All, out, meta)
}

/// The fields every new bundle of a run shares; callers add metrics, lineage and the data hash.
pub(super) fn new_meta(
    out: &Path,
    (mean, std): (&[f32], &[f32]),
    resolution_m: f64,
    (patch, context): (i64, i64),
    unet: UNetConfig,
) -> BundleMeta {
    BundleMeta {
        name: out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        created: chrono::Utc::now().to_rfc3339(),
        features: channel_names(),
        norm_mean: mean.to_vec(),
        norm_std: std.to_vec(),
        resolution_m,
        patch,
        context,
        unet,
        metrics: serde_json::Value::Null,
        parent: None,
        data_hash: String::new(),
        versions: Versions::current(),
    }
}

/// Loads the bundle at `dir` for use on `site`, refusing it when the site's features or resolution differ.
pub(super) fn load_for_site(plan: &Plan, site: &str, dir: &Path) -> Result<(nn::VarStore, UNet, BundleMeta), RunError> {
    let (vs, unet, meta) = bundle::load(dir, device())?;
    let s = plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    bundle::check_compatible(&meta, &channel_names(), s.grid.res_x())?;
    Ok((vs, unet, meta))
}

/// A run's window side and context margin, as bundles record them.
pub(super) fn window(s: &SamplingParams) -> (i64, i64) {
    (s.patch as i64, s.context as i64)
}

pub(super) fn channel_names() -> Vec<String> {
    CHANNELS.iter().map(|c| c.to_string()).collect()
}

pub(super) fn unet_config(c: &UNetConfig) -> UNetConfig {
    UNetConfig { in_channels: CHANNELS.len() as i64, ..c.clone() }
}

#[allow(clippy::too_many_arguments)] // a training run's inputs and its bundle description
pub(super) fn fit_and_save(
    unet: &UNet,
    mut vs: nn::VarStore,
    train: &Samples,
    val: &Samples,
    norm: (&[f32], &[f32]),
    params: &TrainParams,
    mode: Mode,
    out: &Path,
    meta: impl Fn(Option<&FitReport>, usize) -> BundleMeta,
) -> Result<FitReport, RunError> {
    // Metrics as JSON lines next to the bundle (appended: a resumed run continues the log).
    let log_path: PathBuf = out.with_extension("metrics.jsonl");
    let io = |e| RunError::Io { path: log_path.display().to_string(), source: e };
    if let Some(dir) = log_path.parent() {
        fs_err::create_dir_all(dir).map_err(io)?;
    }
    let mut log = fs_err::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io)?;
    let report = fit::fit(unet, &mut vs, train, val, norm, params, mode, |m, vs| {
        tracing::info!(epoch = m.epoch, loss = format!("{:.4}", m.train_loss), val_roc_auc = ?m.val_roc_auc, samples_per_s = format!("{:.0}", m.samples_per_s), "epoch");
        writeln!(log, "{}", serde_json::to_string(m).unwrap_or_default()).map_err(|e| e.to_string())?;
        bundle::save(out, vs, &meta(None, m.epoch)).map_err(|e| e.to_string())
    })?;
    bundle::save(out, &vs, &meta(Some(&report), report.history.len()))?;
    Ok(report)
}
