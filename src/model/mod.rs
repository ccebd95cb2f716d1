//! Networks and model bundles.
//!
//! * [`unet`]: a small fully convolutional U-Net, one logit per pixel (release probability after a sigmoid), with an
//!   [`Encoder`] that other models can embed and [`freeze_encoder`] for fine-tuning on a new site. It lives in the
//!   workspace crate `avarisk-nn` (which builds with libtorch alone, for `avarisk-train`) and is re-exported here, so
//!   `avarisk::model::unet::*` paths are unchanged.
//! * [`align`]: the CORAL feature-alignment loss used by `avarisk adapt --method coral` (also from `avarisk-nn`).
//! * [`bundle`]: a trained model on disk (`model.safetensors` + `bundle.json`): save atomically, load, check that a
//!   bundle fits a site's features and resolution (also from `avarisk-nn`, whose `avarisk-train` writes bundles).
//!
//! The device is chosen once, here, by [`device`]; everything else takes a `tch::Device` argument.
pub use avarisk_nn::{align, bundle, unet};

pub use bundle::{check_compatible, hash_file, lineage_id, BundleError, BundleMeta, Versions};
pub use unet::{freeze_encoder, trainable_names, Decoder, Encoder, EncoderFeatures, UNet, UNetConfig, ENCODER_PREFIX};

/// The device every model and tensor of a run lives on: the first CUDA GPU when libtorch sees one, else the CPU.
///
/// This is the single place the device is chosen; pass its result down rather than calling it again.
pub fn device() -> tch::Device {
    tch::Device::cuda_if_available()
}
