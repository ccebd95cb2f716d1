//! A small fully convolutional U-Net: one logit per pixel, the avalanche-release probability after a sigmoid.
//!
//! ```text
//!  [N, C, H, W] ──block1──────────────────────────────────────────► skip1 ──┐
//!                   │ maxpool 2                                              │ concat
//!                   └─block2───────────────────────────────► skip2 ──┐      │
//!                        │ maxpool 2                                  │      │
//!                        └─bottleneck (2nd conv dilated) ──up2──► concat ─block2─up1──► concat ─block1─dropout─head─►
//!                                                                                                  [N, 1, H, W] logits
//! ```
//!
//! `H` and `W` must be multiples of 4 (two 2x2 poolings). Every 3x3 convolution is padded so the output grid is the
//! input grid: pixel `(i, j)` of the logits belongs to pixel `(i, j)` of the input chip.
//!
//! Receptive field, at the default dilation 2: block1 sees 5 px, block2 14 px, the bottleneck 40 px and the decoder
//! adds 12 px more, so each output pixel sees 52 px, about 4.7 km at 90 m: a release area and the ridges and
//! slopes that load it with wind-blown snow.
//!
//! Variable names are part of the bundle format (checkpoints must survive refactors):
//!
//! ```text
//!  encoder.block1.{conv1,conv2}.weight                        3x3, no bias (batch norm follows)
//!  encoder.block1.{bn1,bn2}.{weight,bias,running_mean,running_var}
//!  encoder.block2.*, encoder.bottleneck.*                     same layout
//!  decoder.up2.{weight,bias}, decoder.up1.{weight,bias}       2x2 stride-2 transposed convolutions
//!  decoder.block2.*, decoder.block1.*                         same layout as the encoder blocks
//!  decoder.head.{weight,bias}                                 1x1 convolution to one channel
//! ```
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tch::nn::{self, ModuleT};
use tch::{TchError, Tensor};

/// Hyper-parameters of [`UNet`]. Stored in every bundle (`bundle.json`), so loading rebuilds the same network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UNetConfig {
    /// Number of input channels (features), in the order of the bundle's `features`.
    pub in_channels: i64,
    /// Channels of block1, block2 and the bottleneck. Default `[16, 32, 64]`.
    pub widths: [i64; 3],
    /// Dilation of the bottleneck's second convolution (1 = none). Default 2.
    pub dilation: i64,
    /// Dropout probability before the head, in training only. Default 0.1.
    pub dropout: f64,
}

impl Default for UNetConfig {
    fn default() -> Self {
        UNetConfig { in_channels: 1, widths: [16, 32, 64], dilation: 2, dropout: 0.1 }
    }
}

impl UNetConfig {
    /// A default configuration for `in_channels` input features.
    pub fn with_channels(in_channels: i64) -> Self {
        UNetConfig { in_channels, ..Default::default() }
    }

    /// Every problem with this configuration (empty when it can build a network).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.in_channels < 1 {
            out.push(format!("in_channels must be at least 1 (found {})", self.in_channels));
        }
        if self.widths.iter().any(|w| *w < 1) {
            out.push(format!("widths must all be at least 1 (found {:?})", self.widths));
        }
        if self.dilation < 1 {
            out.push(format!("dilation must be at least 1 (found {})", self.dilation));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            out.push(format!("dropout must be in [0, 1) (found {})", self.dropout));
        }
        out
    }
}

/// Cells on each side of an output pixel that can influence it (a bound on the receptive field's radius): 2 cells of
/// block1, then block2 at half resolution (2 x 2) and the bottleneck at a quarter (4 x (1 + dilation)), and the
/// decoder's blocks (2 x 2 + 2), plus 4 cells for the poolings' and transposed convolutions' rounding. 31 at the
/// default dilation 2 (the field itself is about 52 cells wide).
pub fn receptive_radius(cfg: &UNetConfig) -> usize {
    (2 + 4 + 4 * (1 + cfg.dilation.max(1)) + 6 + 4 + 3) as usize
}

/// Two 3x3 convolutions, each followed by batch norm and ReLU. Output has the input's height and width.
#[derive(Debug)]
struct ConvBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
}

impl ConvBlock {
    /// `dilation` applies to the second convolution only.
    fn new(p: nn::Path, c_in: i64, c_out: i64, dilation: i64) -> ConvBlock {
        let conv = |name: &str, c_in: i64, dilation: i64| {
            let cfg = nn::ConvConfig { padding: dilation, dilation, bias: false, ..Default::default() };
            nn::conv2d(&p / name, c_in, c_out, 3, cfg)
        };
        ConvBlock {
            conv1: conv("conv1", c_in, 1),
            bn1: nn::batch_norm2d(&p / "bn1", c_out, Default::default()),
            conv2: conv("conv2", c_out, dilation),
            bn2: nn::batch_norm2d(&p / "bn2", c_out, Default::default()),
        }
    }
}

impl ModuleT for ConvBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.apply(&self.conv1).apply_t(&self.bn1, train).relu().apply(&self.conv2).apply_t(&self.bn2, train).relu()
    }
}

/// What [`Encoder::forward_t`] returns: the two skip tensors and the bottleneck.
#[derive(Debug)]
pub struct EncoderFeatures {
    /// `[N, widths[0], H, W]`.
    pub skip1: Tensor,
    /// `[N, widths[1], H/2, W/2]`.
    pub skip2: Tensor,
    /// `[N, widths[2], H/4, W/4]`.
    pub bottleneck: Tensor,
}

/// The contracting half of the U-Net, built under `p / "encoder"`. Public so other models (a domain classifier for
/// unlabelled adaptation, say) can embed it and share its weights.
#[derive(Debug)]
pub struct Encoder {
    block1: ConvBlock,
    block2: ConvBlock,
    bottleneck: ConvBlock,
}

impl Encoder {
    /// Builds the encoder's variables under `p` (callers pass `root / "encoder"` to keep [`ENCODER_PREFIX`] valid).
    pub fn new(p: &nn::Path, cfg: &UNetConfig) -> Encoder {
        let [w1, w2, w3] = cfg.widths;
        Encoder {
            block1: ConvBlock::new(p / "block1", cfg.in_channels, w1, 1),
            block2: ConvBlock::new(p / "block2", w1, w2, 1),
            bottleneck: ConvBlock::new(p / "bottleneck", w2, w3, cfg.dilation),
        }
    }

    /// Runs the encoder on `[N, C, H, W]` (H, W multiples of 4). In training mode batch norm uses batch statistics
    /// and updates its running statistics.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> EncoderFeatures {
        let skip1 = xs.apply_t(&self.block1, train);
        let skip2 = skip1.max_pool2d_default(2).apply_t(&self.block2, train);
        let bottleneck = skip2.max_pool2d_default(2).apply_t(&self.bottleneck, train);
        EncoderFeatures { skip1, skip2, bottleneck }
    }
}

/// The expanding half, built under `p / "decoder"`: twice (2x2 stride-2 transposed convolution, concatenate the
/// skip, two 3x3 conv + batch norm + ReLU), then dropout (training only) and a 1x1 head to one logit channel.
#[derive(Debug)]
pub struct Decoder {
    up2: nn::ConvTranspose2D,
    block2: ConvBlock,
    up1: nn::ConvTranspose2D,
    block1: ConvBlock,
    head: nn::Conv2D,
    dropout: f64,
}

impl Decoder {
    pub fn new(p: &nn::Path, cfg: &UNetConfig) -> Decoder {
        let [w1, w2, w3] = cfg.widths;
        let up = nn::ConvTransposeConfig { stride: 2, ..Default::default() };
        Decoder {
            up2: nn::conv_transpose2d(p / "up2", w3, w2, 2, up),
            block2: ConvBlock::new(p / "block2", 2 * w2, w2, 1),
            up1: nn::conv_transpose2d(p / "up1", w2, w1, 2, up),
            block1: ConvBlock::new(p / "block1", 2 * w1, w1, 1),
            head: nn::conv2d(p / "head", w1, 1, 1, Default::default()),
            dropout: cfg.dropout,
        }
    }

    /// Logits `[N, 1, H, W]` from the encoder's features. Fails when the skips do not match the upsampled tensors.
    pub fn f_forward_t(&self, f: &EncoderFeatures, train: bool) -> Result<Tensor, TchError> {
        self.f_forward_dropout(f, train, train)
    }

    /// As [`Decoder::f_forward_t`], with batch norm in mode `train` and dropout on when `dropout`: Monte Carlo dropout
    /// at prediction time runs batch norm in eval mode with dropout on.
    pub fn f_forward_dropout(&self, f: &EncoderFeatures, train: bool, dropout: bool) -> Result<Tensor, TchError> {
        let xs = Tensor::f_cat(&[&f.skip2, &f.bottleneck.apply(&self.up2)], 1)?.apply_t(&self.block2, train);
        let xs = Tensor::f_cat(&[&f.skip1, &xs.apply(&self.up1)], 1)?.apply_t(&self.block1, train);
        Ok(xs.f_dropout(self.dropout, dropout)?.apply(&self.head))
    }
}

/// The whole network: `[N, C, H, W]` features in, `[N, 1, H, W]` logits out.
#[derive(Debug)]
pub struct UNet {
    pub encoder: Encoder,
    pub decoder: Decoder,
    in_channels: i64,
}

impl UNet {
    /// Builds the network's variables under `p / "encoder"` and `p / "decoder"`.
    ///
    /// # Panics
    /// When `cfg` has [problems](UNetConfig::problems) (check them first where the config comes from a file).
    pub fn new(p: &nn::Path, cfg: &UNetConfig) -> UNet {
        let problems = cfg.problems();
        assert!(problems.is_empty(), "invalid UNetConfig: {}", problems.join("; "));
        UNet {
            encoder: Encoder::new(&(p / "encoder").set_group(ENCODER_GROUP), cfg),
            decoder: Decoder::new(&(p / "decoder"), cfg),
            in_channels: cfg.in_channels,
        }
    }

    /// Checks that `xs` is `[N, in_channels, H, W]` with `H` and `W` multiples of 4.
    fn check_input(&self, xs: &Tensor) -> Result<(), TchError> {
        match xs.size().as_slice() {
            [_, c, h, w] if *c == self.in_channels && h % 4 == 0 && w % 4 == 0 && *h > 0 && *w > 0 => Ok(()),
            size => Err(TchError::Shape(format!(
                "UNet input must be [N, {}, H, W] with H and W positive multiples of 4, got {size:?}",
                self.in_channels
            ))),
        }
    }

    /// Logits `[N, 1, H, W]`, or a shape error for input whose shape (from data) does not fit the network.
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        self.check_input(xs)?;
        self.decoder.f_forward_t(&self.encoder.forward_t(xs, train), train)
    }

    /// Prediction: every layer in eval mode, dropout on when `mc_dropout` (one Monte Carlo dropout pass).
    pub fn f_predict(&self, xs: &Tensor, mc_dropout: bool) -> Result<Tensor, TchError> {
        self.check_input(xs)?;
        self.decoder.f_forward_dropout(&self.encoder.forward_t(xs, false), false, mc_dropout)
    }

    /// Fine-tuning with a frozen encoder: the encoder runs in eval mode (batch norm uses, and does not update, its
    /// running statistics, so every `encoder.` tensor stays unchanged) and the decoder in mode `train`.
    pub fn forward_frozen_encoder(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        self.check_input(xs)?;
        self.decoder.f_forward_t(&self.encoder.forward_t(xs, false), train)
    }
}

impl ModuleT for UNet {
    /// # Panics
    /// On input that is not `[N, in_channels, H, W]` with H, W multiples of 4; use [`UNet::f_forward_t`] where the
    /// shape comes from data.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.f_forward_t(xs, train).unwrap()
    }
}

/// Optimizer parameter group of the encoder's variables (the decoder's are in group 0), so full fine-tuning can give
/// the encoder a smaller learning rate (`Optimizer::set_lr_group`).
pub const ENCODER_GROUP: usize = 1;

/// Name prefix of every encoder variable (the encoder is built under `root / "encoder"`).
pub const ENCODER_PREFIX: &str = "encoder.";

/// Freezes the encoder for fine-tuning, by name, the way tch's transfer-learning example keeps pre-trained weights
/// fixed: every trainable variable of `vs` whose name starts with [`ENCODER_PREFIX`] stops requiring gradients and
/// leaves the store's trainable list. Returns how many were frozen (0 when called again).
///
/// Why both: `nn::Optimizer` (`OptimizerConfig::build`) takes *every* entry of the store's trainable list, whatever its
/// `requires_grad`. libtorch's Adam/AdamW/SGD skip a parameter whose gradient is undefined, and `zero_grad` (as in
/// `backward_step`) resets gradients to undefined, so `requires_grad(false)` alone usually works; but a parameter in
/// the optimizer with a stale gradient, or with Adam moments from earlier unfrozen steps, would still move, weight
/// decay included. Taking frozen variables out of the trainable list means an optimizer built *after* this call never
/// holds them at all. So: **freeze first, then build the optimizer** (one built before still holds the encoder, and
/// is only safe while its gradients stay undefined). Note that `VarStore::unfreeze` will not bring the encoder back;
/// to unfreeze, rebuild the store (e.g. load the bundle again).
///
/// Batch-norm running statistics (`running_mean`, `running_var`) are buffers, never trainable: freezing does not
/// touch them, and a forward pass in training mode would still update them in place. Run a frozen encoder in eval
/// mode, which [`UNet::forward_frozen_encoder`] does.
pub fn freeze_encoder(vs: &nn::VarStore) -> usize {
    let mut variables = vs.variables_.lock().unwrap();
    // A Var in the trainable list carries no name: match it to its named entry by storage address (distinct,
    // non-empty parameters never share one).
    let encoder: HashSet<usize> = variables
        .named_variables
        .iter()
        .filter(|(name, t)| name.starts_with(ENCODER_PREFIX) && t.numel() > 0)
        .map(|(_, t)| t.data_ptr() as usize)
        .collect();
    let before = variables.trainable_variables.len();
    variables.trainable_variables.retain(|v| {
        let frozen = encoder.contains(&(v.tensor.data_ptr() as usize));
        if frozen {
            let _ = v.tensor.set_requires_grad(false);
        }
        !frozen
    });
    before - variables.trainable_variables.len()
}

/// Names of the variables an optimizer built from `vs` now would update (trainable and requiring gradients), sorted.
/// For logs and checks; the tensors themselves are `vs.trainable_variables()`.
pub fn trainable_names(vs: &nn::VarStore) -> Vec<String> {
    let trainable: HashSet<usize> =
        vs.trainable_variables().iter().filter(|t| t.requires_grad()).map(|t| t.data_ptr() as usize).collect();
    let mut names: Vec<String> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| trainable.contains(&(t.data_ptr() as usize)))
        .map(|(n, _)| n)
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    use tch::nn::OptimizerConfig;
    use tch::{Device, Kind};

    fn tiny() -> UNetConfig {
        UNetConfig { in_channels: 14, widths: [4, 8, 16], dilation: 2, dropout: 0.1 }
    }

    fn snapshot(vs: &nn::VarStore, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out: Vec<_> = vs
            .variables()
            .into_iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, t)| (n, t.detach().copy()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Runs `steps` Adam steps (weight decay on) with BCE-with-logits on a fixed random batch through the frozen path.
    fn adam_steps(net: &UNet, opt: &mut nn::Optimizer, steps: usize) {
        let xs = Tensor::randn([2, 14, 16, 16], (Kind::Float, Device::Cpu));
        let ys = Tensor::rand([2, 1, 16, 16], (Kind::Float, Device::Cpu)).ge(0.5).to_kind(Kind::Float);
        for _ in 0..steps {
            let logits = net.forward_frozen_encoder(&xs, true).unwrap();
            let loss = logits.binary_cross_entropy_with_logits::<Tensor>(&ys, None, None, tch::Reduction::Mean);
            opt.backward_step(&loss);
        }
    }

    #[test]
    fn output_is_one_logit_per_pixel() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = UNet::new(&vs.root(), &UNetConfig::with_channels(14));
        let xs = Tensor::randn([2, 14, 32, 32], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward_t(&xs, true).size(), [2, 1, 32, 32]);
        assert_eq!(net.forward_t(&xs, false).size(), [2, 1, 32, 32]);
        // Non-square input works too; a shape from data that does not fit is an error, not a panic.
        let xs = Tensor::randn([1, 14, 8, 12], (Kind::Float, Device::Cpu));
        assert_eq!(net.f_forward_t(&xs, false).unwrap().size(), [1, 1, 8, 12]);
        let odd = Tensor::randn([1, 14, 30, 32], (Kind::Float, Device::Cpu));
        assert!(matches!(net.f_forward_t(&odd, false), Err(TchError::Shape(_))));
        let wrong_channels = Tensor::randn([1, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert!(net.f_forward_t(&wrong_channels, false).is_err());
    }

    #[test]
    fn variable_names_are_stable() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = UNet::new(&vs.root(), &tiny());
        let names = vs.variables();
        for name in [
            "encoder.block1.conv1.weight",
            "encoder.block1.bn1.running_mean",
            "encoder.block2.conv2.weight",
            "encoder.bottleneck.conv2.weight",
            "encoder.bottleneck.bn2.running_mean",
            "encoder.bottleneck.bn2.running_var",
            "decoder.up2.weight",
            "decoder.up1.bias",
            "decoder.block2.conv1.weight",
            "decoder.block1.bn2.weight",
            "decoder.head.weight",
            "decoder.head.bias",
        ] {
            assert!(names.contains_key(name), "missing {name}");
        }
        assert!(names.keys().all(|n| n.starts_with(ENCODER_PREFIX) || n.starts_with("decoder.")));
        // The bottleneck's second convolution is the dilated one: still 3x3 weights.
        assert_eq!(names["encoder.bottleneck.conv2.weight"].size(), [16, 16, 3, 3]);
        assert_eq!(names["decoder.head.weight"].size(), [1, 4, 1, 1]);
    }

    #[test]
    fn encoder_runs_alone() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = tiny();
        let enc = Encoder::new(&(vs.root() / "encoder"), &cfg);
        let f = enc.forward_t(&Tensor::randn([2, 14, 32, 32], (Kind::Float, Device::Cpu)), false);
        assert_eq!(f.skip1.size(), [2, 4, 32, 32]);
        assert_eq!(f.skip2.size(), [2, 8, 16, 16]);
        assert_eq!(f.bottleneck.size(), [2, 16, 8, 8]);
        assert!(vs.variables().keys().all(|n| n.starts_with(ENCODER_PREFIX)));
    }

    #[test]
    fn bad_config_is_reported() {
        let cfg = UNetConfig { in_channels: 0, widths: [4, 0, 8], dilation: 0, dropout: 1.0 };
        assert_eq!(cfg.problems().len(), 4);
        assert!(tiny().problems().is_empty());
    }

    #[test]
    fn frozen_encoder_stays_bit_identical() {
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = UNet::new(&vs.root(), &tiny());
        let n_encoder_params =
            vs.variables().keys().filter(|n| n.starts_with(ENCODER_PREFIX) && !n.contains("running_")).count();
        assert_eq!(freeze_encoder(&vs), n_encoder_params);
        assert_eq!(freeze_encoder(&vs), 0, "freezing twice freezes nothing more");
        let trainable = trainable_names(&vs);
        assert!(!trainable.is_empty() && trainable.iter().all(|n| n.starts_with("decoder.")), "{trainable:?}");
        assert!(vs.variables().iter().filter(|(n, _)| n.starts_with(ENCODER_PREFIX)).all(|(_, t)| !t.requires_grad()));

        let encoder_before = snapshot(&vs, ENCODER_PREFIX);
        let decoder_before = snapshot(&vs, "decoder.");
        let mut opt = nn::Adam::default().wd(0.1).build(&vs, 1e-2).unwrap();
        adam_steps(&net, &mut opt, 3);

        for ((name, before), (_, after)) in encoder_before.iter().zip(snapshot(&vs, ENCODER_PREFIX)) {
            assert!(before.equal(&after), "{name} changed");
        }
        let changed =
            decoder_before.iter().zip(snapshot(&vs, "decoder.")).filter(|((_, b), (_, a))| !b.equal(a)).count();
        assert!(changed > 0, "no decoder tensor changed");
    }

    /// Guards the weaker path: an optimizer built before freezing still holds the encoder (with Adam moments from an
    /// unfrozen step); it must not move it afterwards, because `backward_step` leaves frozen gradients undefined.
    #[test]
    fn optimizer_built_before_freezing_leaves_encoder_alone() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = UNet::new(&vs.root(), &tiny());
        let mut opt = nn::Adam::default().wd(0.1).build(&vs, 1e-2).unwrap();
        let xs = Tensor::randn([2, 14, 16, 16], (Kind::Float, Device::Cpu));
        let loss = net.forward_t(&xs, true).mean(Kind::Float);
        opt.backward_step(&loss);

        freeze_encoder(&vs);
        let encoder_before = snapshot(&vs, ENCODER_PREFIX);
        adam_steps(&net, &mut opt, 3);
        for ((name, before), (_, after)) in encoder_before.iter().zip(snapshot(&vs, ENCODER_PREFIX)) {
            assert!(before.equal(&after), "{name} changed");
        }
    }
}
