//! Matched case-control patches on the real western-Tyrol site (LAWIS incidents on SRTM terrain).
use super::*;
use avarisk::dataset::{self, SamplingParams, CHANNELS};
use avarisk::store::Store;

/// Onboards a bundled site into a temporary output root: DEM, terrain and observations, without the `model` stage
/// (tests train their own small models). The project is the repo's sites with the onboard pipeline cut before it.
pub fn onboarded(site: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("project");
    std::fs::create_dir_all(project.join("pipelines")).unwrap();
    std::os::unix::fs::symlink(repo().join("sites"), project.join("sites")).unwrap();
    let onboard = std::fs::read_to_string(repo().join("pipelines/onboard.toml")).unwrap();
    let cut = onboard.find("[[stages]]\nstage = \"model\"").expect("onboard.toml has a model stage");
    std::fs::write(project.join("pipelines/onboard.toml"), &onboard[..cut]).unwrap();
    let o = avarisk(&project, &["--root", root.path().to_str().unwrap(), "run", "onboard", "--sites", site]);
    assert!(o.status.success(), "{}", text(&o));
    root
}

#[test]
fn patches_hold_an_event_and_its_negatives_with_shared_weather() {
    let root = onboarded("tyrol-west");
    let plan = avarisk::config::load(&repo()).unwrap();
    let site = plan.site("tyrol-west").unwrap();
    let params = SamplingParams::default();
    let s = dataset::build(site, &Store::new(root.path()), &params).unwrap();
    let (p, c) = (params.patch, CHANNELS.len());
    assert_eq!(s.events.len(), 298);
    assert!(s.len() > 500 && s.len() <= 2 * 298, "{} patches", s.len());
    assert_eq!(s.x.len(), s.len() * c * p * p);

    let pp = p * p;
    let (mut pos, mut neg) = (0, 0);
    for i in 0..s.len() {
        for k in 0..pp {
            if s.mask[i * pp + k] > 0.0 {
                if s.y[i * pp + k] > 0.5 {
                    pos += 1
                } else {
                    neg += 1
                }
                for ch in 0..11 {
                    assert!(s.x[(i * c + ch) * pp + k].is_finite(), "labelled pixel with invalid terrain");
                }
            }
        }
        // Weather channels are constant over a patch (the event's day).
        let t = &s.x[(i * c + 11) * pp..(i * c + 12) * pp];
        assert!(t.iter().all(|v| v.to_bits() == t[0].to_bits()));
    }
    assert!(pos > 298 && neg > 4 * 298, "positives {pos}, negatives {neg}");
    // Splits by winter keep every event's patches together.
    let test = s.by_winter(|w| w >= 2018);
    let train = s.by_winter(|w| w < 2018);
    assert_eq!(test.len() + train.len(), s.len());
    for i in &test {
        assert!(train.iter().all(|j| s.event[*j] != s.event[*i]));
    }
    // Deterministic for a seed.
    let again = dataset::build(site, &Store::new(root.path()), &params).unwrap();
    assert_eq!(again.mask, s.mask);
    let (mean, std) = s.subset(&train).channel_stats();
    assert!(mean[0] > 1500.0 && mean[0] < 3000.0, "elevation of labelled pixels {}", mean[0]);
    assert!(std.iter().all(|v| *v > 0.0));
}

#[test]
fn day_level_skill_uses_temporal_negatives_on_the_swiss_regions() {
    let root = onboarded("swiss-alps");
    let plan = avarisk::config::load(&repo()).unwrap();
    let skill = avarisk::train::experiment::day_level(&plan, &Store::new(root.path()), "swiss-alps")
        .unwrap()
        .expect("regional weather is bundled");
    assert_eq!(skill.regions, 15);
    assert!(skill.test_days > 15 * 140 && skill.train_days > 2 * skill.test_days, "{skill:?}");
    // Accident days are rare among region-days: temporal negatives dominate.
    assert!(skill.model.positives > 50 && skill.model.positives * 10 < skill.model.n, "{:?}", skill.model);
    let auc = skill.model.roc_auc.unwrap();
    eprintln!("day-level ROC-AUC {auc:.3} (72 h new snow alone {:?})", skill.new_snow_72h.roc_auc);
    assert!((0.0..=1.0).contains(&auc));
}

#[test]
fn temporal_negatives_fall_on_quiet_days_and_take_regional_weather_on_both_sides() {
    use avarisk::dataset::days::{load_regional_rows, RegionalWeather, REGIONAL_DIR};
    use avarisk::dataset::{winter_of, PatchKind};
    use chrono::Datelike;

    let root = onboarded("swiss-alps");
    let plan = avarisk::config::load(&repo()).unwrap();
    let site = plan.site("swiss-alps").unwrap();
    let store = Store::new(root.path());
    let params = SamplingParams { temporal_negatives: 3, ..SamplingParams::default() };
    let s = dataset::build(site, &store, &params).unwrap();
    let (c, pp, res) = (CHANNELS.len(), params.patch * params.patch, site.grid.res_x());
    let channel = |i: usize, name: &str| {
        let ch = CHANNELS.iter().position(|n| *n == name).unwrap();
        s.x[(i * c + ch) * pp]
    };

    // The regional exports, read independently; the nearest point of each event in WGS84.
    let weather = RegionalWeather::from_rows(&load_regional_rows(&site.dir.join(REGIONAL_DIR)).unwrap().unwrap());
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = s.events.iter().map(|e| (e.x, e.y)).unzip();
    site.grid.crs.transform_points(&avarisk::geo::Crs::wgs84(), &mut xs, &mut ys).unwrap();
    let (dem, w, _, _) = read_band(&store.dem("swiss-alps"), 1);
    let t_at = |point: usize, day| weather.points[point].days[&day].t_mean_c.unwrap();

    let temporal: Vec<usize> = (0..s.len()).filter(|&i| s.kind[i] == PatchKind::Temporal).collect();
    assert!(temporal.len() > 3 * 300, "{} temporal negatives", temporal.len());
    for &i in &temporal {
        let k = s.event[i];
        let e = &s.events[k];
        // Labelled negative everywhere, on another December-April day of the event's winter.
        assert!((0..pp).all(|j| s.y[i * pp + j] == 0.0) && s.mask[i * pp..(i + 1) * pp].iter().any(|m| *m > 0.0));
        assert!(s.day[i] != e.date && s.winter[i] == winter_of(e.date) && winter_of(s.day[i]) == s.winter[i]);
        assert!(matches!(s.day[i].month(), 12 | 1..=4), "{}", s.day[i]);
        // No recorded accident within the radius on that day.
        for o in s.events.iter().filter(|o| o.date == s.day[i]) {
            let d = ((o.col as f64 - e.col as f64) * res).hypot((o.row as f64 - e.row as f64) * res);
            assert!(d > params.context_radius_m, "{} on {} lies {d:.0} m from {}", o.id, o.date, e.id);
        }
        // Weather from the regional exports: the nearest point's air temperature of that day carried to the start
        // zone with the lapse rate; the variables the exports lack are missing.
        let point = weather.nearest((xs[k], ys[k])).unwrap();
        let z = dem[e.row * w + e.col] as f64;
        let expected = t_at(point, s.day[i]) - 6.5 * (z - weather.points[point].elevation_m) / 1000.0;
        assert!((channel(i, "t_mean_c") as f64 - expected).abs() < 1e-3, "{} vs {expected}", channel(i, "t_mean_c"));
        assert!(channel(i, "snow_depth_cm").is_nan() && channel(i, "wind_speed_ms").is_nan());
        assert!(s.regional[i]);
        // The same pixels as the event's own patch, whose weather comes from the same source on the event day.
        let own = (0..s.len()).find(|&j| s.event[j] == k && s.kind[j] == PatchKind::Event).unwrap();
        assert_eq!(s.mask[own * pp..(own + 1) * pp], s.mask[i * pp..(i + 1) * pp]);
        assert_eq!(s.x[own * c * pp..(own * c + 11) * pp], s.x[i * c * pp..(i * c + 11) * pp]);
        assert!(s.regional[own] && s.day[own] == e.date);
        let expected = t_at(point, e.date) - 6.5 * (z - weather.points[point].elevation_m) / 1000.0;
        assert!((channel(own, "t_mean_c") as f64 - expected).abs() < 1e-3);
    }
    // Every patch of an event that takes part is on the regional source; events before the exports keep the
    // weather recorded with them (IMIS station means), and no event mixes the two.
    for k in 0..s.events.len() {
        let mine: Vec<usize> = (0..s.len()).filter(|&i| s.event[i] == k).collect();
        assert!(mine.iter().all(|&i| s.regional[i] == s.regional[mine[0]]), "event {k} mixes weather sources");
    }
    let old = (0..s.len()).filter(|&i| s.events[s.event[i]].date.year() < 2018).collect::<Vec<_>>();
    assert!(!old.is_empty() && old.iter().all(|&i| !s.regional[i] && s.kind[i] != PatchKind::Temporal));
    assert!(old.iter().any(|&i| channel(i, "snow_depth_cm").is_finite()), "IMIS snow depth kept");
    // Blocked by winter: a split never separates an event from its temporal negatives.
    let held = s.by_winter(|w| w >= 2019);
    let train: std::collections::BTreeSet<usize> = s.by_winter(|w| w < 2019).iter().map(|&i| s.event[i]).collect();
    assert!(held.iter().all(|i| !train.contains(&s.event[*i])));
    // Off: no temporal patch and the recorded weather everywhere.
    let off = dataset::build(site, &store, &SamplingParams { temporal_negatives: 0, ..params.clone() }).unwrap();
    assert!(off.kind.iter().all(|k| *k != PatchKind::Temporal) && off.regional.iter().all(|r| !r));
}
