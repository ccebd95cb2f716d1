//! The one training loop ([`train`]) every fit of the network runs (avarisk's pretraining, fine-tuning and CORAL,
//! and `avarisk-train`), and the pieces around it: the masked, class-weighted loss, batched prediction, labelled
//! pixels.
use std::ops::ControlFlow;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Reduction, TchError, Tensor};

use crate::unet::{freeze_encoder, UNet, ENCODER_GROUP};

/// How the network's variables are trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Every variable at the base learning rate (pretraining, training from scratch, CORAL, `avarisk-train`).
    All,
    /// The encoder frozen by name (its batch norm in eval mode); the decoder trains.
    FreezeEncoder,
    /// Everything trains, the encoder at `encoder_lr_factor` times the base rate.
    Full { encoder_lr_factor: f64 },
}

/// The encoder's share of the learning rate in full fine-tuning.
pub const ENCODER_LR_FACTOR: f64 = 0.1;

/// The optimisation of a run: AdamW at `lr` with `weight_decay`, `epochs` passes over the samples in shuffled
/// batches of `batch` (the order seeded by `seed`, as libtorch is).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    pub mode: Mode,
}

/// What the epoch callback of [`train`] hears.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochEnd {
    pub epoch: usize,
    /// Mean of the batch losses.
    pub mean_loss: f64,
    /// Wall time of the epoch's batches (queued CUDA work waited for), without what the callback does.
    pub seconds: f64,
}

/// The training loop: seeds libtorch, freezes the encoder for [`Mode::FreezeEncoder`], builds AdamW over `vs` (the
/// encoder's rate scaled in [`Mode::Full`]), then for each epoch shuffles the `n` sample indices, asks `step` for the
/// loss of each batch of indices (it may draw from the run's seeded generator, e.g. target patches for CORAL), takes
/// one optimiser step on it, and calls `on_epoch`, which validates, logs, checkpoints and says whether to go on.
/// Returns the number of epochs run.
pub fn train<E: From<TchError>>(
    vs: &nn::VarStore,
    n: usize,
    s: &Schedule,
    mut step: impl FnMut(&[i64], &mut StdRng) -> Result<Tensor, E>,
    mut on_epoch: impl FnMut(&EpochEnd, &nn::VarStore) -> Result<ControlFlow<()>, E>,
) -> Result<usize, E> {
    tch::manual_seed(s.seed as i64);
    if s.mode == Mode::FreezeEncoder {
        freeze_encoder(vs);
    }
    let mut opt = nn::AdamW::default().wd(s.weight_decay).build(vs, s.lr)?;
    if let Mode::Full { encoder_lr_factor } = s.mode {
        opt.set_lr_group(ENCODER_GROUP, s.lr * encoder_lr_factor);
    }
    let device = vs.device();
    let mut rng = StdRng::seed_from_u64(s.seed);
    let mut order: Vec<i64> = (0..n as i64).collect();
    for epoch in 1..=s.epochs {
        order.shuffle(&mut rng);
        sync(device);
        let t = Instant::now();
        // Summed on the device (no wait per batch), in f64 as a CPU sum of the batch losses would be.
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut batches = 0;
        for chunk in order.chunks(s.batch.max(1)) {
            let loss = step(chunk, &mut rng)?;
            opt.backward_step(&loss);
            loss_sum += loss.detach().to_kind(Kind::Double);
            batches += 1;
        }
        sync(device);
        let end = EpochEnd {
            epoch,
            mean_loss: loss_sum.double_value(&[]) / batches.max(1) as f64,
            seconds: t.elapsed().as_secs_f64().max(1e-9),
        };
        if on_epoch(&end, vs)?.is_break() {
            return Ok(epoch);
        }
    }
    Ok(s.epochs)
}

/// Waits for queued CUDA work so timings measure it (a no-op on the CPU).
pub fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Binary cross-entropy with logits on labelled pixels only (`mask` 1), positives weighted by `pos_weight`, averaged
/// over the labelled pixels of the batch (at least 1, so a batch without labels gives 0).
pub fn masked_bce(logits: &Tensor, y: &Tensor, mask: &Tensor, pos_weight: &Tensor) -> Result<Tensor, TchError> {
    let m = mask.f_sum(Kind::Float)?.f_clamp_min(1.0)?;
    Ok(logits.f_binary_cross_entropy_with_logits(y, Some(mask), Some(pos_weight), Reduction::Sum)? / m)
}

/// Class weight of the positives so that they weigh as much in total as the negatives: negatives / positives over
/// the labelled pixels (positives counted as at least 1). `None` when no pixel is labelled.
pub fn pos_weight(y: &Tensor, mask: &Tensor) -> Result<Option<f64>, TchError> {
    let labelled = mask.f_sum(Kind::Float)?.double_value(&[]);
    if labelled == 0.0 {
        return Ok(None);
    }
    let positives = (y * mask).f_sum(Kind::Float)?.double_value(&[]);
    Ok(Some((labelled - positives) / positives.max(1.0)))
}

/// Per-pixel release probabilities `[N, 1, H, W]` on the CPU for normalised input `x` (on the model's device), in
/// eval mode, `batch` patches at a time.
pub fn predict(unet: &UNet, x: &Tensor, batch: i64) -> Result<Tensor, TchError> {
    let _guard = tch::no_grad_guard();
    let n = x.size()[0];
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        parts.push(unet.f_forward_t(&x.f_narrow(0, start, len)?, false)?.sigmoid().to_device(Device::Cpu));
        start += len;
    }
    if parts.is_empty() {
        let s = x.size();
        return Ok(Tensor::zeros([0, 1, s[2], s[3]], (Kind::Float, Device::Cpu)));
    }
    Tensor::f_cat(&parts, 0)?.f_to_kind(Kind::Float)
}

/// Scores and labels at the labelled pixels (`mask` > 0) of same-shaped probability, label and mask arrays.
pub fn labelled(probs: &[f32], y: &[f32], mask: &[f32]) -> (Vec<f32>, Vec<bool>) {
    probs.iter().zip(y).zip(mask).filter(|(_, m)| **m > 0.0).map(|((p, y), _)| (*p, *y > 0.5)).unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_ignores_unlabelled_pixels() {
        let logits = Tensor::from_slice(&[5.0f32, -5.0, 100.0, -100.0]).view([1, 1, 2, 2]);
        let y = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([1, 1, 2, 2]);
        let mask = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 0.0]).view([1, 1, 2, 2]);
        let w = Tensor::from(1.0f32);
        // The two wrong, confident pixels are unlabelled: only the two right ones count.
        let loss = masked_bce(&logits, &y, &mask, &w).unwrap().double_value(&[]);
        assert!((loss - (1.0 + (-5f64).exp()).ln()).abs() < 1e-6, "{loss}");
        assert_eq!(pos_weight(&y, &mask).unwrap(), Some(1.0));
        assert_eq!(pos_weight(&y, &mask.zeros_like()).unwrap(), None);
        assert_eq!(labelled(&[0.1, 0.2, 0.3, 0.4], &[1.0, 0.0, 0.0, 1.0], &[1.0, 1.0, 0.0, 0.0]).1, [true, false]);
    }
}
