//! Feature alignment between a labelled source domain and an unlabelled target domain: the CORAL loss of deep CORAL
//! (Sun & Saenko 2016), the squared Frobenius distance between the two domains' feature covariances,
//! `||C_s - C_t||_F^2 / (4 d^2)` for `d`-dimensional features.
//!
//! CORAL aligns second-order statistics only: two batches that differ by a translation have the same covariance and
//! a CORAL loss of 0. Re-estimated batch-norm statistics (AdaBN) align the means, which is why `avarisk adapt
//! --method coral` runs AdaBN after training with this loss.
use tch::{Kind, TchError, Tensor};

/// Per-pixel feature vectors of a convolutional feature map: `[N, C, H, W]` -> `[N * H * W, C]` (every pixel of every
/// patch is one sample of the `C`-dimensional feature distribution).
pub fn pixel_features(f: &Tensor) -> Result<Tensor, TchError> {
    match f.size().as_slice() {
        [_, c, _, _] => f.f_permute([0, 2, 3, 1])?.f_reshape([-1, *c]),
        size => Err(TchError::Shape(format!("feature map must be [N, C, H, W], got {size:?}"))),
    }
}

/// Unbiased covariance `[d, d]` of the rows of `f` (`[n, d]`, n >= 2), in float32.
pub fn covariance(f: &Tensor) -> Result<Tensor, TchError> {
    let n = match f.size().as_slice() {
        [n, _] if *n >= 2 => *n,
        size => return Err(TchError::Shape(format!("covariance needs [n >= 2, d] features, got {size:?}"))),
    };
    let f = f.f_to_kind(Kind::Float)?;
    let centred = &f - f.f_mean_dim(0, true, Kind::Float)?;
    Ok(centred.f_tr()?.f_matmul(&centred)? / (n - 1) as f64)
}

/// CORAL loss between source and target features (`[n_s, d]` and `[n_t, d]`): `||C_s - C_t||_F^2 / (4 d^2)`, a
/// scalar that gradients flow through (to both inputs).
pub fn coral_loss(source: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
    let (ds, dt) = (source.size().last().copied(), target.size().last().copied());
    if ds != dt {
        return Err(TchError::Shape(format!("CORAL needs features of one width, got {ds:?} and {dt:?}")));
    }
    let d = ds.unwrap_or(0) as f64;
    let diff = covariance(source)? - covariance(target)?;
    Ok(diff.f_square()?.f_sum(Kind::Float)? / (4.0 * d * d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn value(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    #[test]
    fn identical_batches_have_zero_loss() {
        tch::manual_seed(0);
        let f = Tensor::randn([256, 16], (Kind::Float, Device::Cpu));
        assert_eq!(value(&coral_loss(&f, &f.copy()).unwrap()), 0.0);
    }

    #[test]
    fn shifted_batches_have_positive_loss() {
        tch::manual_seed(1);
        let s = Tensor::randn([4096, 16], (Kind::Float, Device::Cpu));
        let t = Tensor::randn([4096, 16], (Kind::Float, Device::Cpu));
        // Two samples of one distribution: small but not zero (sampling noise).
        let same = value(&coral_loss(&s, &t).unwrap());
        // Scaled (covariance x 4) and correlated (two features mixed) target features.
        let scaled = value(&coral_loss(&s, &(&t * 2.0 + 1.0)).unwrap());
        let mixed = Tensor::cat(&[&t.narrow(1, 0, 1) + t.narrow(1, 1, 1), t.narrow(1, 1, 15)], 1);
        let correlated = value(&coral_loss(&s, &mixed).unwrap());
        assert!(same > 0.0 && same < 5e-4, "{same}");
        assert!(scaled > 20.0 * same && scaled > 0.0, "scaled {scaled} vs same-distribution {same}");
        assert!(correlated > 5.0 * same, "correlated {correlated} vs same-distribution {same}");
        // A pure translation changes no covariance: CORAL does not see it (AdaBN aligns the means).
        let translated = value(&coral_loss(&s, &(&s + 3.0)).unwrap());
        assert!(translated < 1e-8, "{translated}");
    }

    #[test]
    fn gradients_flow_and_shapes_are_checked() {
        tch::manual_seed(2);
        let s = Tensor::randn([64, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let t = Tensor::randn([64, 8], (Kind::Float, Device::Cpu)) * 3.0;
        coral_loss(&s, &t).unwrap().backward();
        assert!(value(&s.grad().abs().sum(Kind::Float)) > 0.0);
        assert!(coral_loss(&s, &Tensor::zeros([64, 4], (Kind::Float, Device::Cpu))).is_err());
        assert!(covariance(&Tensor::zeros([1, 4], (Kind::Float, Device::Cpu))).is_err());
        let map = Tensor::randn([2, 8, 4, 4], (Kind::Float, Device::Cpu));
        let px = pixel_features(&map).unwrap();
        assert_eq!(px.size(), [32, 8]);
        // Pixel (n=1, i=2, j=3) is row 1*16 + 2*4 + 3 and holds that pixel's 8 channels.
        assert!(px.get(27).equal(&map.get(1).select(1, 2).select(1, 3)));
    }
}
