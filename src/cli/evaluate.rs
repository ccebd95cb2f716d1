//! `avarisk eval | predict | verify`: a bundle's map scored at held-back events, a map for one day, and the daily
//! product verified over held-back winters.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;

use super::{find_site, stage::stage_result, Ctx};
use crate::config::{Stage, HELD_BACK_FROM};
use crate::evaluate::{season, MapDesign};
use crate::ingest::observations;
use crate::pipeline::RunContext;
use crate::predict::PredictParams;
use crate::{experiments, train};

/// Seed of the control draw of `avarisk eval`.
const CONTROL_SEED: u64 = 7;
/// Last winter `avarisk verify` scores by default (2020/21, the last the bundled records hold).
const LAST_WINTER: i32 = 2020;

#[derive(Debug, Args)]
pub struct Eval {
    /// Controls per event.
    #[arg(long, default_value_t = crate::evaluate::DEFAULT_CONTROLS)]
    controls: usize,
    /// Radius of the disc the controls are drawn from, km.
    #[arg(long, default_value_t = crate::evaluate::DEFAULT_RADIUS_M / 1000.0)]
    radius_km: f64,
    /// Seed of the control draw.
    #[arg(long, default_value_t = CONTROL_SEED)]
    seed: u64,
    #[arg(long)]
    bundle: PathBuf,
    #[arg(long)]
    site: String,
    /// First held-back winter (the year of its October).
    #[arg(long, default_value_t = HELD_BACK_FROM)]
    from_winter: i32,
    /// Score the avalanche records of this file instead of the site's own (read with the column mapping of the
    /// site's first `[[observations]]` entry): a new winter is scored without retraining.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Only events from this day on.
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Only events up to this day (inclusive).
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Also write a report here: report.md, eval.json, roc.png, reliability.png (and learning_curve.png).
    #[arg(long)]
    report: Option<PathBuf>,
}

impl Eval {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let plan = ctx.plan()?;
        let window = (self.from_winter, self.from, self.to);
        let design = MapDesign { controls: self.controls, radius_m: self.radius_km * 1000.0, seed: self.seed };
        let e = match &self.events {
            None => train::evaluate(&plan, &ctx.store, &self.site, &self.bundle, window, &design)?,
            Some(file) => {
                let (summary, e) =
                    train::evaluate_records(&plan, &ctx.store, &self.site, file, &self.bundle, window, &design)?;
                println!("{}", summary.trim_end());
                e
            }
        };
        println!(
            "site {} from winter {}: {} events, {} controls each within {:.0} km (map level)",
            e.site,
            e.from_winter,
            e.events,
            e.design.controls,
            e.design.radius_m / 1000.0
        );
        for row in &e.rows {
            let ci = row.roc_auc_ci95.map(|(lo, hi)| format!("[{lo:.3}, {hi:.3}]")).unwrap_or_default();
            let capture: Vec<String> = row.capture.iter().map(|c| format!("{:.0}%", 100.0 * c)).collect();
            println!(
                "  {:<10} ROC-AUC {} {ci}  events in the top 10/20/30% of release terrain: {}",
                row.name,
                row.scores.roc_auc.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into()),
                capture.join("/")
            );
        }
        if let Some(p) = e.patch_level_roc_auc {
            println!("  (training diagnostic: patch-level ROC-AUC {p:.3} on training-style windows)");
        }
        if let Some(dir) = &self.report {
            println!("report: {}", experiments::report::write(&e, &self.bundle, dir)?.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, Args)]
pub struct Predict {
    #[arg(long)]
    site: String,
    #[arg(long)]
    date: NaiveDate,
    /// Bundle to use instead of the site's own (`<root>/bundles/<site>`).
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Write here instead of the store.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Window side in cells (multiple of 4).
    #[arg(long, default_value_t = PredictParams::default().tile)]
    tile: usize,
    /// Cells shared by neighbouring windows.
    #[arg(long, default_value_t = PredictParams::default().overlap)]
    overlap: usize,
    /// Monte Carlo dropout passes for a spread band (0 = off).
    #[arg(long, default_value_t = 0)]
    mc_passes: usize,
}

impl Predict {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let plan = ctx.plan()?;
        let s = find_site(&plan, &self.site)?;
        let params =
            PredictParams { tile: self.tile, overlap: self.overlap, mc_passes: self.mc_passes, ..Default::default() };
        let store = &ctx.store;
        let inputs = crate::predict::Inputs {
            dem: store.dem(&s.id),
            terrain: store.terrain(&s.id),
            weather: s.weather.as_ref().map(|_| store.weather_channels(&s.id, self.date)),
        };
        let bundle = self.bundle.clone().unwrap_or_else(|| store.bundle(&s.id));
        let dest = self.out.clone().unwrap_or_else(|| store.prediction(&s.id, self.date));
        let p = crate::predict::predict(&inputs, &bundle, self.date, &params, &dest, crate::model::device())?;
        println!("{p}");
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, Args)]
pub struct Verify {
    #[arg(long)]
    site: String,
    /// First and last winter (the year of their October).
    #[arg(long, default_value_t = HELD_BACK_FROM)]
    from_winter: i32,
    #[arg(long, default_value_t = LAST_WINTER)]
    to_winter: i32,
    /// Read weather from the cache and recorded answers only.
    #[arg(long)]
    offline: bool,
    /// Score the avalanche records of this file instead of the site's own (read with the column mapping of the
    /// site's first `[[observations]]` entry): later winters are verified without re-onboarding.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Also write a report here: verify.md, verify.json, reliability.png, season.png.
    #[arg(long)]
    report: Option<PathBuf>,
}

impl Verify {
    pub fn run(&self, ctx: &Ctx) -> anyhow::Result<ExitCode> {
        let winters = (self.from_winter, self.to_winter);
        let (from, to) = season::weather_window(winters.0, winters.1).context("winter out of range")?;
        let when = RunContext { date: to, from: Some(from), offline: self.offline };
        let plan = ctx.plan()?;
        let (site, stage, weather) =
            stage_result(&plan, &ctx.store, "daily", &self.site, Stage::Weather(Default::default()), &when)?;
        weather.with_context(|| format!("site `{site}`, stage `{stage}`"))?;
        let s = find_site(&plan, &self.site)?;
        let mut days = season::season(&plan, s, &ctx.store, winters.0, winters.1).map_err(anyhow::Error::msg)?;
        if let Some(file) = &self.events {
            let (events, reports, _) = observations::read_events(&observations::with_records(s, file)?)?;
            reports.iter().for_each(|r| print!("{r}"));
            days.events = season::of_winters(events, winters.0, winters.1);
        }
        let v = season::verify(&days);
        print!("{}", season::markdown(&v, &s.id, winters));
        if v.same_cell.events == 0 {
            println!(
                "note: the records hold no event of winters {}/{:02} to {}/{:02} on the site's grid: nothing to score \
                 the map against; pass those winters' records with `--events FILE`",
                winters.0,
                (winters.0 + 1) % 100,
                winters.1,
                (winters.1 + 1) % 100
            );
        }
        if let Some(dir) = &self.report {
            println!("report: {}", experiments::report::write_season(&v, &s.id, winters, dir)?.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}
