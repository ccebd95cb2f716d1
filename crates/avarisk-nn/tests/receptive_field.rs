//! The receptive-field bound `predict` relies on (its halo): an input cell moves no output farther than
//! `receptive_radius`. Its own process: it seeds libtorch's global generator, which tests in one process share.
use avarisk_nn::unet::{receptive_radius, UNet, UNetConfig};
use tch::{nn, Tensor};

#[test]
fn an_input_cell_reaches_no_further_than_the_receptive_radius() {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let cfg = UNetConfig::with_channels(2);
    let unet = UNet::new(&vs.root(), &cfg);
    let n = 96i64;
    let x = Tensor::randn([1, 2, n, n], (tch::Kind::Float, tch::Device::Cpu));
    let base = unet.f_predict(&x, false).unwrap();
    let (c, r) = (45i64, 50i64);
    let y = x.copy();
    let _ = y.narrow(2, r, 1).narrow(3, c, 1).fill_(25.0);
    let moved = (unet.f_predict(&y, false).unwrap() - base).abs().squeeze();
    let moved: Vec<f32> = Vec::try_from(moved.flatten(0, -1)).unwrap();
    let mut reach = 0i64;
    for (k, v) in moved.iter().enumerate() {
        if *v > 0.0 {
            let (rr, cc) = (k as i64 / n, k as i64 % n);
            reach = reach.max((rr - r).abs()).max((cc - c).abs());
        }
    }
    assert!(reach > 15, "the field is wide: {reach}");
    assert!(reach as usize <= receptive_radius(&cfg), "reach {reach} > {}", receptive_radius(&cfg));
}
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
