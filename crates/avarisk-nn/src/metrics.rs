//! Evaluation metrics for binary release / no-release predictions.
//!
//! A sample is one prediction (typically one pixel on one day) with a score and a label, `true` when a release was
//! observed. [`brier`] and [`reliability`] read the scores as probabilities in [0, 1]; the ranking metrics
//! ([`roc_auc`], [`pr_auc`]) only use their order, so any score that grows with the release risk will do.
//!
//! - **ROC AUC** ([`roc_auc`]): the probability that a random release sample scores above a random non-release sample,
//!   ties counting one half (the Mann-Whitney U statistic divided by the number of positive/negative pairs). 0.5 is
//!   chance, 1 perfect separation. It ignores the class balance.
//! - **PR AUC** ([`pr_auc`]): average precision, `AP = Σ_k (R_k - R_{k-1}) P_k` over the distinct score thresholds in
//!   decreasing order, as scikit-learn's `average_precision_score` (step-wise, no interpolation). Its chance level is
//!   the prevalence, so it says more than ROC AUC when releases are rare, which they are.
//! - **Brier score** ([`brier`]): the mean squared error of the probabilities; 0 is perfect, lower is better. It
//!   rewards calibration as well as ranking.
//! - **Reliability** ([`reliability`]): the points of a reliability diagram, mean predicted probability against the
//!   observed release rate in equal-width probability bins.
//!
//! Every metric is computed in `f64` from `f32` scores and returns `None` where it is undefined (a class is absent, no
//! samples, a NaN score) rather than a NaN.
//!
//! # Why the bootstrap resamples events
//!
//! Neighbouring pixels of one avalanche event share terrain, snowpack and weather, and mostly their label: they are
//! not independent draws. Resampling pixels would count a release of 5,000 pixels as 5,000 pieces of evidence and give
//! intervals far too narrow. [`bootstrap_ci`] and [`bootstrap_diff_ci`] therefore resample whole groups (a cluster
//! bootstrap): `groups[i]` names the event, or any other block of dependent samples, that sample `i` belongs to; each
//! replicate draws as many groups as there are, with replacement, and keeps all the samples of every group drawn. The
//! interval is the 2.5th to 97.5th percentile of the metric over the replicates. [`bootstrap_diff_ci`] scores two
//! models on the same replicates (paired), which is what tells whether one beats the other: two separate intervals that
//! overlap say little.
use std::collections::BTreeMap;
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// A metric the bootstrap can resample: scores and labels of the same length in, `None` where undefined.
pub type Metric = fn(&[f32], &[bool]) -> Option<f64>;

/// Lower and upper quantiles of the bootstrap percentile interval (95 %).
const INTERVAL: (f64, f64) = (0.025, 0.975);

/// Area under the ROC curve: the probability that a positive scores above a negative, ties counting one half.
///
/// Computed from the average ranks of the positives (Mann-Whitney U) in O(n log n). `None` when either class is absent
/// or a score is NaN.
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let sorted = sorted_pairs(scores, labels)?;
    let positives = count_true(labels);
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Sum of the 1-based ranks of the positives; a run of tied scores at ranks seen+1..=seen+len shares their mean.
    let mut rank_sum = 0.0;
    let mut seen = 0;
    for run in sorted.chunk_by(|a, b| a.0 == b.0) {
        let mean_rank = (2 * seen + 1 + run.len()) as f64 / 2.0;
        rank_sum += run.iter().filter(|p| p.1).count() as f64 * mean_rank;
        seen += run.len();
    }
    let p = positives as f64;
    let u = rank_sum - p * (p + 1.0) / 2.0;
    Some(u / (p * negatives as f64))
}

/// Average precision, the step-wise area under the precision-recall curve, as scikit-learn's
/// `average_precision_score`: `Σ_k (R_k - R_{k-1}) P_k` over the distinct scores in decreasing order.
///
/// Tied scores form one threshold (one point of the curve), so the result does not depend on the order of tied
/// samples. `None` without positives or when a score is NaN.
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn pr_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let sorted = sorted_pairs(scores, labels)?;
    let positives = count_true(labels);
    if positives == 0 {
        return None;
    }
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut ap = 0.0;
    for run in sorted.chunk_by(|a, b| a.0 == b.0).rev() {
        let run_positives = run.iter().filter(|p| p.1).count();
        tp += run_positives;
        fp += run.len() - run_positives;
        // Recall rises by run_positives / positives at this threshold, where the precision is tp / (tp + fp).
        ap += run_positives as f64 / positives as f64 * (tp as f64 / (tp + fp) as f64);
    }
    Some(ap)
}

/// Brier score: the mean of `(p - y)²` with `y` = 1 for a release, 0 otherwise. `None` when empty or a probability is
/// NaN.
///
/// # Panics
/// When `probs` and `labels` differ in length.
pub fn brier(probs: &[f32], labels: &[bool]) -> Option<f64> {
    check_lengths(probs, labels);
    if probs.is_empty() || probs.iter().any(|p| p.is_nan()) {
        return None;
    }
    let sum: f64 = probs.iter().zip(labels).map(|(&p, &y)| (f64::from(p) - f64::from(u8::from(y))).powi(2)).sum();
    Some(sum / probs.len() as f64)
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin (probability, inclusive).
    pub lo: f64,
    /// Upper edge of the bin (probability; exclusive except for the last bin, which holds 1.0).
    pub hi: f64,
    /// Number of samples in the bin.
    pub count: usize,
    /// Mean predicted probability of those samples.
    pub mean_predicted: f64,
    /// Fraction of those samples with a release.
    pub observed_rate: f64,
}

/// Reliability diagram: `bins` equal-width bins on [0, 1], each `[lo, hi)` except the last, which also holds 1.0.
///
/// Empty bins are omitted. Probabilities outside [0, 1] fall into the end bins (their mean is taken unclamped); NaN
/// probabilities are left out. `bins == 0` gives no bins.
///
/// # Panics
/// When `probs` and `labels` differ in length.
pub fn reliability(probs: &[f32], labels: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    check_lengths(probs, labels);
    if bins == 0 {
        return Vec::new();
    }
    // Per bin: count, sum of probabilities, number of releases.
    let mut acc = vec![(0usize, 0.0f64, 0usize); bins];
    for (&p, &y) in probs.iter().zip(labels) {
        if p.is_nan() {
            continue;
        }
        let p = f64::from(p);
        let i = ((p.clamp(0.0, 1.0) * bins as f64).floor() as usize).min(bins - 1);
        acc[i].0 += 1;
        acc[i].1 += p;
        acc[i].2 += usize::from(y);
    }
    acc.iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(i, &(count, sum_p, releases))| ReliabilityBin {
            lo: i as f64 / bins as f64,
            hi: (i + 1) as f64 / bins as f64,
            count,
            mean_predicted: sum_p / count as f64,
            observed_rate: releases as f64 / count as f64,
        })
        .collect()
}

/// The headline metrics of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Number of samples.
    pub n: usize,
    /// Number of samples with a release.
    pub positives: usize,
    /// See [`roc_auc`].
    pub roc_auc: Option<f64>,
    /// See [`pr_auc`].
    pub pr_auc: Option<f64>,
    /// See [`brier`].
    pub brier: Option<f64>,
}

/// Computes [`Scores`] from probabilities and labels.
///
/// # Panics
/// When `probs` and `labels` differ in length.
pub fn score(probs: &[f32], labels: &[bool]) -> Scores {
    check_lengths(probs, labels);
    Scores {
        n: labels.len(),
        positives: count_true(labels),
        roc_auc: roc_auc(probs, labels),
        pr_auc: pr_auc(probs, labels),
        brier: brier(probs, labels),
    }
}

impl fmt::Display for Scores {
    /// One line, e.g. `n=1200 positives=36 roc_auc=0.8731 pr_auc=0.4120 brier=0.0631`; `n/a` where undefined.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"));
        write!(
            f,
            "n={} positives={} roc_auc={} pr_auc={} brier={}",
            self.n,
            self.positives,
            show(self.roc_auc),
            show(self.pr_auc),
            show(self.brier)
        )
    }
}

/// 95 % percentile interval of `metric` under a bootstrap that resamples groups (events), not samples.
///
/// Each of the `reps` replicates draws as many groups as there are distinct ids in `groups`, with replacement, and
/// evaluates `metric` on all the samples of the groups drawn (a group drawn twice counts twice). Replicates where the
/// metric is undefined (say, no release among the groups drawn) are dropped. The bounds are the 2.5th and 97.5th
/// percentiles of the rest, interpolated linearly as numpy's default `percentile`. The same `seed` gives the same
/// interval (with the same version of `rand`). `None` without samples, with `reps == 0` or when no replicate is
/// defined.
///
/// # Panics
/// When `groups`, `scores` and `labels` differ in length.
pub fn bootstrap_ci(
    groups: &[usize],
    scores: &[f32],
    labels: &[bool],
    metric: Metric,
    reps: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    check_lengths(groups, scores);
    check_lengths(scores, labels);
    let (mut s, mut l) = (Vec::new(), Vec::new());
    percentile_interval(groups, reps, seed, |idx| {
        gather(idx, scores, &mut s);
        gather(idx, labels, &mut l);
        metric(&s, &l)
    })
}

/// 95 % percentile interval of `metric(scores_a) - metric(scores_b)`, both evaluated on the same resampled groups
/// (a paired bootstrap); otherwise as [`bootstrap_ci`]. An interval above 0 says model A beats model B on this metric.
/// Replicates where either metric is undefined are dropped.
///
/// # Panics
/// When `groups`, `scores_a`, `scores_b` and `labels` differ in length.
pub fn bootstrap_diff_ci(
    groups: &[usize],
    scores_a: &[f32],
    scores_b: &[f32],
    labels: &[bool],
    metric: Metric,
    reps: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    check_lengths(groups, scores_a);
    check_lengths(scores_a, scores_b);
    check_lengths(scores_a, labels);
    let (mut a, mut b, mut l) = (Vec::new(), Vec::new(), Vec::new());
    percentile_interval(groups, reps, seed, |idx| {
        gather(idx, scores_a, &mut a);
        gather(idx, scores_b, &mut b);
        gather(idx, labels, &mut l);
        Some(metric(&a, &l)? - metric(&b, &l)?)
    })
}

/// 95 % percentile interval of the mean of `values` (e.g. pairwise wins: a stratified ROC-AUC), resampling groups as
/// [`bootstrap_ci`] does.
///
/// # Panics
/// When `groups` and `values` differ in length.
pub fn bootstrap_mean_ci(groups: &[usize], values: &[f64], reps: usize, seed: u64) -> Option<(f64, f64)> {
    check_lengths(groups, values);
    percentile_interval(groups, reps, seed, |idx| {
        (!idx.is_empty()).then(|| idx.iter().map(|&i| values[i]).sum::<f64>() / idx.len() as f64)
    })
}

/// Runs the group bootstrap: `stat` gets the sample indices of each replicate; returns the [`INTERVAL`] percentiles of
/// its defined, non-NaN values.
fn percentile_interval(
    groups: &[usize],
    reps: usize,
    seed: u64,
    mut stat: impl FnMut(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    // Members of each group, in increasing group id so that the draws do not depend on hashing.
    let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &g) in groups.iter().enumerate() {
        by_group.entry(g).or_default().push(i);
    }
    let members: Vec<Vec<usize>> = by_group.into_values().collect();
    if members.is_empty() || reps == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut idx = Vec::with_capacity(groups.len());
    let mut values = Vec::with_capacity(reps);
    for _ in 0..reps {
        idx.clear();
        for _ in 0..members.len() {
            idx.extend_from_slice(&members[rng.gen_range(0..members.len())]);
        }
        if let Some(v) = stat(&idx).filter(|v| !v.is_nan()) {
            values.push(v);
        }
    }
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    Some((percentile(&values, INTERVAL.0), percentile(&values, INTERVAL.1)))
}

/// The `q` quantile (0 ≤ q ≤ 1) of non-empty ascending `sorted`, interpolated linearly between order statistics
/// (numpy's default method).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    match sorted.get(i + 1) {
        Some(&next) => sorted[i] + (pos - i as f64) * (next - sorted[i]),
        None => sorted[i],
    }
}

/// Copies `from[i]` for each index into `into`, replacing its contents.
fn gather<T: Copy>(idx: &[usize], from: &[T], into: &mut Vec<T>) {
    into.clear();
    into.extend(idx.iter().map(|&i| from[i]));
}

/// The (score, label) pairs in increasing score; `None` when a score is NaN.
fn sorted_pairs(scores: &[f32], labels: &[bool]) -> Option<Vec<(f32, bool)>> {
    check_lengths(scores, labels);
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    // partial_cmp (unlike total_cmp) keeps -0.0 and 0.0 tied.
    pairs.sort_unstable_by(|a, b| a.0.partial_cmp(&b.0).expect("NaN scores were rejected"));
    Some(pairs)
}

fn count_true(labels: &[bool]) -> usize {
    labels.iter().filter(|&&l| l).count()
}

fn check_lengths<A, B>(a: &[A], b: &[B]) {
    assert_eq!(a.len(), b.len(), "metrics: inputs differ in length");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    /// The six-sample case of the ROC and AP tests: a run of three tied scores (0.6) holding two positives and one
    /// negative, so that grouping ties differs from breaking them either way.
    const SIX_SCORES: [f32; 6] = [0.9, 0.6, 0.6, 0.6, 0.3, 0.1];
    const SIX_LABELS: [bool; 6] = [false, true, true, false, true, false];

    #[test]
    fn roc_auc_perfect_reversed_and_tied() {
        let labels = [false, false, true, true];
        close(roc_auc(&[0.1, 0.2, 0.3, 0.4], &labels).unwrap(), 1.0);
        close(roc_auc(&[0.4, 0.3, 0.2, 0.1], &labels).unwrap(), 0.0);
        close(roc_auc(&[0.5; 4], &labels).unwrap(), 0.5);
        // Any monotone score gives the same AUC.
        close(roc_auc(&[-3.0, 7.0, 8.0, 1e6], &labels).unwrap(), 1.0);
    }

    #[test]
    fn roc_auc_six_samples_by_hand() {
        // Positive/negative pairs (3 x 3 = 9), a tie counting 1/2:
        //   positive 0.6 (twice): below 0.9, ties the negative 0.6, above 0.1  -> 1.5 each, 3
        //   positive 0.3:         above 0.1 only                               -> 1
        // AUC = 4 / 9. The same from average ranks (ascending: 0.1=1, 0.3=2, 0.6=3,4,5 -> 4, 0.9=6):
        // U = (2 + 4 + 4) - 3*4/2 = 4. scikit-learn's roc_auc_score (trapezoid over the grouped thresholds, checked
        // with a numpy port of its _binary_clf_curve) gives 0.4444444444444445.
        close(roc_auc(&SIX_SCORES, &SIX_LABELS).unwrap(), 4.0 / 9.0);
    }

    #[test]
    fn pr_auc_perfect_reversed_and_tied() {
        let labels = [false, false, true, true];
        close(pr_auc(&[0.1, 0.2, 0.3, 0.4], &labels).unwrap(), 1.0);
        // Reversed: thresholds 0.2 (tp 1, fp 2, P 1/3) and 0.1 (tp 2, fp 2, P 1/2), each adding recall 1/2:
        // AP = (1/3 + 1/2) / 2 = 5/12 (scikit-learn: 0.41666666666666663).
        close(pr_auc(&[0.4, 0.3, 0.2, 0.1], &labels).unwrap(), 5.0 / 12.0);
        // All tied: one threshold with precision = prevalence.
        close(pr_auc(&[0.5; 4], &labels).unwrap(), 0.5);
        close(pr_auc(&[0.5; 4], &[true, false, false, false]).unwrap(), 0.25);
    }

    #[test]
    fn pr_auc_six_samples_by_hand() {
        // P = 3. Thresholds in decreasing score, scikit-learn style (ties form one threshold):
        //   >= 0.9: tp 0, fp 1, recall 0                  -> adds 0
        //   >= 0.6: tp 2, fp 2, precision 1/2, recall 2/3 -> adds 2/3 * 1/2 = 1/3
        //   >= 0.3: tp 3, fp 2, precision 3/5, recall 1   -> adds 1/3 * 3/5 = 1/5
        //   >= 0.1: recall unchanged                      -> adds 0
        // AP = 1/3 + 1/5 = 8/15 = 0.5333...; scikit-learn's average_precision_score (numpy port): 0.5333333333333333.
        // Breaking the tie negatives-first would give (1/3 + 1/2 + 3/5) / 3 = 0.4778, positives-first 0.5889.
        close(pr_auc(&SIX_SCORES, &SIX_LABELS).unwrap(), 8.0 / 15.0);
    }

    #[test]
    fn ranking_metrics_ignore_the_order_of_tied_samples() {
        // SIX with the tied run reordered (negative first, then last): same thresholds, same numbers.
        let labels_a = [false, false, true, true, true, false];
        let labels_b = [false, true, true, false, true, false];
        for labels in [labels_a, labels_b, SIX_LABELS] {
            close(roc_auc(&SIX_SCORES, &labels).unwrap(), 4.0 / 9.0);
            close(pr_auc(&SIX_SCORES, &labels).unwrap(), 8.0 / 15.0);
        }
        // -0.0 and 0.0 are one tie.
        close(roc_auc(&[-0.0, 0.0], &[true, false]).unwrap(), 0.5);
    }

    #[test]
    fn undefined_metrics_are_none() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(roc_auc(&[], &[]), None);
        assert_eq!(pr_auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(pr_auc(&[], &[]), None);
        assert!(pr_auc(&[0.1, 0.2], &[true, true]).is_some());
        assert_eq!(brier(&[], &[]), None);
        for metric in [roc_auc as Metric, pr_auc, brier] {
            assert_eq!(metric(&[0.1, f32::NAN], &[true, false]), None);
        }
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn mismatched_lengths_panic() {
        roc_auc(&[0.1, 0.2], &[true]);
    }

    #[test]
    fn brier_by_hand() {
        close(brier(&[1.0, 0.0], &[true, false]).unwrap(), 0.0);
        close(brier(&[0.0, 1.0], &[true, false]).unwrap(), 1.0);
        // (0² + 0² + 0.5² + 0.75²) / 4 = (0.25 + 0.5625) / 4 = 0.203125 (all exact in binary).
        close(brier(&[1.0, 0.0, 0.5, 0.75], &[true, false, true, false]).unwrap(), 0.203125);
    }

    #[test]
    fn reliability_bins_by_hand() {
        // Four bins of width 0.25; 0.5 sits on an edge and goes up, 1.0 goes into the last bin, [0.25, 0.5) is empty.
        let probs = [0.0625, 0.125, 0.1875, 0.9375, 1.0, 0.5];
        let labels = [false, true, false, true, true, false];
        let bins = reliability(&probs, &labels, 4);
        let want = [
            ReliabilityBin { lo: 0.0, hi: 0.25, count: 3, mean_predicted: 0.125, observed_rate: 1.0 / 3.0 },
            ReliabilityBin { lo: 0.5, hi: 0.75, count: 1, mean_predicted: 0.5, observed_rate: 0.0 },
            ReliabilityBin { lo: 0.75, hi: 1.0, count: 2, mean_predicted: 0.96875, observed_rate: 1.0 },
        ];
        assert_eq!(bins.len(), want.len(), "{bins:?}");
        for (got, want) in bins.iter().zip(&want) {
            assert_eq!((got.lo, got.hi, got.count), (want.lo, want.hi, want.count));
            close(got.mean_predicted, want.mean_predicted);
            close(got.observed_rate, want.observed_rate);
        }
        assert!(reliability(&probs, &labels, 0).is_empty());
        // NaN is left out; out-of-range values land in the end bins.
        let bins = reliability(&[f32::NAN, -0.5, 1.5], &[true, false, true], 2);
        assert_eq!(bins.iter().map(|b| (b.lo, b.count)).collect::<Vec<_>>(), [(0.0, 1), (0.5, 1)]);
    }

    #[test]
    fn scores_display_and_json() {
        let s = score(&SIX_SCORES, &SIX_LABELS);
        assert_eq!((s.n, s.positives), (6, 3));
        close(s.roc_auc.unwrap(), 4.0 / 9.0);
        close(s.pr_auc.unwrap(), 8.0 / 15.0);
        // (0.81 + 0.16 + 0.16 + 0.36 + 0.49 + 0.01) / 6 = 1.99 / 6, up to the f32 rounding of the scores.
        assert!((s.brier.unwrap() - 1.99 / 6.0).abs() < 1e-6);
        assert_eq!(s.to_string(), "n=6 positives=3 roc_auc=0.4444 pr_auc=0.5333 brier=0.3317");

        let none = score(&[0.2], &[false]);
        assert_eq!(none.to_string(), "n=1 positives=0 roc_auc=n/a pr_auc=n/a brier=0.0400");
        let json = serde_json::to_value(none).unwrap();
        assert_eq!(json["n"], 1);
        assert!(json["roc_auc"].is_null() && json["pr_auc"].is_null());
    }

    /// `n_groups` events of `per_group` samples. Each event has its own release rate, score offset and separation
    /// between releases and non-releases (the model reads some events well, others badly), so samples of one event
    /// are correlated, as neighbouring pixels are.
    fn events(n_groups: usize, per_group: usize, seed: u64) -> (Vec<usize>, Vec<f32>, Vec<bool>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut groups, mut scores, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        for g in 0..n_groups {
            let rate = rng.gen_range(0.05..0.6);
            let offset: f32 = rng.gen_range(-0.25..0.25);
            let separation: f32 = rng.gen_range(-0.1..0.5);
            for _ in 0..per_group {
                let label = rng.gen_bool(rate);
                let signal = if label { 0.5 + separation / 2.0 } else { 0.5 - separation / 2.0 };
                groups.push(g);
                scores.push((signal + offset + rng.gen_range(-0.3..0.3)).clamp(0.0, 1.0));
                labels.push(label);
            }
        }
        (groups, scores, labels)
    }

    #[test]
    fn bootstrap_interval_contains_the_estimate_and_is_deterministic() {
        let (groups, scores, labels) = events(40, 25, 1);
        for metric in [roc_auc as Metric, pr_auc, brier] {
            let point = metric(&scores, &labels).unwrap();
            let (lo, hi) = bootstrap_ci(&groups, &scores, &labels, metric, 400, 7).unwrap();
            assert!(lo < point && point < hi, "{lo} < {point} < {hi}");
            assert_eq!(bootstrap_ci(&groups, &scores, &labels, metric, 400, 7), Some((lo, hi)));
            assert_ne!(bootstrap_ci(&groups, &scores, &labels, metric, 400, 8), Some((lo, hi)));
        }
    }

    #[test]
    fn bootstrap_narrows_with_more_events() {
        let width = |n_groups| {
            let (groups, scores, labels) = events(n_groups, 25, 2);
            let (lo, hi) = bootstrap_ci(&groups, &scores, &labels, roc_auc, 400, 3).unwrap();
            hi - lo
        };
        // The width goes as 1/sqrt(events): 16 times the events should make it about 4 times narrower.
        let (few, many) = (width(10), width(160));
        assert!(many < few / 2.0, "10 events: {few}, 160 events: {many}");
    }

    #[test]
    fn bootstrap_resamples_events_not_samples() {
        // One event: every replicate is that event, so the interval collapses onto the point estimate, where a
        // sample bootstrap would spread.
        let (_, scores, labels) = events(1, 200, 4);
        let point = roc_auc(&scores, &labels).unwrap();
        let one_event = vec![0; scores.len()];
        assert_eq!(bootstrap_ci(&one_event, &scores, &labels, roc_auc, 100, 5), Some((point, point)));
        let each_alone: Vec<usize> = (0..scores.len()).collect();
        let (lo, hi) = bootstrap_ci(&each_alone, &scores, &labels, roc_auc, 100, 5).unwrap();
        assert!(lo < point && point < hi);

        // With correlated samples, resampling events gives a wider interval than pretending pixels are independent.
        let (groups, scores, labels) = events(30, 40, 6);
        let each_alone: Vec<usize> = (0..scores.len()).collect();
        let width = |g: &[usize]| {
            let (lo, hi) = bootstrap_ci(g, &scores, &labels, roc_auc, 400, 9).unwrap();
            hi - lo
        };
        let (by_event, by_sample) = (width(&groups), width(&each_alone));
        assert!(by_event > 1.5 * by_sample, "by event {by_event}, by sample {by_sample}");
    }

    #[test]
    fn paired_difference() {
        let (groups, scores, labels) = events(40, 25, 10);
        // Identical models: every replicate difference is exactly 0.
        for metric in [roc_auc as Metric, pr_auc, brier] {
            assert_eq!(bootstrap_diff_ci(&groups, &scores, &scores, &labels, metric, 200, 11), Some((0.0, 0.0)));
        }
        // A model that knows the labels beats one that does not, on every replicate.
        let oracle: Vec<f32> = labels.iter().map(|&l| if l { 0.9 } else { 0.1 }).collect();
        let (lo, hi) = bootstrap_diff_ci(&groups, &oracle, &scores, &labels, roc_auc, 200, 11).unwrap();
        assert!(0.0 < lo && lo <= hi, "({lo}, {hi})");
        let (lo, _) = bootstrap_diff_ci(&groups, &scores, &oracle, &labels, brier, 200, 11).unwrap();
        assert!(lo > 0.0, "the oracle's Brier score is lower");
    }

    #[test]
    fn bootstrap_undefined_is_none() {
        assert_eq!(bootstrap_ci(&[], &[], &[], roc_auc, 100, 0), None);
        assert_eq!(bootstrap_ci(&[0, 1], &[0.1, 0.9], &[false, true], roc_auc, 0, 0), None);
        // No positives anywhere: no replicate is defined.
        assert_eq!(bootstrap_ci(&[0, 1], &[0.1, 0.9], &[false, false], roc_auc, 100, 0), None);
        // Two one-sample events: replicates with both classes are kept, the others dropped.
        assert_eq!(bootstrap_ci(&[0, 1], &[0.1, 0.9], &[false, true], roc_auc, 100, 0), Some((1.0, 1.0)));
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        // numpy.percentile([1, 2, 3, 4, 5], [2.5, 97.5]) = [1.1, 4.9].
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        close(percentile(&v, 0.025), 1.1);
        close(percentile(&v, 0.975), 4.9);
        close(percentile(&[3.0], 0.975), 3.0);
    }
}
