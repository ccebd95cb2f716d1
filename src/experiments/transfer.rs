//! The transfer experiment, scored where users look: how much does a network pretrained on the data-rich source site
//! gain on the few-sample target site's *map*, against the source model as is (and adapted without labels: AdaBN,
//! CORAL), a model trained on the target's events only, one network pretrained on every site with events ("the big
//! one"), gradient-boosted trees, and the simple layers a skeptic would try: elevation, slope, TPI, PRA and the
//! density of the target's earlier accidents.
//!
//! Every model's map is predicted over the target's whole grid ([`crate::train::predict_map`], the daily `predict` code path)
//! and read at the same cells: each held-back event's cell and its controls, valid cells drawn uniformly within 15 km
//! ([`crate::evaluate`]), so differences are paired. Per (method, N): mean and standard deviation of ROC-AUC over
//! seeds (each seed draws its own N events and initialisation), a 95 % interval that resamples test *events* on the
//! seed-averaged values, and the share of events in the top 10/20/30 % of release terrain.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::config::Plan;
use crate::dataset::channels::{SiteRasters, CHANNELS};
use crate::evaluate::{self, Cases, MapDesign};
use crate::store::Store;
use crate::train::fit::Mode;
use crate::train::{FinetuneJob, RunError, Spec};
use avarisk_nn::metrics::{self, Metric};

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
    /// How the map's controls are drawn.
    pub map: MapDesign,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub method: String,
    pub events: usize,
    pub roc_auc: Vec<f64>,
    pub pr_auc: Vec<f64>,
    pub roc_auc_ci95: Option<(f64, f64)>,
    /// Mean over seeds of the share of events in the top 10, 20, 30 % of release terrain.
    pub capture: Vec<f64>,
    /// Paired bootstrap interval of ROC-AUC(fine-tuned, frozen encoder) minus ROC-AUC(this method).
    pub finetuned_minus_this_ci95: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub test_events: usize,
    pub test_cells: usize,
    pub map: MapDesign,
    pub cells: Vec<Cell>,
    /// Training diagnostic: the source network's patch-level ROC-AUC on the target's held-back windows.
    pub zero_shot_patch_level: Option<f64>,
    /// Day-level skill on the source site's regions (accident days against other days), when its regional daily
    /// weather is bundled (`sites/<source>/weather/cantons/`).
    pub day_level: Option<super::days::DaySkill>,
    pub wall_seconds: f64,
}

/// One model's values at the scored cells, with its capture figures and ROC curve.
#[derive(Debug, Clone)]
struct Scored {
    values: Vec<f32>,
    capture: Vec<f64>,
    roc: Vec<(f64, f64)>,
}

/// The target's scored cells and what scoring a whole-grid layer there needs.
struct Target {
    cases: Cases,
    rasters: SiteRasters,
    maps: PathBuf,
}

impl Target {
    fn slope(&self) -> &[f32] {
        &self.rasters.bands[CHANNELS.iter().position(|c| *c == "slope").expect("slope channel")]
    }

    fn layer(&self, name: &str, layer: &[f32]) -> Scored {
        let row = evaluate::score(name, layer, self.rasters.grid.width, self.slope(), &self.cases);
        Scored { values: row.values, capture: row.capture, roc: row.roc }
    }

    /// The bundle's whole-grid map over the target, scored (the map file is removed afterwards).
    fn bundle(&self, plan: &Plan, store: &Store, site: &str, bundle: &Path) -> Result<Scored, RunError> {
        let path = evaluate::map_path(&self.maps, bundle);
        let (map, _) = crate::train::predict_map(plan, store, site, bundle, &path)?;
        let _ = fs_err::remove_file(&path);
        Ok(self.layer("map", &map))
    }
}

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

/// Day-level skill of the source site: the hazard model on its region-days, each winter scored by the model fitted
/// on the others ([`super::days::day_skill`]).
pub fn day_level(plan: &Plan, store: &Store, site: &str) -> Result<Option<super::days::DaySkill>, RunError> {
    Ok(source_days(plan, store, site)?.and_then(|(days, _)| super::days::day_skill(&days, 7)))
}

/// Runs the experiment, writing bundles under `out/runs/` and the report to `out/report.md`, `out/results.json` and
/// `out/roc.png`.
pub fn transfer(plan: &Plan, store: &Store, d: &Design, out: &Path) -> Result<Report, RunError> {
    let t0 = Instant::now();
    let runs = out.join("runs");
    let held = d.spec.held_back_from;
    let io = |e| RunError::Io { path: out.display().to_string(), source: e };
    let (cases, rasters) = crate::train::map_cases(plan, store, &d.target, (held, None, None), &d.map)?;
    let target = Target { cases, rasters, maps: runs.join("maps") };
    fs_err::create_dir_all(&target.maps).map_err(io)?;
    let score = |bundle: &Path| target.bundle(plan, store, &d.target, bundle);

    let source = runs.join("source");
    crate::train::pretrain(plan, store, &d.spec, &source, false)?;
    let target_spec = Spec { sites: vec![d.target.clone()], ..d.spec.clone() };
    let adapted = runs.join("adapted");
    crate::train::adapt(plan, store, &d.target, &source, &target_spec, &adapted, 10)?;
    let coral = runs.join("adapted-coral");
    let coral_job = crate::train::AdaptJob {
        site: d.target.clone(),
        from: source.clone(),
        method: crate::train::AdaptMethod::Coral,
        passes: 10,
        source: Vec::new(),
        coral: crate::train::CoralParams::default(),
    };
    crate::train::adapt_with(plan, store, &coral_job, &target_spec, &coral)?;
    // The big one: every site with events pretrains one network (validated on the source's later winters only).
    let big = runs.join("all-sites");
    let big_spec = Spec { sites: vec![d.source.clone(), d.target.clone()], ..d.spec.clone() };
    crate::train::pretrain(plan, store, &big_spec, &big, false)?;

    let mut results: Vec<(String, usize, Vec<Scored>)> = vec![
        ("zero-shot (source as is)".into(), 0, vec![score(&source)?]),
        ("adapted (AdaBN), no labels".into(), 0, vec![score(&adapted)?]),
        ("adapted (CORAL + AdaBN), no labels".into(), 0, vec![score(&coral)?]),
        ("all sites pretrained together, as is".into(), 0, vec![score(&big)?]),
    ];
    for &n in d.events.iter().filter(|n| **n > 0) {
        let (mut scratch, mut frozen, mut full, mut big_ft) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &seed in &d.seeds {
            let spec = Spec {
                train: crate::train::fit::TrainParams { seed, epochs: d.finetune_epochs, ..d.spec.train.clone() },
                ..target_spec.clone()
            };
            let dir = |m: &str| runs.join(format!("{m}-n{n}-seed{seed}"));
            crate::train::target_only(plan, store, &d.target, Some(n), &spec, &dir("target-only"))?;
            scratch.push(score(&dir("target-only"))?);
            for (mode, from, name, acc) in [
                (Mode::FreezeEncoder, &source, "finetune-frozen", &mut frozen),
                (
                    Mode::Full { encoder_lr_factor: crate::train::fit::ENCODER_LR_FACTOR },
                    &source,
                    "finetune-full",
                    &mut full,
                ),
                (Mode::FreezeEncoder, &big, "all-sites-finetune-frozen", &mut big_ft),
            ] {
                let job = FinetuneJob { site: d.target.clone(), from: from.clone(), events: Some(n), mode };
                crate::train::finetune(plan, store, &job, &spec, &dir(name))?;
                acc.push(score(&dir(name))?);
            }
        }
        results.push(("target only (from scratch)".into(), n, scratch));
        results.push(("fine-tuned, frozen encoder".into(), n, frozen));
        results.push(("fine-tuned, full (encoder lr x0.1)".into(), n, full));
        results.push(("all sites pretrained, fine-tuned (frozen)".into(), n, big_ft));
    }
    results.extend(gbt_reference(plan, store, d, &out.join("gbt"), &target)?);
    for (name, layer) in evaluate::baselines(&target.rasters) {
        results.push((format!("{name} alone"), 0, vec![target.layer(name, layer)]));
    }
    let past = past_density(store, &d.target, &target.rasters, held)?;
    results.push((
        format!("earlier accidents of the target (density, {PAST_SIGMA_M:.0} m kernel)"),
        0,
        vec![target.layer("past", &past)],
    ));

    let (labels, groups) = (&target.cases.labels, &target.cases.groups);
    let mean_values = |preds: &[Scored]| -> Vec<f32> {
        (0..labels.len()).map(|i| preds.iter().map(|p| p.values[i]).sum::<f32>() / preds.len() as f32).collect()
    };
    let frozen_at = |n: usize| {
        results.iter().find(|(m, k, _)| m.starts_with("fine-tuned, frozen") && *k == n).map(|(_, _, p)| mean_values(p))
    };
    let mut cells = Vec::new();
    for (method, n, preds) in &results {
        let per = |m: Metric| preds.iter().filter_map(|p| m(&p.values, labels)).collect::<Vec<_>>();
        let avg = mean_values(preds);
        let reference_n = if *n > 0 { *n } else { d.events.iter().copied().filter(|n| *n > 0).max().unwrap_or(0) };
        let diff = frozen_at(reference_n)
            .filter(|_| !method.starts_with("fine-tuned, frozen"))
            .and_then(|ft| metrics::bootstrap_diff_ci(groups, &ft, &avg, labels, metrics::roc_auc, 1000, 7));
        let capture = (0..evaluate::CAPTURE_SHARES.len())
            .map(|k| preds.iter().map(|p| p.capture[k]).sum::<f64>() / preds.len() as f64)
            .collect();
        cells.push(Cell {
            method: method.clone(),
            events: *n,
            roc_auc: per(metrics::roc_auc),
            pr_auc: per(metrics::pr_auc),
            roc_auc_ci95: metrics::bootstrap_ci(groups, &avg, labels, metrics::roc_auc, 1000, 7),
            capture,
            finetuned_minus_this_ci95: diff,
        });
    }
    // ROC curves of the main maps and the baselines (the first seed of each row).
    let curves: Vec<(String, Vec<(f64, f64)>)> = results
        .iter()
        .filter(|(m, n, _)| {
            *n == 0
                && (m.starts_with("zero-shot")
                    || m.starts_with("all sites")
                    || m.contains("alone")
                    || m.starts_with("earlier"))
                || (*n == d.events.iter().copied().max().unwrap_or(0) && m.starts_with("fine-tuned, frozen"))
        })
        .filter(|(m, _, _)| !m.starts_with("slope") && !m.starts_with("pra") && !m.starts_with("tpi_1km"))
        .map(|(m, n, p)| (if *n > 0 { format!("{m}, N = {n}") } else { m.clone() }, p[0].roc.clone()))
        .collect();
    let legend = super::report::roc_png(&out.join("roc.png"), &curves)?;
    let report = Report {
        source: d.source.clone(),
        target: d.target.clone(),
        test_events: target.cases.events(),
        test_cells: labels.len(),
        map: d.map.clone(),
        cells,
        zero_shot_patch_level: crate::train::patch_level(plan, store, &d.target, &source, held, &d.spec.sampling)?,
        day_level: day_level(plan, store, &d.source)?,
        wall_seconds: t0.elapsed().as_secs_f64(),
    };
    fs_err::write(out.join("results.json"), serde_json::to_string_pretty(&report).unwrap_or_default()).map_err(io)?;
    fs_err::write(
        out.join("report.md"),
        markdown(&report, d) + &format!("\n![ROC curves](roc.png)\n\nROC curves: {}.\n", legend.join(", ")),
    )
    .map_err(io)?;
    let _ = fs_err::remove_dir_all(&target.maps);
    Ok(report)
}

/// Width of the kernel of the earlier-accidents baseline (m).
pub const PAST_SIGMA_M: f64 = 1000.0;

/// The density of `site`'s recorded events before winter `before` on its grid: a Gaussian kernel of
/// [`PAST_SIGMA_M`] around each (the "climatology" of where accidents happen, a baseline no terrain layer has).
fn past_density(store: &Store, site: &str, rasters: &SiteRasters, before: i32) -> Result<Vec<f32>, RunError> {
    let events =
        crate::ingest::observations::load_events(&store.events(site)).map_err(crate::dataset::DatasetError::from)?;
    let (w, h) = (rasters.grid.width, rasters.grid.height);
    let mut counts = vec![0f32; w * h];
    for e in events.iter().filter(|e| crate::dataset::winter_of(e.date) < before) {
        counts[e.row * w + e.col] += 1.0;
    }
    let sigma = PAST_SIGMA_M / rasters.grid.res_x();
    let reach = (3.0 * sigma).ceil() as i64;
    let kernel: Vec<f32> = (-reach..=reach).map(|k| (-(k * k) as f64 / (2.0 * sigma * sigma)).exp() as f32).collect();
    let blur = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; w * h];
        for r in 0..h {
            for c in 0..w {
                let v = src[r * w + c];
                if v == 0.0 {
                    continue;
                }
                for (k, kv) in kernel.iter().enumerate() {
                    let off = k as i64 - reach;
                    let (cc, rr) = if horizontal { (c as i64 + off, r as i64) } else { (c as i64, r as i64 + off) };
                    if cc >= 0 && rr >= 0 && (cc as usize) < w && (rr as usize) < h {
                        out[rr as usize * w + cc as usize] += v * kv;
                    }
                }
            }
        }
        out
    };
    let mut density = blur(&blur(&counts, true), false);
    for (i, v) in density.iter_mut().enumerate() {
        if !rasters.valid(i % w, i / w) {
            *v = f32::NAN;
        }
    }
    Ok(density)
}

type Rows = Vec<(String, usize, Vec<Scored>)>;

/// Negative pixels per training window in the trees' tables (all positives are kept).
const TREE_NEGATIVES_PER_WINDOW: usize = 24;

/// Gradient-boosted trees on the per-pixel channels (scikit-learn, `scripts/gbt_reference.py`), trained on the
/// networks' training windows (every positive, [`TREE_NEGATIVES_PER_WINDOW`] negatives per window) of the source and
/// of the same N-event target subsets, and scored on the map's cells.
fn gbt_reference(plan: &Plan, store: &Store, d: &Design, dir: &Path, target: &Target) -> Result<Rows, RunError> {
    let io = |e: std::io::Error| RunError::Io { path: dir.display().to_string(), source: e };
    fs_err::create_dir_all(dir).map_err(io)?;
    let held = d.spec.held_back_from;
    let before = |e: &crate::ingest::observations::Event| crate::dataset::winter_of(e.date) < held;
    let (source, _) =
        crate::train::samples_of(plan, store, std::slice::from_ref(&d.source), &d.spec.sampling, &before)?;
    write_table(&dir.join("source.csv"), source.thinned_rows(TREE_NEGATIVES_PER_WINDOW)).map_err(io)?;
    let w = target.rasters.grid.width;
    let test: Vec<(Vec<f32>, bool, usize)> = target
        .cases
        .cells
        .iter()
        .zip(&target.cases.labels)
        .zip(&target.cases.groups)
        .map(|((&(c, r), &l), &g)| (target.rasters.bands.iter().map(|b| b[r * w + c]).collect(), l, g))
        .collect();
    write_table(&dir.join("test.csv"), test).map_err(io)?;
    // One table per N-event subset (the same events the networks train on, drawn with the same seeds).
    let events = crate::train::site_events(plan, store, &d.target)?;
    let pool: Vec<usize> = (0..events.len()).filter(|&i| before(&events[i])).collect();
    for &n in d.events.iter().filter(|n| **n > 0) {
        for &seed in &d.seeds {
            let ids: std::collections::HashSet<String> =
                crate::train::draw_events(&events, &pool, n, seed).into_iter().map(|i| events[i].id.clone()).collect();
            let only = |e: &crate::ingest::observations::Event| ids.contains(&e.id);
            let (s, _) =
                crate::train::samples_of(plan, store, std::slice::from_ref(&d.target), &d.spec.sampling, &only)?;
            let path = dir.join("subsets").join(n.to_string()).join(format!("{seed}.csv"));
            fs_err::create_dir_all(path.parent().expect("has a parent")).map_err(io)?;
            write_table(&path, s.thinned_rows(TREE_NEGATIVES_PER_WINDOW)).map_err(io)?;
        }
    }

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
    let as_scored = |v: &serde_json::Value| {
        let values: Vec<f32> =
            v.as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN) as f32).collect()).unwrap_or_default();
        let roc = evaluate::roc_curve(&values, &target.cases.labels);
        // Trees are scored at the map's cells only (no whole-grid map): no capture figures.
        Scored { values, capture: vec![f64::NAN; evaluate::CAPTURE_SHARES.len()], roc }
    };
    let mut rows: Rows =
        vec![("trees (HistGradientBoosting), source only".into(), 0, vec![as_scored(&preds["zero-shot"])])];
    for &n in d.events.iter().filter(|n| **n > 0) {
        for (key, name) in [("target-only", "trees, target only"), ("pooled", "trees, source + target pooled")] {
            let seeds: Vec<Scored> =
                preds[key][n.to_string()].as_object().map(|m| m.values().map(as_scored).collect()).unwrap_or_default();
            if !seeds.is_empty() {
                rows.push((name.into(), n, seeds));
            }
        }
    }
    Ok(rows)
}

/// One row per pixel: the input channels (empty where missing) and the label.
fn write_table(path: &Path, rows: Vec<(Vec<f32>, bool, usize)>) -> std::io::Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(std::io::Error::other)?;
    let mut header: Vec<String> = CHANNELS.iter().map(|c| c.to_string()).collect();
    header.push("label".into());
    w.write_record(&header).map_err(std::io::Error::other)?;
    for (row, label, _) in rows {
        let mut rec: Vec<String> =
            row.iter().map(|v| if v.is_finite() { v.to_string() } else { String::new() }).collect();
        rec.push((label as u8).to_string());
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

/// The report as Markdown tables.
pub fn markdown(r: &Report, d: &Design) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Target `{}` (source `{}`), test winters from {}: the map at {} events, each against {} controls (valid cells \
         uniform within {:.0} km, seed {}); {} scored cells. Seeds: {}. Wall time {:.0} s.\n",
        r.target,
        r.source,
        d.spec.held_back_from,
        r.test_events,
        r.map.controls,
        r.map.radius_m / 1000.0,
        r.map.seed,
        r.test_cells,
        d.seeds.len(),
        r.wall_seconds
    );
    let top = d.events.iter().copied().max().unwrap_or(0);
    let _ = writeln!(s, "| method | N | map ROC-AUC (mean ± sd over seeds) | 95% CI | events in top 10/20/30 % of release terrain | fine-tuned (frozen, N = {top}) minus this, 95% CI |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for c in &r.cells {
        let capture = if c.capture.iter().all(|v| v.is_finite()) {
            c.capture.iter().map(|v| format!("{:.0} %", 100.0 * v)).collect::<Vec<_>>().join(" / ")
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {capture} | {} |",
            c.method,
            if c.events == 0 { "-".into() } else { c.events.to_string() },
            mean_sd(&c.roc_auc),
            ci(c.roc_auc_ci95),
            ci(c.finetuned_minus_this_ci95)
        );
    }
    if let Some(p) = r.zero_shot_patch_level {
        let _ = writeln!(
            s,
            "\nTraining diagnostic, not a result: the source network's patch-level ROC-AUC on the target's held-back \
             training-style windows is {p:.3}."
        );
    }
    if let Some(dl) = &r.day_level {
        let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.3}"));
        let _ = writeln!(s, "\nDay-level skill on `{}`: accident days against all other December-April days of {} regions (nearest regional weather point), the daily product's hazard model (the day's weather and calendar), each of winters {} to {} scored by the model fitted on the others ({} region-days; bootstrap over days).\n", r.source, dl.regions, dl.winters.first().unwrap_or(&0), dl.winters.last().unwrap_or(&0), dl.days);
        let _ = writeln!(s, "| score | positives / days | ROC-AUC | 95% CI | PR-AUC |\n|---|---|---|---|---|");
        for (name, sc, c) in [
            ("hazard model", &dl.model, dl.model_roc_auc_ci95),
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
    let _ = writeln!(
        s,
        "\nIntervals resample test events (1000 replicates) on the seed-averaged values. With a few dozen test events, \
         AUC differences under about 0.04 are within noise."
    );
    s
}
