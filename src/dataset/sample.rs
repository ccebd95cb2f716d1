//! Building training windows for a site (see the module doc of [`super`] for the design and why).
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

use super::channels::{SiteRasters, CHANNELS};
use super::DatasetError;
pub use crate::config::params::{SamplingParams, DEFAULT_CONTEXT, DEFAULT_CONTROL_RADIUS_M, DEFAULT_PATCH};
use crate::config::Site;
use crate::ingest::observations::{self, Event};
use crate::store::Store;

/// Windows with their labels. Arrays are row-major: `x` is N x C x P x P, `y` and `mask` N x P x P.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub patch: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub mask: Vec<f32>,
    /// Index into `events` of the positive event nearest each window's centre (the unit of bootstrap resampling).
    pub event: Vec<usize>,
    /// Winter of that event (the year its October falls in).
    pub winter: Vec<i32>,
    /// Top-left grid cell (col, row) of each window.
    pub origin: Vec<(usize, usize)>,
    pub events: Vec<Event>,
}

/// The winter (October to September) a day belongs to, named by the year of its October.
pub fn winter_of(date: NaiveDate) -> i32 {
    if date.month() >= 10 {
        date.year()
    } else {
        date.year() - 1
    }
}

impl Samples {
    pub fn len(&self) -> usize {
        self.event.len()
    }
    pub fn is_empty(&self) -> bool {
        self.event.is_empty()
    }
    fn plane(&self) -> usize {
        self.patch * self.patch
    }

    /// The windows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Samples {
        let (pp, c) = (self.plane(), CHANNELS.len());
        let mut out = Samples { patch: self.patch, events: self.events.clone(), ..Default::default() };
        for &i in idx {
            out.x.extend_from_slice(&self.x[i * c * pp..(i + 1) * c * pp]);
            out.y.extend_from_slice(&self.y[i * pp..(i + 1) * pp]);
            out.mask.extend_from_slice(&self.mask[i * pp..(i + 1) * pp]);
            out.event.push(self.event[i]);
            out.winter.push(self.winter[i]);
            out.origin.push(self.origin[i]);
        }
        out
    }

    /// Appends `other`'s windows, re-indexing its events after ours (so groups stay distinct).
    pub fn append(&mut self, other: Samples) {
        let offset = self.events.len();
        self.x.extend(other.x);
        self.y.extend(other.y);
        self.mask.extend(other.mask);
        self.event.extend(other.event.into_iter().map(|e| e + offset));
        self.winter.extend(other.winter);
        self.origin.extend(other.origin);
        self.events.extend(other.events);
    }

    /// Indices of windows whose winter satisfies `keep`.
    pub fn by_winter(&self, keep: impl Fn(i32) -> bool) -> Vec<usize> {
        (0..self.len()).filter(|&i| keep(self.winter[i])).collect()
    }

    /// Per-channel mean and standard deviation over labelled pixels (finite values only).
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let (pp, c) = (self.plane(), CHANNELS.len());
        let mut mean = vec![0f32; c];
        let mut std = vec![1f32; c];
        for ch in 0..c {
            let (mut n, mut s, mut s2) = (0f64, 0f64, 0f64);
            for i in 0..self.len() {
                for p in 0..pp {
                    let v = self.x[(i * c + ch) * pp + p];
                    if self.mask[i * pp + p] > 0.0 && v.is_finite() {
                        n += 1.0;
                        s += v as f64;
                        s2 += (v as f64) * (v as f64);
                    }
                }
            }
            if n > 0.0 {
                let m = s / n;
                mean[ch] = m as f32;
                std[ch] = ((s2 / n - m * m).max(0.0).sqrt() as f32).max(1e-6);
            }
        }
        (mean, std)
    }

    /// Tensors on `device`: x normalised with (mean, std) and NaN set to 0 (the mean), y, mask.
    pub fn tensors(&self, mean: &[f32], std: &[f32], device: Device) -> Result<(Tensor, Tensor, Tensor), DatasetError> {
        let (n, p, c) = (self.len() as i64, self.patch as i64, CHANNELS.len() as i64);
        let x = Tensor::f_from_slice(&self.x)?.f_view([n, c, p, p])?;
        let m = Tensor::f_from_slice(mean)?.f_view([1, c, 1, 1])?;
        let s = Tensor::f_from_slice(std)?.f_view([1, c, 1, 1])?;
        let x = ((x - m) / s).f_nan_to_num(0.0, 0.0, 0.0)?.to_kind(Kind::Float).to_device(device);
        let y = Tensor::f_from_slice(&self.y)?.f_view([n, 1, p, p])?.to_device(device);
        let mask = Tensor::f_from_slice(&self.mask)?.f_view([n, 1, p, p])?.to_device(device);
        Ok((x, y, mask))
    }

    /// Labelled pixels as (probability, label, event) after a model produced per-pixel values `probs` (N x P x P).
    pub fn labelled(&self, probs: &[f32]) -> (Vec<f32>, Vec<bool>, Vec<usize>) {
        let pp = self.plane();
        let (mut s, mut l, mut g) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..self.len() {
            for p in 0..pp {
                if self.mask[i * pp + p] > 0.0 {
                    s.push(probs[i * pp + p]);
                    l.push(self.y[i * pp + p] > 0.5);
                    g.push(self.event[i]);
                }
            }
        }
        (s, l, g)
    }

    /// Rows for per-pixel models such as gradient-boosted trees: every labelled positive and, per window, at most
    /// `negatives` labelled negatives spread evenly over the window (dense labels would give millions of rows).
    /// Each row holds the [`CHANNELS`] values, with the pixel's label and event.
    pub fn thinned_rows(&self, negatives: usize) -> Vec<(Vec<f32>, bool, usize)> {
        let (pp, c) = (self.plane(), CHANNELS.len());
        let mut out = Vec::new();
        for i in 0..self.len() {
            let labelled: Vec<usize> = (0..pp).filter(|&p| self.mask[i * pp + p] > 0.0).collect();
            let neg: Vec<usize> = labelled.iter().copied().filter(|&p| self.y[i * pp + p] <= 0.5).collect();
            let step = neg.len().div_ceil(negatives.max(1)).max(1);
            let keep = labelled
                .iter()
                .copied()
                .filter(|&p| self.y[i * pp + p] > 0.5)
                .chain(neg.iter().copied().step_by(step).take(negatives));
            for p in keep {
                let row = (0..c).map(|ch| self.x[(i * c + ch) * pp + p]).collect();
                out.push((row, self.y[i * pp + p] > 0.5, self.event[i]));
            }
        }
        out
    }
}

/// Builds the windows of `site` whose positives are the events for which `positive` holds (every other recorded
/// event's start zone is left unlabelled), from the store's rasters and events.
pub fn build(
    site: &Site,
    store: &Store,
    params: &SamplingParams,
    positive: &dyn Fn(&Event) -> bool,
) -> Result<Samples, DatasetError> {
    let rasters = SiteRasters::load(store, &site.id)?;
    let events_path = store.events(&site.id);
    if !events_path.exists() {
        return Err(DatasetError::Missing {
            path: events_path.display().to_string(),
            hint: format!("run `avarisk ingest observations --site {}` first", site.id),
        });
    }
    let events = observations::load_events(&events_path)?;
    Ok(sample_area(&rasters, events, positive, params))
}

/// Cells within `radius_m` of each event (the event's own cell always), with the events that reach them.
pub fn start_zones(events: &[Event], res: f64, radius_m: f64) -> HashMap<(usize, usize), Vec<usize>> {
    let reach = (radius_m / res).floor() as i64;
    let mut out: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for (k, e) in events.iter().enumerate() {
        for dr in -reach..=reach {
            for dc in -reach..=reach {
                let (c, r) = (e.col as i64 + dc, e.row as i64 + dr);
                if c < 0 || r < 0 || ((dc * dc + dr * dr) as f64).sqrt() * res > radius_m && (dc, dr) != (0, 0) {
                    continue;
                }
                out.entry((c as usize, r as usize)).or_default().push(k);
            }
        }
    }
    out
}

/// The tiling itself, on rasters and events already in memory (see the module doc of [`super`]): the labelled
/// centres tile the grid from a seeded random offset; a window is kept when its centre holds a valid cell within
/// the control radius of a positive event; its labels are 1 on positive start zones, unlabelled on the others' and
/// outside the area, 0 on every other valid cell.
pub fn sample_area(
    rasters: &SiteRasters,
    events: Vec<Event>,
    positive: &dyn Fn(&Event) -> bool,
    params: &SamplingParams,
) -> Samples {
    let g = &rasters.grid;
    let (w, h, p, res) = (g.width, g.height, params.patch, g.res_x());
    let (m, inner) = (params.context, params.labelled());
    let mut out = Samples { patch: p, ..Default::default() };
    let positives: Vec<usize> =
        (0..events.len()).filter(|&k| positive(&events[k]) && rasters.valid(events[k].col, events[k].row)).collect();
    if w < p || h < p || inner == 0 || positives.is_empty() {
        out.events = events;
        return out;
    }
    let zones = start_zones(&events, res, params.label_radius_m.unwrap_or(1.5 * res));
    // The labelled area: within the control radius of a positive event (discs stamped row span by row span).
    let reach = params.control_radius_m / res;
    let mut area = vec![false; w * h];
    for &k in &positives {
        let (ec, er) = (events[k].col as f64, events[k].row as f64);
        let r_lo = (er - reach).ceil().max(0.0) as usize;
        let r_hi = ((er + reach).floor() as usize).min(h - 1);
        for r in r_lo..=r_hi {
            let half = (reach * reach - (r as f64 - er).powi(2)).max(0.0).sqrt();
            let (c_lo, c_hi) = ((ec - half).ceil().max(0.0) as usize, ((ec + half).floor() as usize).min(w - 1));
            if c_lo <= c_hi {
                area[r * w + c_lo..=r * w + c_hi].fill(true);
            }
        }
    }
    let nearest = |c: usize, r: usize| -> usize {
        *positives
            .iter()
            .min_by(|a, b| {
                let d =
                    |k: usize| (events[k].col as f64 - c as f64).powi(2) + (events[k].row as f64 - r as f64).powi(2);
                d(**a).total_cmp(&d(**b))
            })
            .expect("positives is not empty")
    };
    let mut rng = StdRng::seed_from_u64(params.seed);
    let (ox, oy) = (rng.gen_range(0..inner), rng.gen_range(0..inner));
    // Window origins: labelled centres at ox + k * inner (minus the context), kept inside the grid.
    let starts = |len: usize, off: usize| -> Vec<usize> {
        let mut v = Vec::new();
        let mut c = off as i64 - inner as i64;
        while c < len as i64 {
            v.push((c - m as i64).clamp(0, (len - p) as i64) as usize);
            c += inner as i64;
        }
        v.dedup();
        v
    };
    for r0 in starts(h, oy) {
        for c0 in starts(w, ox) {
            let touches = (r0 + m..r0 + p - m).any(|r| area[r * w + c0 + m..r * w + c0 + p - m].iter().any(|a| *a));
            if touches {
                let owner = nearest(c0 + p / 2, r0 + p / 2);
                let labels = Labels { zones: &zones, area: &area, positive: &|k| positive(&events[k]) };
                push_window(&mut out, rasters, (c0, r0), m, &labels, owner);
            }
        }
    }
    // Each window's bootstrap unit: the positive event nearest its centre; drop windows with nothing labelled.
    let pp = p * p;
    let keep: Vec<usize> =
        (0..out.event.len()).filter(|&i| out.mask[i * pp..(i + 1) * pp].iter().any(|v| *v > 0.0)).collect();
    let mut kept = out.subset(&keep);
    for i in 0..kept.event.len() {
        kept.winter[i] = winter_of(events[kept.event[i]].date);
    }
    kept.events = events;
    kept
}

/// What labels a window's cells: the start zones (with the events reaching each), the labelled area, and which
/// events are positive.
struct Labels<'a> {
    zones: &'a HashMap<(usize, usize), Vec<usize>>,
    area: &'a [bool],
    positive: &'a dyn Fn(usize) -> bool,
}

/// Appends the window whose top-left cell is `(c0, r0)`: every channel, and labels on its centre (the cells more
/// than `margin` from its edges) within the area: 1 on positive start zones, unlabelled on the other events' start
/// zones, 0 on every other valid cell.
fn push_window(
    out: &mut Samples,
    rasters: &SiteRasters,
    (c0, r0): (usize, usize),
    margin: usize,
    labels: &Labels,
    owner: usize,
) {
    let (p, w) = (out.patch, rasters.grid.width);
    for band in &rasters.bands {
        for r in r0..r0 + p {
            out.x.extend_from_slice(&band[r * w + c0..r * w + c0 + p]);
        }
    }
    let mut y = vec![0f32; p * p];
    let mut mask = vec![0f32; p * p];
    for i in margin..p - margin {
        for j in margin..p - margin {
            let (c, r) = (c0 + j, r0 + i);
            if !rasters.valid(c, r) {
                continue;
            }
            match labels.zones.get(&(c, r)) {
                Some(ks) if ks.iter().any(|k| (labels.positive)(*k)) => {
                    y[i * p + j] = 1.0;
                    mask[i * p + j] = 1.0;
                }
                Some(_) => {}
                None if labels.area[r * w + c] => mask[i * p + j] = 1.0,
                None => {}
            }
        }
    }
    out.y.extend(y);
    out.mask.extend(mask);
    out.event.push(owner);
    out.winter.push(0);
    out.origin.push((c0, r0));
}
