//! The training loop shared by pretraining, training from scratch and fine-tuning: masked, class-weighted binary
//! cross-entropy on labelled pixels only (`avarisk_nn::fit::masked_bce`, the loss `avarisk-train` uses too); Adam
//! with weight decay; validation ROC-AUC after every epoch; early stopping that restores the best epoch's weights;
//! deterministic for a seed on CPU.
use std::io::IsTerminal;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

pub use crate::config::params::TrainParams;
use crate::dataset::Samples;
use crate::model::unet::{freeze_encoder, UNet, ENCODER_GROUP};
use avarisk_nn::metrics;

/// How the network's variables are trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Every variable at the base learning rate (pretraining, training from scratch).
    All,
    /// The encoder frozen by name (its batch norm in eval mode); the decoder trains.
    FreezeEncoder,
    /// Everything trains, the encoder at `encoder_lr_factor` times the base rate.
    Full { encoder_lr_factor: f64 },
}

/// The encoder's share of the learning rate in full fine-tuning.
pub const ENCODER_LR_FACTOR: f64 = 0.1;

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

/// Per-pixel release probabilities `[N x P x P]` for `x` (normalised, on the model's device), in eval mode.
pub fn predict(unet: &UNet, x: &Tensor, batch: i64) -> Result<Vec<f32>, TrainError> {
    let _guard = tch::no_grad_guard();
    let n = x.size()[0];
    let mut out = Vec::with_capacity(x.numel());
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let p =
            unet.f_forward_t(&x.f_narrow(0, start, len)?, false)?.sigmoid().to_device(Device::Cpu).to_kind(Kind::Float);
        out.extend(Vec::<f32>::try_from(p.flatten(0, -1))?);
        start += len;
    }
    Ok(out)
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

/// Trains `unet` (whose variables live in `vs`) on `train`, validating on `val` after every epoch; `on_epoch` is
/// called with each epoch's figures (to log and checkpoint). On return `vs` holds the best epoch's weights.
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
    tch::manual_seed(params.seed as i64);
    let device = vs.device();
    let (x, y, mask) = train.tensors(mean, std, device)?;
    let labelled = mask.sum(Kind::Float).double_value(&[]);
    if labelled == 0.0 {
        return Err(TrainError::NoLabels("training"));
    }
    let positives = (&y * &mask).sum(Kind::Float).double_value(&[]);
    // Class weighting: positives weigh as much in total as negatives.
    let pos_weight = Tensor::from(((labelled - positives) / positives.max(1.0)) as f32).to_device(device);

    if mode == Mode::FreezeEncoder {
        freeze_encoder(vs);
    }
    let mut opt = nn::AdamW::default().wd(params.weight_decay).build(vs, params.lr)?;
    if let Mode::Full { encoder_lr_factor } = mode {
        opt.set_lr_group(ENCODER_GROUP, params.lr * encoder_lr_factor);
    }

    let n = train.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(params.seed);
    let mut best: Option<Best> = None;
    let mut history = Vec::new();
    let mut since_best = 0;
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
    for epoch in 1..=params.epochs {
        order.shuffle(&mut rng);
        let t = Instant::now();
        let (mut loss_sum, mut batches) = (0.0, 0);
        for chunk in order.chunks(params.batch) {
            bar.inc(1);
            let idx = Tensor::from_slice(&chunk.iter().map(|i| *i as i64).collect::<Vec<_>>()).to_device(device);
            let (bx, by, bm) = (x.f_index_select(0, &idx)?, y.f_index_select(0, &idx)?, mask.f_index_select(0, &idx)?);
            let logits = match mode {
                Mode::FreezeEncoder => unet.forward_frozen_encoder(&bx, true)?,
                _ => unet.f_forward_t(&bx, true)?,
            };
            let loss = avarisk_nn::fit::masked_bce(&logits, &by, &bm, &pos_weight)?;
            opt.backward_step(&loss);
            loss_sum += loss.double_value(&[]);
            batches += 1;
        }
        let seconds = t.elapsed().as_secs_f64();
        let (val_roc_auc, val_pr_auc) = evaluate(unet, val, mean, std, device)?;
        let m = EpochMetrics {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            val_roc_auc,
            val_pr_auc,
            samples_per_s: n as f64 / seconds.max(1e-9),
        };
        bar.set_message(format!(
            "epoch {epoch}: loss {:.3}, validation ROC-AUC {:?}",
            m.train_loss,
            m.val_roc_auc.map(|v| (v * 1000.0).round() / 1000.0)
        ));
        on_epoch(&m, vs).map_err(TrainError::Callback)?;
        // Without validation data every epoch counts as the best (the last one is kept).
        let score = val_roc_auc.unwrap_or(f64::NEG_INFINITY);
        if best.as_ref().is_none_or(|b| score > b.score || val_roc_auc.is_none()) {
            let weights = vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect();
            best = Some(Best { score, epoch, weights });
            since_best = 0;
        } else {
            since_best += 1;
        }
        history.push(m);
        if since_best >= params.patience {
            break;
        }
    }
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
