//! The transfer experiment: how much does a network pretrained on the data-rich source site gain on the few-sample
//! target site, against the source model as is (and adapted without labels, AdaBN), a model trained on the target's
//! events only, gradient-boosted trees, and the slope-only and PRA baselines; for N labelled target events and several seeds, scored on the target's held-back winters.
//!
//! Every model is scored on the same test pixels (the target's winters from `held_back_from` on, negatives drawn
//! with a fixed sampling seed), so differences are paired. Per (method, N): mean and standard deviation of ROC-AUC
//! and PR-AUC over seeds (each seed draws its own N events and initialisation), and a 95 % bootstrap interval that
//! resamples test *events* on the seed-averaged predictions.
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::fit::Mode;
use super::metrics::{self, Metric};
use super::run::{self, FinetuneJob, RunError, Spec, TestPredictions};
use crate::config::Plan;
use crate::store::Store;

/// What to run.
#[derive(Debug, Clone)]
pub struct Design {
    pub source: String,
    pub target: String,
    pub events: Vec<usize>,
    pub seeds: Vec<u64>,
    /// Pretraining spec (its `held_back_from` holds back the source's validation winters and the target's test winters).
    pub spec: Spec,
    pub finetune_epochs: usize,
}

/// One cell of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub method: String,
    pub events: usize,
    pub roc_auc: Vec<f64>,
    pub pr_auc: Vec<f64>,
    pub roc_auc_ci95: Option<(f64, f64)>,
    pub pr_auc_ci95: Option<(f64, f64)>,
    /// Paired bootstrap interval of ROC-AUC(fine-tuned, frozen encoder) minus ROC-AUC(this method).
    pub finetuned_minus_this_ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub test_events: usize,
    pub test_pixels: usize,
    pub cells: Vec<Cell>,
    /// Fine-tuned (frozen encoder, N = [`ABLATION_EVENTS`]) without one channel group at a time.
    pub ablation: Vec<Cell>,
    /// Day-level skill on the source site's regions (accident days against other days), when its regional daily
    /// weather is bundled (`sites/<source>/weather/cantons/`).
    pub day_level: Option<super::days::DaySkill>,
    /// Day-level skill of the pretrained source network, with and without its weather channels, on the same
    /// region-days as `day_level`.
    pub network_day_level: Vec<super::days::NetworkDaySkill>,
    /// Temporal negatives per event in the source's training patches.
    pub temporal_negatives: usize,
    pub wall_seconds: f64,
}

/// First winter held back by the day-level model (the regional weather starts in January 2018).
pub const DAY_TEST_FROM: i32 = 2020;

/// The source site's region-days on 2018-01..2021-04 (its events against every other region-day, with the regional
/// daily weather of `weather/cantons/*.csv`, Open-Meteo exports), with that weather; `None` when the site has none.
fn source_days(
    plan: &Plan,
    store: &Store,
    site: &str,
) -> Result<Option<(crate::dataset::days::Days, Vec<crate::ingest::weather::schema::DailyWeather>)>, RunError> {
    let s = plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    let Some(weather) = crate::dataset::days::load_regional_rows(&s.dir.join(crate::dataset::days::REGIONAL_DIR))?
    else {
        return Ok(None);
    };
    let (from, to) = (
        chrono::NaiveDate::from_ymd_opt(2018, 1, 1).expect("valid"),
        chrono::NaiveDate::from_ymd_opt(2021, 4, 30).expect("valid"),
    );
    let events: Vec<_> = crate::ingest::observations::load_events(&store.events(site))
        .map_err(|e| RunError::Reference(e.to_string()))?
        .into_iter()
        .filter(|e| e.date >= from && e.date <= to)
        .collect();
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = events.iter().map(|e| (e.x, e.y)).unzip();
    s.grid
        .crs
        .transform_points(&crate::geo::Crs::wgs84(), &mut xs, &mut ys)
        .map_err(|e| RunError::Reference(e.to_string()))?;
    let lonlat: Vec<(f64, f64)> = xs.into_iter().zip(ys).collect();
    let days = crate::dataset::days::build_days(&events, &lonlat, &weather, from, to);
    Ok(Some((days, weather)))
}

/// Day-level skill of the source site: a logistic regression on the day's weather features of its region-days,
/// trained before winter [`DAY_TEST_FROM`] and tested from it.
pub fn day_level(plan: &Plan, store: &Store, site: &str) -> Result<Option<super::days::DaySkill>, RunError> {
    Ok(source_days(plan, store, site)?.and_then(|(days, _)| super::days::day_skill(&days, DAY_TEST_FROM, 7)))
}

/// Patches per region the networks' day-level skill runs on.
pub const DAY_ANCHORS: usize = 6;

/// Day-level skill of patch networks (bundle directory and the channels it was trained without) on the same
/// region-days as [`day_level`]: each region-day scored by the maximum and the mean predicted probability over
/// [`DAY_ANCHORS`] fixed patches of the region with the day's regional weather.
pub fn network_day_level(
    plan: &Plan,
    store: &Store,
    site: &str,
    models: &[(&str, &Path, Vec<String>)],
) -> Result<Vec<super::days::NetworkDaySkill>, RunError> {
    let Some((days, rows)) = source_days(plan, store, site)? else { return Ok(Vec::new()) };
    let s = plan.site(site).ok_or_else(|| RunError::Site(site.into()))?;
    let weather = crate::dataset::days::RegionalWeather::from_rows(&rows);
    let rasters = crate::dataset::SiteRasters::load(store, site)?;
    let events = crate::ingest::observations::load_events(&store.events(site))
        .map_err(|e| RunError::Reference(e.to_string()))?;
    let region: Vec<Option<usize>> = match crate::dataset::sample::regional_of(s, &events)? {
        Some(t) => t.region,
        None => return Ok(Vec::new()),
    };
    let anchors = crate::dataset::days::region_anchors(
        &rasters,
        &events,
        &region,
        weather.points.len(),
        DAY_TEST_FROM,
        DAY_ANCHORS,
        7,
    );
    let design = super::days::DayDesign {
        days: &days,
        weather: &weather,
        anchors: &anchors,
        rasters: &rasters,
        test_from: DAY_TEST_FROM,
    };
    let mut out = Vec::new();
    for (name, dir, drop) in models {
        out.extend(super::days::network_day_skill(name, dir, drop, &design)?);
    }
    Ok(out)
}

/// Channel groups left out one at a time in the ablation.
pub const ABLATION_GROUPS: [(&str, &[&str]); 3] = [
    (
        "terrain shape",
        &[
            "elevation",
            "slope",
            "aspect_sin",
            "aspect_cos",
            "plan_curvature",
            "profile_curvature",
            "tpi_1km",
            "tpi_4km",
        ],
    ),
    ("roughness and wind shelter", &["vrm", "wind_shelter", "pra"]),
    ("weather", &["t_mean_c", "snow_depth_cm", "wind_speed_ms"]),
];
/// Labelled target events the ablation fine-tunes on.
pub const ABLATION_EVENTS: usize = 25;

/// For each channel group: pretrain without it, fine-tune (frozen encoder) on N target events per seed, score on the
/// same test pixels.
fn ablation(plan: &Plan, store: &Store, d: &Design, runs: &Path, all: &TestPredictions) -> Result<Vec<Cell>, RunError> {
    let mut cells = Vec::new();
    for (group, channels) in ABLATION_GROUPS {
        let sampling = crate::dataset::SamplingParams {
            drop: channels.iter().map(|c| c.to_string()).collect(),
            ..d.spec.sampling.clone()
        };
        let spec = Spec { sampling: sampling.clone(), ..d.spec.clone() };
        let tag = group.replace(' ', "-");
        let source = runs.join(format!("ablation-{tag}-source"));
        run::pretrain(plan, store, &spec, &source, false)?;
        let mut preds = Vec::new();
        for &seed in &d.seeds {
            let spec = Spec {
                sites: vec![d.target.clone()],
                train: super::fit::TrainParams { seed, epochs: d.finetune_epochs, ..d.spec.train.clone() },
                ..spec.clone()
            };
            let out = runs.join(format!("ablation-{tag}-n{ABLATION_EVENTS}-seed{seed}"));
            let job = FinetuneJob {
                site: d.target.clone(),
                from: source.clone(),
                events: Some(ABLATION_EVENTS),
                mode: Mode::FreezeEncoder,
            };
            run::finetune(plan, store, &job, &spec, &out)?;
            preds.push(run::test_predictions(plan, store, &d.target, &out, d.spec.held_back_from, &sampling)?);
        }
        let avg: Vec<f32> =
            (0..all.labels.len()).map(|i| preds.iter().map(|p| p.probs[i]).sum::<f32>() / preds.len() as f32).collect();
        let per = |m: Metric| preds.iter().filter_map(|p| m(&p.probs, &all.labels)).collect::<Vec<_>>();
        cells.push(Cell {
            method: format!("without {group}"),
            events: ABLATION_EVENTS,
            roc_auc: per(metrics::roc_auc),
            pr_auc: per(metrics::pr_auc),
            roc_auc_ci95: metrics::bootstrap_ci(&all.groups, &avg, &all.labels, metrics::roc_auc, 1000, 7),
            pr_auc_ci95: metrics::bootstrap_ci(&all.groups, &avg, &all.labels, metrics::pr_auc, 1000, 7),
            finetuned_minus_this_ci95: None,
        });
    }
    Ok(cells)
}

/// Runs the experiment, writing bundles under `out/runs/` and the report to `out/report.md` and `out/results.json`.
pub fn transfer(plan: &Plan, store: &Store, d: &Design, out: &Path) -> Result<Report, RunError> {
    let t0 = Instant::now();
    let runs = out.join("runs");
    let source = runs.join("source");
    run::pretrain(plan, store, &d.spec, &source, false)?;
    let test =
        |bundle: &Path| run::test_predictions(plan, store, &d.target, bundle, d.spec.held_back_from, &d.spec.sampling);
    let zero_shot = test(&source)?;
    let target_spec = Spec { sites: vec![d.target.clone()], ..d.spec.clone() };
    let adapted = runs.join("adapted");
    run::adapt(plan, store, &d.target, &source, &target_spec, &adapted, 10)?;

    let mut cells = Vec::new();
    let per_n_seeds = |name: &str, n: usize, preds: Vec<TestPredictions>| (name.to_owned(), n, preds);
    let mut results = vec![
        per_n_seeds("zero-shot (source as is)", 0, vec![zero_shot.clone()]),
        per_n_seeds("adapted (AdaBN), no labels", 0, vec![test(&adapted)?]),
    ];
    for &n in d.events.iter().filter(|n| **n > 0) {
        let (mut scratch, mut frozen, mut full, mut adapted_ft) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &seed in &d.seeds {
            let spec = Spec {
                sites: vec![d.target.clone()],
                train: super::fit::TrainParams { seed, epochs: d.finetune_epochs, ..d.spec.train.clone() },
                ..d.spec.clone()
            };
            let dir = |m: &str| runs.join(format!("{m}-n{n}-seed{seed}"));
            run::target_only(plan, store, &d.target, Some(n), &spec, &dir("target-only"))?;
            scratch.push(test(&dir("target-only"))?);
            for (mode, from, name, acc) in [
                (Mode::FreezeEncoder, &source, "finetune-frozen", &mut frozen),
                (Mode::Full { encoder_lr_factor: 0.1 }, &source, "finetune-full", &mut full),
                (Mode::FreezeEncoder, &adapted, "adapted-finetune-frozen", &mut adapted_ft),
            ] {
                let job = FinetuneJob { site: d.target.clone(), from: from.clone(), events: Some(n), mode };
                run::finetune(plan, store, &job, &spec, &dir(name))?;
                acc.push(test(&dir(name))?);
            }
        }
        results.push(per_n_seeds("target only (from scratch)", n, scratch));
        results.push(per_n_seeds("fine-tuned, frozen encoder", n, frozen));
        results.push(per_n_seeds("fine-tuned, full (encoder lr x0.1)", n, full));
        results.push(per_n_seeds("adapted (AdaBN) + fine-tuned, frozen", n, adapted_ft));
    }
    results.extend(gbt_reference(plan, store, d, &out.join("gbt"), &zero_shot)?);
    let base = |scores: &Vec<f32>| TestPredictions { probs: scores.clone(), ..zero_shot.clone() };
    results.push(("slope only".into(), 0, vec![base(&zero_shot.slope)]));
    results.push(("PRA (Veitinger 2016)".into(), 0, vec![base(&zero_shot.pra)]));

    let (labels, groups) = (&zero_shot.labels, &zero_shot.groups);
    let mean_probs = |preds: &[TestPredictions]| -> Vec<f32> {
        (0..labels.len()).map(|i| preds.iter().map(|p| p.probs[i]).sum::<f32>() / preds.len() as f32).collect()
    };
    let frozen_at = |n: usize| {
        results.iter().find(|(m, k, _)| m.starts_with("fine-tuned, frozen") && *k == n).map(|(_, _, p)| mean_probs(p))
    };
    for (method, n, preds) in &results {
        let per = |m: Metric| preds.iter().filter_map(|p| m(&p.probs, labels)).collect::<Vec<_>>();
        let avg = mean_probs(preds);
        let ci = |m: Metric| metrics::bootstrap_ci(groups, &avg, labels, m, 1000, 7);
        // The fine-tuned model at the same N (or at the smallest N for the N-free rows).
        let reference_n = if *n > 0 { *n } else { d.events.iter().copied().filter(|n| *n > 0).min().unwrap_or(0) };
        let diff = frozen_at(reference_n)
            .filter(|_| !method.starts_with("fine-tuned, frozen"))
            .and_then(|ft| metrics::bootstrap_diff_ci(groups, &ft, &avg, labels, metrics::roc_auc, 1000, 7));
        cells.push(Cell {
            method: method.clone(),
            events: *n,
            roc_auc: per(metrics::roc_auc),
            pr_auc: per(metrics::pr_auc),
            roc_auc_ci95: ci(metrics::roc_auc),
            pr_auc_ci95: ci(metrics::pr_auc),
            finetuned_minus_this_ci95: diff,
        });
    }
    let ablation = ablation(plan, store, d, &runs, &zero_shot)?;
    let day_level = day_level(plan, store, &d.source)?;
    let weather: Vec<String> = ABLATION_GROUPS[2].1.iter().map(|c| c.to_string()).collect();
    let network_day_level = network_day_level(
        plan,
        store,
        &d.source,
        &[
            ("source network", source.as_path(), Vec::new()),
            ("source network without weather", runs.join("ablation-weather-source").as_path(), weather),
        ],
    )?;
    let report = Report {
        source: d.source.clone(),
        target: d.target.clone(),
        test_events: groups.iter().collect::<std::collections::BTreeSet<_>>().len(),
        test_pixels: labels.len(),
        cells,
        ablation,
        day_level,
        network_day_level,
        temporal_negatives: d.spec.sampling.temporal_negatives,
        wall_seconds: t0.elapsed().as_secs_f64(),
    };
    let io = |e| RunError::Io { path: out.display().to_string(), source: e };
    fs_err::write(out.join("results.json"), serde_json::to_string_pretty(&report).unwrap_or_default()).map_err(io)?;
    fs_err::write(out.join("report.md"), markdown(&report, d)).map_err(io)?;
    Ok(report)
}

type Rows = Vec<(String, usize, Vec<TestPredictions>)>;

/// Gradient-boosted trees on per-pixel terrain + weather (scikit-learn, `scripts/gbt_reference.py`), trained on the
/// same pixels and the same N-event subsets as the networks and scored on the same test pixels.
fn gbt_reference(
    plan: &Plan,
    store: &Store,
    d: &Design,
    dir: &Path,
    zero_shot: &TestPredictions,
) -> Result<Rows, RunError> {
    let io = |e: std::io::Error| RunError::Io { path: dir.display().to_string(), source: e };
    fs_err::create_dir_all(dir).map_err(io)?;
    let held = d.spec.held_back_from;
    let (source, _) = run::samples_of(plan, store, std::slice::from_ref(&d.source), &d.spec.sampling)?;
    let source = source.subset(&source.by_winter(|w| w < held));
    let (target, _) = run::samples_of(plan, store, std::slice::from_ref(&d.target), &d.spec.sampling)?;
    let pool_idx = target.by_winter(|w| w < held);
    let (pool, test) = (target.subset(&pool_idx), target.subset(&target.by_winter(|w| w >= held)));
    write_table(&dir.join("source.csv"), &source, false).map_err(io)?;
    write_table(&dir.join("pool.csv"), &pool, true).map_err(io)?;
    write_table(&dir.join("test.csv"), &test, true).map_err(io)?;
    let (_, test_labels, _) = test.labelled(&vec![0.0; test.len() * test.patch * test.patch]);
    if test_labels != zero_shot.labels {
        return Err(RunError::Reference("the exported test pixels differ from the networks' test pixels".into()));
    }
    let mut subsets = serde_json::Map::new();
    for &n in d.events.iter().filter(|n| **n > 0) {
        let by_seed: serde_json::Map<String, serde_json::Value> = d
            .seeds
            .iter()
            .map(|s| (s.to_string(), serde_json::json!(run::draw_events(&target, &pool_idx, n, *s))))
            .collect();
        subsets.insert(n.to_string(), by_seed.into());
    }
    fs_err::write(dir.join("subsets.json"), serde_json::Value::from(subsets).to_string()).map_err(io)?;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gbt_reference.py");
    let status = std::process::Command::new("python3").arg(&script).arg(dir).status().map_err(io)?;
    if !status.success() {
        return Err(RunError::Reference(format!(
            "{} failed ({status}): it needs the venv's python with scikit-learn first on PATH (`make setup`)",
            script.display()
        )));
    }
    let text = fs_err::read_to_string(dir.join("predictions.json")).map_err(io)?;
    let preds: serde_json::Value = serde_json::from_str(&text).map_err(|e| RunError::Reference(e.to_string()))?;
    let as_pred = |v: &serde_json::Value| TestPredictions {
        probs: v
            .as_array()
            .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect())
            .unwrap_or_default(),
        ..zero_shot.clone()
    };
    let mut rows: Rows =
        vec![("trees (HistGradientBoosting), source only".into(), 0, vec![as_pred(&preds["zero-shot"])])];
    for &n in d.events.iter().filter(|n| **n > 0) {
        for (key, name) in [("target-only", "trees, target only"), ("pooled", "trees, source + target pooled")] {
            let seeds: Vec<TestPredictions> =
                preds[key][n.to_string()].as_object().map(|m| m.values().map(as_pred).collect()).unwrap_or_default();
            if !seeds.is_empty() {
                rows.push((name.into(), n, seeds));
            }
        }
    }
    Ok(rows)
}

/// One row per labelled pixel: the input channels (empty where missing), the label and (target tables) the event.
fn write_table(path: &Path, s: &crate::dataset::Samples, with_event: bool) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(std::io::Error::other)?;
    let mut header: Vec<String> = crate::dataset::CHANNELS.iter().map(|c| c.to_string()).collect();
    header.push("label".into());
    if with_event {
        header.push("event".into());
    }
    w.write_record(&header).map_err(std::io::Error::other)?;
    let (_, labels, events) = s.labelled(&vec![0.0; s.len() * s.patch * s.patch]);
    for ((row, label), event) in s.labelled_rows().into_iter().zip(labels).zip(events) {
        let mut rec: Vec<String> =
            row.iter().map(|v| if v.is_finite() { v.to_string() } else { String::new() }).collect();
        rec.push((label as u8).to_string());
        if with_event {
            rec.push(event.to_string());
        }
        w.write_record(&rec).map_err(std::io::Error::other)?;
    }
    w.flush()
}

fn mean_sd(v: &[f64]) -> String {
    if v.is_empty() {
        return "n/a".into();
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    if v.len() == 1 {
        return format!("{m:.3}");
    }
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
    format!("{m:.3} ± {sd:.3}")
}

fn ci(c: Option<(f64, f64)>) -> String {
    c.map_or("n/a".into(), |(a, b)| format!("[{a:.3}, {b:.3}]"))
}

/// The report as a Markdown table.
pub fn markdown(r: &Report, d: &Design) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Target `{}` (source `{}`), test winters from {}: {} events, {} labelled pixels. Seeds: {}. Wall time {:.0} s.\n",
        r.target,
        r.source,
        d.spec.held_back_from,
        r.test_events,
        r.test_pixels,
        d.seeds.len(),
        r.wall_seconds
    );
    let _ = writeln!(s, "| method | N | ROC-AUC (mean ± sd over seeds) | 95% CI | PR-AUC | 95% CI | fine-tuned (frozen) minus this, ROC-AUC 95% CI |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for c in &r.cells {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.method,
            if c.events == 0 { "-".into() } else { c.events.to_string() },
            mean_sd(&c.roc_auc),
            ci(c.roc_auc_ci95),
            mean_sd(&c.pr_auc),
            ci(c.pr_auc_ci95),
            ci(c.finetuned_minus_this_ci95)
        );
    }
    let _ = writeln!(s, "\nFeature ablation: fine-tuned (frozen encoder) on {ABLATION_EVENTS} target events, one channel group left out of pretraining and fine-tuning.\n");
    let _ = writeln!(s, "| channels | ROC-AUC (mean ± sd over seeds) | 95% CI | PR-AUC | 95% CI |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    if let Some(all) =
        r.cells.iter().find(|c| c.method.starts_with("fine-tuned, frozen") && c.events == ABLATION_EVENTS)
    {
        let _ = writeln!(
            s,
            "| all | {} | {} | {} | {} |",
            mean_sd(&all.roc_auc),
            ci(all.roc_auc_ci95),
            mean_sd(&all.pr_auc),
            ci(all.pr_auc_ci95)
        );
    }
    for c in &r.ablation {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            c.method,
            mean_sd(&c.roc_auc),
            ci(c.roc_auc_ci95),
            mean_sd(&c.pr_auc),
            ci(c.pr_auc_ci95)
        );
    }
    if let Some(dl) = &r.day_level {
        let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
        let _ = writeln!(s, "\nDay-level skill on `{}`: accident days against all other December-April days of {} regions (nearest regional weather point), logistic regression on the day's weather features, trained before winter {} and tested from it ({} train / {} test region-days; bootstrap over days).\n", r.source, dl.regions, dl.test_from_winter, dl.train_days, dl.test_days);
        let _ = writeln!(s, "| score | positives / days | ROC-AUC | 95% CI | PR-AUC |\n|---|---|---|---|---|");
        for (name, sc, c) in [
            ("weather model", &dl.model, dl.model_roc_auc_ci95),
            ("72 h new snow alone", &dl.new_snow_72h, dl.new_snow_72h_roc_auc_ci95),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {} / {} | {} | {} | {} |",
                sc.positives,
                sc.n,
                f(sc.roc_auc),
                ci(c),
                f(sc.pr_auc)
            );
        }
    }
    for n in &r.network_day_level {
        let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
        for (how, sc, c) in [("max", &n.max, n.max_roc_auc_ci95), ("mean", &n.mean, n.mean_roc_auc_ci95)] {
            let _ = writeln!(
                s,
                "| {} ({how} over {} patches per region) | {} / {} | {} | {} | {} |",
                n.model,
                n.anchors_per_region,
                sc.positives,
                sc.n,
                f(sc.roc_auc),
                ci(c),
                f(sc.pr_auc)
            );
        }
    }
    if r.day_level.is_some() {
        let _ = writeln!(
            s,
            "\nThe source network was pretrained with {} temporal negative(s) per Swiss event of 2018-2021 (the \
             event's patch on other days of its winter without a recorded accident within the context radius; weather \
             of the event day and of those days from the regional exports).",
            r.temporal_negatives
        );
    }
    let _ = writeln!(
        s,
        "\nIntervals resample test events (1000 replicates) on the seed-averaged predictions. With a few dozen test \
         events, AUC differences under about 0.04 are within noise."
    );
    s
}
