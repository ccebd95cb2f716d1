//! Fitting the network on avarisk's windows: the shared loop of `avarisk_nn::fit::train` (AdamW, seeded shuffled
//! batches) with the masked, class-weighted binary cross-entropy on labelled pixels only, validation ROC-AUC after
//! every epoch, and early stopping that restores the best epoch's weights; deterministic for a seed on CPU.
use std::io::IsTerminal;
use std::ops::ControlFlow;

use avarisk_nn::fit as nn_fit;
use rand::rngs::StdRng;
use serde::Serialize;
use tch::{nn, Device, Tensor};

pub use crate::config::params::TrainParams;
use crate::dataset::Samples;
use crate::model::unet::UNet;
use avarisk_nn::metrics;

pub use avarisk_nn::fit::{Mode, ENCODER_LR_FACTOR};

/// One epoch's figures, written as a JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_roc_auc: Option<f64>,
    pub val_pr_auc: Option<f64>,
    pub samples_per_s: f64,
}

/// The outcome of [`fit`]: the best epoch (whose weights the store holds on return) and the history.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub best_epoch: usize,
    pub best_val_roc_auc: Option<f64>,
    pub history: Vec<EpochMetrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no labelled pixel in the {0} data: nothing to learn from or to validate on")]
    NoLabels(&'static str),
    #[error("tensor: {0}")]
    Tensor(#[from] tch::TchError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("{0}")]
    Callback(String),
}

/// The best epoch so far and a copy of its weights.
struct Best {
    score: f64,
    epoch: usize,
    weights: Vec<(String, Tensor)>,
}

/// Per-pixel release probabilities `[N x P x P]` for `x` (normalised, on the model's device), in eval mode
/// ([`avarisk_nn::fit::predict`], flattened).
pub fn predict(unet: &UNet, x: &Tensor, batch: i64) -> Result<Vec<f32>, TrainError> {
    Ok(Vec::<f32>::try_from(nn_fit::predict(unet, x, batch)?.flatten(0, -1))?)
}

/// ROC-AUC and PR-AUC of `unet` on the labelled pixels of `samples`.
pub fn evaluate(
    unet: &UNet,
    samples: &Samples,
    mean: &[f32],
    std: &[f32],
    device: Device,
) -> Result<(Option<f64>, Option<f64>), TrainError> {
    if samples.is_empty() {
        return Ok((None, None));
    }
    let (x, ..) = samples.tensors(mean, std, device)?;
    let probs = predict(unet, &x, 256)?;
    let (s, l, _) = samples.labelled(&probs);
    Ok((metrics::roc_auc(&s, &l), metrics::pr_auc(&s, &l)))
}

/// Trains `unet` (whose variables live in `vs`) on `train` with the shared loop ([`avarisk_nn::fit::train`]),
/// validating on `val` after every epoch; `on_epoch` is called with each epoch's figures (to log and checkpoint).
/// Stops after `params.patience` epochs without a better validation ROC-AUC; on return `vs` holds the best epoch's
/// weights.
#[allow(clippy::too_many_arguments)] // the inputs of a training run; grouping them would only rename them
pub fn fit(
    unet: &UNet,
    vs: &mut nn::VarStore,
    train: &Samples,
    val: &Samples,
    (mean, std): (&[f32], &[f32]),
    params: &TrainParams,
    mode: Mode,
    mut on_epoch: impl FnMut(&EpochMetrics, &nn::VarStore) -> Result<(), String>,
) -> Result<FitReport, TrainError> {
    let device = vs.device();
    let (x, y, mask) = train.tensors(mean, std, device)?;
    let pos_weight = nn_fit::pos_weight(&y, &mask)?.ok_or(TrainError::NoLabels("training"))?;
    // Class weighting: positives weigh as much in total as negatives.
    let pos_weight = Tensor::from(pos_weight as f32).to_device(device);
    let n = train.len();
    // A progress bar over the batches when a person watches (stderr is a terminal); nothing in cron or CI.
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new((params.epochs * n.div_ceil(params.batch)) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} batches, {per_sec}, eta {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_prefix("training");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let schedule = nn_fit::Schedule {
        epochs: params.epochs,
        batch: params.batch,
        lr: params.lr,
        weight_decay: params.weight_decay,
        seed: params.seed,
        mode,
    };
    let step = |chunk: &[i64], _: &mut StdRng| -> Result<Tensor, TrainError> {
        bar.inc(1);
        let idx = Tensor::from_slice(chunk).to_device(device);
        let (bx, by, bm) = (x.f_index_select(0, &idx)?, y.f_index_select(0, &idx)?, mask.f_index_select(0, &idx)?);
        let logits = match mode {
            Mode::FreezeEncoder => unet.forward_frozen_encoder(&bx, true)?,
            _ => unet.f_forward_t(&bx, true)?,
        };
        Ok(nn_fit::masked_bce(&logits, &by, &bm, &pos_weight)?)
    };
    let mut best: Option<Best> = None;
    let mut history = Vec::new();
    let mut since_best = 0;
    let end_epoch = |e: &nn_fit::EpochEnd, vs: &nn::VarStore| -> Result<ControlFlow<()>, TrainError> {
        let (val_roc_auc, val_pr_auc) = evaluate(unet, val, mean, std, device)?;
        let m = EpochMetrics {
            epoch: e.epoch,
            train_loss: e.mean_loss,
            val_roc_auc,
            val_pr_auc,
            samples_per_s: n as f64 / e.seconds,
        };
        bar.set_message(format!(
            "epoch {}: loss {:.3}, validation ROC-AUC {:?}",
            e.epoch,
            m.train_loss,
            m.val_roc_auc.map(|v| (v * 1000.0).round() / 1000.0)
        ));
        on_epoch(&m, vs).map_err(TrainError::Callback)?;
        // Without validation data every epoch counts as the best (the last one is kept).
        let score = val_roc_auc.unwrap_or(f64::NEG_INFINITY);
        if best.as_ref().is_none_or(|b| score > b.score || val_roc_auc.is_none()) {
            let weights = vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect();
            best = Some(Best { score, epoch: e.epoch, weights });
            since_best = 0;
        } else {
            since_best += 1;
        }
        history.push(m);
        Ok(if since_best >= params.patience { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
    };
    nn_fit::train(vs, n, &schedule, step, end_epoch)?;
    bar.finish_and_clear();
    let Best { score, epoch: best_epoch, weights: snapshot } = best.expect("at least one epoch");
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, value) in snapshot {
            if let Some(v) = vars.get(&name) {
                v.shallow_clone().copy_(&value);
            }
        }
    });
    Ok(FitReport { best_epoch, best_val_roc_auc: score.is_finite().then_some(score), history })
}
