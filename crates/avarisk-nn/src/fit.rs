//! Pieces of training shared by avarisk's training loop (`avarisk::train::fit`) and `avarisk-train`: the masked,
//! class-weighted loss, batched prediction and ROC-AUC on labelled pixels.
use tch::{Device, Kind, Reduction, TchError, Tensor};

use crate::unet::UNet;

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
