//! Building matched case-control patches for a site, and the temporal negatives beside them (see the module doc of
//! [`super`]).
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tch::{Device, Kind, Tensor};

use super::channels::{SiteRasters, CHANNELS, TERRAIN_CHANNELS, WEATHER};
use super::days::{self, RegionalWeather};
use super::DatasetError;
use crate::config::Site;
use crate::ingest::observations::{self, Event};
use crate::ingest::weather::schema::Values;
use crate::store::Store;

/// How patches are drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Patch side in cells (a multiple of 4).
    pub patch: usize,
    /// Negatives labelled per patch.
    pub negatives: usize,
    /// Negatives keep at least this distance from any start zone of the day.
    pub min_negative_distance_m: f64,
    /// The negatives-only patch is centred within this distance of the event.
    pub context_radius_m: f64,
    /// Positives: cells within this radius of a start zone (default 1.5 cells).
    pub label_radius_m: Option<f64>,
    pub seed: u64,
    /// Channels left out (set to the training mean, 0 after normalisation): feature ablation.
    pub drop: Vec<String>,
    /// Temporal negatives per event (0: none): the event's patch on other days of its winter (December to April)
    /// without a recorded event within `context_radius_m`, with that day's regional weather, labelled negative.
    /// Only events whose day the site's regional weather (`weather/cantons/`) covers take part.
    pub temporal_negatives: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            patch: 32,
            negatives: 8,
            min_negative_distance_m: 450.0,
            context_radius_m: 10_000.0,
            label_radius_m: None,
            seed: 7,
            drop: Vec::new(),
            temporal_negatives: DEFAULT_TEMPORAL_NEGATIVES,
        }
    }
}

/// Temporal negatives per event unless configured (see [`SamplingParams::temporal_negatives`]): off, as measured
/// (README, *Transfer learning*): with 4 per event the source network scored worse zero-shot on western Tyrol
/// (ROC-AUC 0.868 against 0.921) and worse at telling accident days (0.62 against 0.73).
pub const DEFAULT_TEMPORAL_NEGATIVES: usize = 0;

/// The role of a patch in the sampling design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// The event's start zone and same-day negatives around it.
    Event,
    /// Same-day negatives within the context radius.
    Context,
    /// The event's patch on another day of its winter, every labelled pixel negative.
    Temporal,
}

/// Patches with their labels. Arrays are row-major: `x` is N x C x P x P, `y` and `mask` N x P x P.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub patch: usize,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub mask: Vec<f32>,
    /// Index into `events` of the event each patch belongs to (the unit of bootstrap resampling).
    pub event: Vec<usize>,
    /// Winter of each patch (the year its October falls in): the event's, also for its temporal negatives.
    pub winter: Vec<i32>,
    /// The day whose weather each patch carries (the event's day, or a temporal negative's).
    pub day: Vec<NaiveDate>,
    pub kind: Vec<PatchKind>,
    /// Whether the patch's weather channels come from the regional exports (temporal design) rather than the
    /// weather recorded with the event.
    pub regional: Vec<bool>,
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

    /// The patches at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Samples {
        let (pp, c) = (self.plane(), CHANNELS.len());
        let mut out = Samples { patch: self.patch, events: self.events.clone(), ..Default::default() };
        for &i in idx {
            out.x.extend_from_slice(&self.x[i * c * pp..(i + 1) * c * pp]);
            out.y.extend_from_slice(&self.y[i * pp..(i + 1) * pp]);
            out.mask.extend_from_slice(&self.mask[i * pp..(i + 1) * pp]);
            out.event.push(self.event[i]);
            out.winter.push(self.winter[i]);
            out.day.push(self.day[i]);
            out.kind.push(self.kind[i]);
            out.regional.push(self.regional[i]);
        }
        out
    }

    /// Appends `other`'s patches, re-indexing its events after ours (so groups stay distinct).
    pub fn append(&mut self, other: Samples) {
        let offset = self.events.len();
        self.x.extend(other.x);
        self.y.extend(other.y);
        self.mask.extend(other.mask);
        self.event.extend(other.event.into_iter().map(|e| e + offset));
        self.winter.extend(other.winter);
        self.day.extend(other.day);
        self.kind.extend(other.kind);
        self.regional.extend(other.regional);
        self.events.extend(other.events);
    }

    /// Sets the channels named in `drop` to NaN (0, the mean, once normalised), so a model cannot use them.
    pub fn drop_channels(&mut self, drop: &[String]) {
        let (pp, c) = (self.plane(), CHANNELS.len());
        for ch in CHANNELS.iter().enumerate().filter(|(_, n)| drop.iter().any(|d| d == *n)).map(|(i, _)| i) {
            for i in 0..self.len() {
                self.x[(i * c + ch) * pp..(i * c + ch + 1) * pp].fill(f32::NAN);
            }
        }
    }

    /// Indices of patches whose winter satisfies `keep`.
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

    /// Labelled pixels as (probability index, label, event) after a model produced per-pixel values `probs` (N x P x P).
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

    /// Every channel's value at each labelled pixel (the order of [`Samples::labelled`]), for per-pixel models such as
    /// gradient-boosted trees: one row of [`CHANNELS`] values per pixel.
    pub fn labelled_rows(&self) -> Vec<Vec<f32>> {
        let (pp, c) = (self.plane(), CHANNELS.len());
        let mut out = Vec::new();
        for i in 0..self.len() {
            for p in 0..pp {
                if self.mask[i * pp + p] > 0.0 {
                    out.push((0..c).map(|ch| self.x[(i * c + ch) * pp + p]).collect());
                }
            }
        }
        out
    }

    /// The values of channel `name` at labelled pixels (for baselines such as slope-only or PRA).
    pub fn channel_at_labels(&self, name: &str) -> Vec<f32> {
        let ch = CHANNELS.iter().position(|c| *c == name).expect("known channel");
        let (pp, c) = (self.plane(), CHANNELS.len());
        let mut out = Vec::new();
        for i in 0..self.len() {
            for p in 0..pp {
                if self.mask[i * pp + p] > 0.0 {
                    out.push(self.x[(i * c + ch) * pp + p]);
                }
            }
        }
        out
    }
}

/// Builds the patches of every recorded event of `site` (events and event weather from the store).
pub fn build(site: &Site, store: &Store, params: &SamplingParams) -> Result<Samples, DatasetError> {
    let rasters = SiteRasters::load(store, &site.id)?;
    let events_path = store.events(&site.id);
    if !events_path.exists() {
        return Err(DatasetError::Missing {
            path: events_path.display().to_string(),
            hint: format!("run `avarisk ingest observations --site {}` first", site.id),
        });
    }
    let events = observations::load_events(&events_path)?;
    let weather_path = store.event_weather(&site.id);
    let weather: HashMap<String, Values> = if weather_path.exists() {
        observations::load_event_weather(&weather_path)?
            .into_iter()
            .map(|w| (w.point_id.trim_start_matches("event:").to_owned(), w.values))
            .collect()
    } else {
        HashMap::new()
    };
    let regional = if params.temporal_negatives > 0 { regional_of(site, &events)? } else { None };
    let mut samples = sample_events(&rasters, events, &weather, regional.as_ref(), params);
    samples.drop_channels(&params.drop);
    Ok(samples)
}

/// The regional weather of the temporal design, and the nearest regional point of each event.
pub struct Temporal {
    pub weather: RegionalWeather,
    pub region: Vec<Option<usize>>,
}

/// Reads `site`'s regional weather exports (`weather/cantons/` in the site folder) and assigns each event its nearest
/// point; `None` when the site has none.
pub fn regional_of(site: &Site, events: &[Event]) -> Result<Option<Temporal>, DatasetError> {
    let Some(rows) = days::load_regional_rows(&site.dir.join(days::REGIONAL_DIR))? else { return Ok(None) };
    let weather = RegionalWeather::from_rows(&rows);
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = events.iter().map(|e| (e.x, e.y)).unzip();
    site.grid.crs.transform_points(&crate::geo::Crs::wgs84(), &mut xs, &mut ys)?;
    let region = xs.into_iter().zip(ys).map(|ll| weather.nearest(ll)).collect();
    Ok(Some(Temporal { weather, region }))
}

/// The sampling itself, on rasters and events already in memory.
pub fn sample_events(
    rasters: &SiteRasters,
    events: Vec<Event>,
    weather: &HashMap<String, Values>,
    temporal: Option<&Temporal>,
    params: &SamplingParams,
) -> Samples {
    let g = &rasters.grid;
    let (w, h, p, res) = (g.width, g.height, params.patch, g.res_x());
    let radius = params.label_radius_m.unwrap_or(1.5 * res);
    let mut rng = StdRng::seed_from_u64(params.seed);
    let mut by_day: HashMap<NaiveDate, Vec<(usize, usize)>> = HashMap::new();
    for e in &events {
        by_day.entry(e.date).or_default().push((e.col, e.row));
    }
    let mut out = Samples { patch: p, ..Default::default() };
    if w < p || h < p {
        out.events = events;
        return out;
    }
    for (k, e) in events.iter().enumerate() {
        if !rasters.valid(e.col, e.row) {
            continue; // start zone on nodata (e.g. an SRTM void): nothing to learn from
        }
        let day_starts = &by_day[&e.date];
        let far = |c: usize, r: usize| {
            day_starts.iter().all(|(sc, sr)| {
                let (dx, dy) = ((c as f64 - *sc as f64) * res, (r as f64 - *sr as f64) * res);
                dx.hypot(dy) >= params.min_negative_distance_m
            })
        };
        // Weather: the temporal design takes the event day's weather from the regional exports, like its temporal
        // negatives, so that no patch of the event carries a different source (see the module doc); otherwise the
        // weather recorded with the event.
        let elevation = rasters.bands[0][e.row * w + e.col] as f64;
        let region = temporal
            .filter(|_| params.temporal_negatives > 0)
            .and_then(|t| t.region[k].map(|r| (t, r)))
            .filter(|(t, r)| t.weather.channels(*r, e.date, elevation).is_some());
        let wx: Vec<f32> = match region {
            Some((t, r)) => t.weather.channels(r, e.date, elevation).expect("checked").to_vec(),
            None => WEATHER
                .iter()
                .map(|v| weather.get(&e.id).and_then(|vals| vals.get(*v)).map_or(f32::NAN, |x| x as f32))
                .collect(),
        };
        let tag = Tag { event: k, winter: winter_of(e.date), day: e.date, regional: region.is_some() };

        // Patch 1: the event at a random offset, its positives and some negatives.
        let place = |centre: usize, size: usize, rng: &mut StdRng| {
            let off = rng.gen_range(p / 4..3 * p / 4);
            centre.saturating_sub(off).min(size - p)
        };
        let (c0, r0) = (place(e.col, w, &mut rng), place(e.row, h, &mut rng));
        let mut labels = vec![(0usize, 0usize, 0f32); 0];
        for r in r0..r0 + p {
            for c in c0..c0 + p {
                let near = day_starts.iter().any(|(sc, sr)| {
                    let (dx, dy) = ((c as f64 - *sc as f64) * res, (r as f64 - *sr as f64) * res);
                    dx.hypot(dy) <= radius || (c, r) == (*sc, *sr)
                });
                if near && rasters.valid(c, r) {
                    labels.push((c, r, 1.0));
                }
            }
        }
        labels.extend(draw_negatives(rasters, c0, r0, p, params.negatives, &far, &mut rng));
        push_patch(&mut out, rasters, c0, r0, &wx, &labels, tag, PatchKind::Event);

        // Temporal negatives: the same patch and pixels on other days of the winter without a recorded event nearby.
        if let Some((t, r)) = region {
            let quiet = |d: &NaiveDate| {
                by_day.get(d).is_none_or(|starts| {
                    starts.iter().all(|(sc, sr)| {
                        let (dx, dy) = ((e.col as f64 - *sc as f64) * res, (e.row as f64 - *sr as f64) * res);
                        dx.hypot(dy) > params.context_radius_m
                    })
                })
            };
            let mut candidates: Vec<NaiveDate> = t.weather.points[r]
                .days
                .keys()
                .copied()
                .filter(|d| winter_of(*d) == tag.winter && matches!(d.month(), 12 | 1..=4) && quiet(d))
                .filter(|d| t.weather.channels(r, *d, elevation).is_some())
                .collect();
            let negatives: Vec<(usize, usize, f32)> = labels.iter().map(|(c, r, _)| (*c, *r, 0.0)).collect();
            for _ in 0..params.temporal_negatives.min(candidates.len()) {
                let d = candidates.swap_remove(rng.gen_range(0..candidates.len()));
                let wd = t.weather.channels(r, d, elevation).expect("checked");
                push_patch(&mut out, rasters, c0, r0, &wd, &negatives, Tag { day: d, ..tag }, PatchKind::Temporal);
            }
        }

        // Patch 2: negatives only, somewhere within the context radius on the same day.
        let reach = (params.context_radius_m / res) as i64;
        for _ in 0..50 {
            let c = e.col as i64 + rng.gen_range(-reach..=reach);
            let r = e.row as i64 + rng.gen_range(-reach..=reach);
            if c < 0 || r < 0 || c as usize >= w || r as usize >= h || !rasters.valid(c as usize, r as usize) {
                continue;
            }
            let (c0, r0) =
                ((c as usize).saturating_sub(p / 2).min(w - p), (r as usize).saturating_sub(p / 2).min(h - p));
            let negs = draw_negatives(rasters, c0, r0, p, params.negatives, &far, &mut rng);
            if !negs.is_empty() {
                push_patch(&mut out, rasters, c0, r0, &wx, &negs, tag, PatchKind::Context);
                break;
            }
        }
    }
    out.events = events;
    out
}

fn draw_negatives(
    rasters: &SiteRasters,
    c0: usize,
    r0: usize,
    p: usize,
    n: usize,
    far: &impl Fn(usize, usize) -> bool,
    rng: &mut StdRng,
) -> Vec<(usize, usize, f32)> {
    let mut out: Vec<(usize, usize, f32)> = Vec::new();
    for _ in 0..n * 20 {
        if out.len() == n {
            break;
        }
        let (c, r) = (c0 + rng.gen_range(0..p), r0 + rng.gen_range(0..p));
        if rasters.valid(c, r) && far(c, r) && !out.iter().any(|(oc, or, _)| (*oc, *or) == (c, r)) {
            out.push((c, r, 0.0));
        }
    }
    out
}

/// What a patch belongs to: its event, winter, weather day and weather source.
#[derive(Debug, Clone, Copy)]
pub struct Tag {
    pub event: usize,
    pub winter: i32,
    pub day: NaiveDate,
    pub regional: bool,
}

/// Appends the patch whose top-left cell is (c0, r0): terrain from `rasters`, the weather values `wx` (one per
/// [`WEATHER`] channel, constant over the patch) and the labelled pixels `labels` (col, row, label).
#[allow(clippy::too_many_arguments)] // one patch's full description
pub fn push_patch(
    out: &mut Samples,
    rasters: &SiteRasters,
    c0: usize,
    r0: usize,
    wx: &[f32],
    labels: &[(usize, usize, f32)],
    tag: Tag,
    kind: PatchKind,
) {
    let (p, w) = (out.patch, rasters.grid.width);
    for band in rasters.bands.iter().take(TERRAIN_CHANNELS) {
        for r in r0..r0 + p {
            out.x.extend_from_slice(&band[r * w + c0..r * w + c0 + p]);
        }
    }
    for v in wx {
        out.x.extend(std::iter::repeat_n(*v, p * p));
    }
    let mut y = vec![0f32; p * p];
    let mut mask = vec![0f32; p * p];
    for (c, r, label) in labels {
        let i = (r - r0) * p + (c - c0);
        y[i] = *label;
        mask[i] = 1.0;
    }
    out.y.extend(y);
    out.mask.extend(mask);
    out.event.push(tag.event);
    out.winter.push(tag.winter);
    out.day.push(tag.day);
    out.kind.push(kind);
    out.regional.push(tag.regional);
}
