//! What a training run trains on: the [`Spec`] (sites, hold-back winter, sampling, optimisation) from a pipeline's
//! `train` stage with a run's overrides, and the windows of sites' events split by winter.

use super::fit::TrainParams;
use crate::config::Plan;
use crate::dataset::{self, winter_of, Samples, SamplingParams};
use crate::ingest::observations::Event;
use crate::model::unet::UNetConfig;
use crate::store::Store;

use super::RunError;

/// What to train on and how.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Sites whose events train the model (several: "train the big one" on all data-rich sites together).
    pub sites: Vec<String>,
    /// Winters from this one on are held back (validation when pretraining, test when fine-tuning).
    pub held_back_from: i32,
    pub sampling: SamplingParams,
    pub train: TrainParams,
    pub unet: UNetConfig,
}

/// Single values of a run that override a pipeline's `train` stage.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub sites: Vec<String>,
    pub held_back_from: Option<i32>,
    pub epochs: Option<usize>,
    pub seed: Option<u64>,
    pub lr: Option<f64>,
}

impl Spec {
    /// The `train` stage of `pipeline` (or the defaults when it has none) with `o`'s values in its place.
    pub fn from_plan(plan: &Plan, pipeline: &str, o: &Overrides) -> Result<Spec, RunError> {
        let base =
            plan.stage::<crate::config::TrainStage>(pipeline).cloned().unwrap_or_else(|| crate::config::TrainStage {
                sites: Vec::new(),
                held_back_from: crate::config::HELD_BACK_FROM,
                sampling: Default::default(),
                train: Default::default(),
            });
        let seed = o.seed.unwrap_or(base.train.seed);
        let sites = if o.sites.is_empty() { base.sites.clone() } else { o.sites.clone() };
        if sites.is_empty() {
            return Err(RunError::NoSites(pipeline.to_owned()));
        }
        Ok(Spec {
            sites,
            held_back_from: o.held_back_from.unwrap_or(base.held_back_from),
            sampling: SamplingParams { seed, ..base.sampling },
            train: TrainParams {
                epochs: o.epochs.unwrap_or(base.train.epochs),
                lr: o.lr.unwrap_or(base.train.lr),
                seed,
                ..base.train
            },
            unet: Default::default(),
        })
    }
}

/// Which recorded events a set of windows takes as positives (the others' start zones stay unlabelled).
pub type Positive<'a> = &'a dyn Fn(&Event) -> bool;

/// Windows of `sites` concatenated (events re-indexed per site so groups stay distinct), positives chosen by
/// `positive`.
pub fn samples_of(
    plan: &Plan,
    store: &Store,
    sites: &[String],
    sampling: &SamplingParams,
    positive: Positive,
) -> Result<(Samples, f64), RunError> {
    let mut all: Option<Samples> = None;
    let mut res = 0.0;
    for id in sites {
        let site = plan.site(id).ok_or_else(|| RunError::Site(id.clone()))?;
        res = site.grid.res_x();
        let s = dataset::build(site, store, sampling, positive)?;
        if let Some(acc) = &mut all {
            acc.append(s);
        } else {
            all = Some(s);
        }
    }
    Ok((all.unwrap_or_default(), res))
}

/// The windows of `spec.sites` split by winter: training before `spec.held_back_from` (every site), validation from
/// it on (the first site only: the others' later winters may be another experiment's test winters); and the sites'
/// resolution. What pretraining and the dataset export train on.
pub fn source_split(plan: &Plan, store: &Store, spec: &Spec) -> Result<(Samples, Samples, f64), RunError> {
    let held = spec.held_back_from;
    let (before, from) = (|e: &Event| winter_of(e.date) < held, |e: &Event| winter_of(e.date) >= held);
    let (train, res) = samples_of(plan, store, &spec.sites, &spec.sampling, &before)?;
    let (val, _) = samples_of(plan, store, &spec.sites[..1.min(spec.sites.len())], &spec.sampling, &from)?;
    if train.is_empty() {
        return Err(RunError::Empty {
            what: "training",
            hint: format!("no event before winter {}", spec.held_back_from),
        });
    }
    Ok((train, val, res))
}

/// A site's windows of its events before `spec.held_back_from` (the pool), and those of `events` of them drawn at
/// random (seeded; all when `None`) split into fitting and validation parts (the latest fifth of the drawn events
/// validates; the held-back test winters are never touched), and the site's resolution.
pub(super) fn target_training(
    plan: &Plan,
    store: &Store,
    site: &str,
    events: Option<usize>,
    spec: &Spec,
) -> Result<(Samples, Samples, Samples, f64), RunError> {
    let all = site_events(plan, store, site)?;
    let pool: Vec<usize> = (0..all.len()).filter(|&i| winter_of(all[i].date) < spec.held_back_from).collect();
    let drawn: Vec<usize> = match events {
        Some(n) => draw_events(&all, &pool, n, spec.train.seed).into_iter().collect(),
        None => pool.clone(),
    };
    if drawn.is_empty() {
        return Err(RunError::Empty {
            what: "training",
            hint: format!("no event of `{site}` before winter {}", spec.held_back_from),
        });
    }
    let mut by_date = drawn.clone();
    by_date.sort_by_key(|&i| (all[i].date, i));
    let n_val = ((by_date.len() as f64) * 0.2).round() as usize;
    let ids = |idx: &[usize]| -> std::collections::HashSet<String> { idx.iter().map(|&i| all[i].id.clone()).collect() };
    let (fit_ids, val_ids, pool_ids) =
        (ids(&by_date[..by_date.len() - n_val]), ids(&by_date[by_date.len() - n_val..]), ids(&pool));
    let site = [site.to_owned()];
    let (fit_part, res) = samples_of(plan, store, &site, &spec.sampling, &|e: &Event| fit_ids.contains(&e.id))?;
    let (val_part, _) = samples_of(plan, store, &site, &spec.sampling, &|e: &Event| val_ids.contains(&e.id))?;
    let (pool_part, _) = samples_of(plan, store, &site, &spec.sampling, &|e: &Event| pool_ids.contains(&e.id))?;
    Ok((pool_part, fit_part, val_part, res))
}

/// The recorded events of `site` (from the store).
pub fn site_events(plan: &Plan, store: &Store, site: &str) -> Result<Vec<Event>, RunError> {
    plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    Ok(crate::ingest::observations::load_events(&store.events(site)).map_err(dataset::DatasetError::from)?)
}

/// `n` distinct events drawn at random (seeded) among `pool` (indices into `events`): the N-event subsets of
/// learning curves.
pub fn draw_events(events: &[Event], pool: &[usize], n: usize, seed: u64) -> std::collections::BTreeSet<usize> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = pool.iter().copied().filter(|&i| i < events.len()).collect();
    order.sort_unstable();
    order.dedup();
    order.shuffle(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed));
    order.into_iter().take(n).collect()
}

pub(crate) fn data_hash(s: &Samples) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for v in [&s.x, &s.y, &s.mask] {
        for f in v.iter() {
            h.update(f.to_le_bytes());
        }
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}
