//! `avarisk dataset export`: a training run's patches as one file (`avarisk_nn::data`), so training can run where
//! only libtorch is installed (`avarisk-train`, e.g. on a bare CUDA machine).
//!
//! The patches and split are exactly those of [`super::pretrain`] with the same spec: the events of
//! `spec.sites`, winters before `spec.held_back_from` for training and the rest for validation, normalisation
//! statistics from the training split only.
use std::path::Path;

use avarisk_nn::data::{Dataset, Info, Split};

use super::spec::data_hash;
use super::{source_split, RunError, Spec};
use crate::config::Plan;
use crate::dataset::{Samples, CHANNELS};
use crate::store::Store;

/// How many patches a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub train: usize,
    pub val: usize,
}

fn split(s: &Samples) -> Split {
    Split {
        x: s.x.clone(),
        y: s.y.clone(),
        mask: s.mask.clone(),
        winter: s.winter.clone(),
        event: s.event.iter().map(|e| *e as i64).collect(),
    }
}

/// Writes the training and validation patches of `spec` to `out` (safetensors, atomically).
pub fn export(plan: &Plan, store: &Store, spec: &Spec, out: &Path) -> Result<Exported, RunError> {
    let (train, val, res) = source_split(plan, store, spec)?;
    let (norm_mean, norm_std) = train.channel_stats();
    let dataset = Dataset {
        info: Info {
            channels: CHANNELS.iter().map(|c| c.to_string()).collect(),
            patch: spec.sampling.patch,
            context: spec.sampling.context,
            norm_mean,
            norm_std,
            resolution_m: res,
            sites: spec.sites.clone(),
            held_back_from: spec.held_back_from,
            data_hash: data_hash(&train),
            created_by: format!("avarisk {}", env!("CARGO_PKG_VERSION")),
        },
        train: split(&train),
        val: split(&val),
    };
    dataset.write(out)?;
    tracing::info!(train = train.len(), val = val.len(), file = %out.display(), "dataset exported");
    Ok(Exported { train: train.len(), val: val.len() })
}
