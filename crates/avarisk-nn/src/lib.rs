//! avarisk's release network and everything needed to train it from an exported dataset file, with libtorch as the
//! only native dependency (no GDAL, no polars, no HTTP stack), so training can run on a bare CUDA machine that has
//! PyTorch's libtorch and nothing else.
//!
//! * [`unet`]: the U-Net (re-exported by the avarisk crate as `avarisk::model::unet`).
//! * [`bundle`]: a trained network on disk (`model.safetensors` + `bundle.json`), typed, written by one atomic
//!   [`bundle::save`] for every trainer (avarisk's runs and `avarisk-train`).
//! * [`data`]: dataset files (`avarisk dataset export` writes them, [`data::read`] reads them): one safetensors file
//!   holding training and validation patches, normalisation statistics and channel names.
//! * [`fit`]: the masked, class-weighted loss and prediction shared by avarisk's training loop and `avarisk-train`.
//! * [`metrics`]: ROC-AUC, PR-AUC, Brier, reliability and the event bootstrap every score of avarisk uses.
//! * [`align`]: feature alignment between domains (CORAL) for unsupervised adaptation.
//! * [`trainer`]: the `avarisk-train` program (training from a dataset file, throughput, a bundle on disk).
pub mod align;
pub mod bundle;
pub mod data;
pub mod fit;
pub mod metrics;
pub mod trainer;
pub mod unet;
