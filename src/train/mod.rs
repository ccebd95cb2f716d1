//! Training avarisk's network: [`pretrain`] on data-rich sites, [`finetune`] on a new site's few events (or train on
//! it alone), [`adapt`] without labels (AdaBN, CORAL), and [`evaluate`] a bundle's map at held-back events. [`spec`]
//! says what a run trains on; [`fit`] is the loop; [`onboard`] makes the `model` and `hazard` units of the onboarding
//! pipeline; [`export`] writes a run's windows for `avarisk-train`. Research runs (the transfer experiment) are in
//! `crate::experiments`.
pub mod adapt;
pub mod evaluate;
pub mod export;
pub mod finetune;
pub mod fit;
pub mod onboard;
pub mod pretrain;
pub mod spec;

pub use adapt::{
    adapt, adapt_with, domain_shift, AdaptJob, AdaptMethod, CoralParams, CoralReport, DOMAIN_SHIFT_WARNING,
};
pub use evaluate::{evaluate, evaluate_records, map_cases, patch_level, predict_map, EvalWindow, Evaluation};
pub use finetune::{finetune, target_only, FinetuneJob};
pub use pretrain::pretrain;
pub use spec::{draw_events, samples_of, site_events, source_split, Overrides, Positive, Spec};

use crate::dataset;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("unknown site `{0}`")]
    Site(String),
    #[error("no source sites: give --sites or a `train` stage in pipelines/{0}.toml")]
    NoSites(String),
    #[error(transparent)]
    Dataset(#[from] dataset::DatasetError),
    #[error(transparent)]
    Train(#[from] fit::TrainError),
    #[error(transparent)]
    Bundle(#[from] crate::model::bundle::BundleError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("tensor: {0}")]
    Tensor(#[from] tch::TchError),
    #[error("report: {0}")]
    Report(String),
    #[error("reference model: {0}")]
    Reference(String),
    #[error(transparent)]
    Data(#[from] avarisk_nn::data::DataError),
    #[error("no {what} patch: {hint}")]
    Empty { what: &'static str, hint: String },
}
