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
