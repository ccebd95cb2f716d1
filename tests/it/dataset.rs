//! Training windows on the real western-Tyrol site (LAWIS incidents on SRTM terrain).
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
fn windows_tile_the_area_with_labels_of_their_own_events_only_and_no_position_signal() {
    let root = onboarded("tyrol-west");
    let plan = avarisk::config::load(&repo()).unwrap();
    let site = plan.site("tyrol-west").unwrap();
    let params = SamplingParams::default();
    let before = |e: &avarisk::ingest::observations::Event| dataset::winter_of(e.date) < 2018;
    let s = dataset::build(site, &Store::new(root.path()), &params, &before).unwrap();
    let (p, c, m) = (params.patch, CHANNELS.len(), params.context);
    assert_eq!(s.events.len(), 298);
    assert!(s.len() > 20, "{} windows", s.len());
    assert_eq!(s.x.len(), s.len() * c * p * p);

    let zones = dataset::sample::start_zones(&s.events, site.grid.res_x(), 135.0);
    let pp = p * p;
    let (mut pos, mut neg) = (0, 0);
    // Positive and negative counts per distance from the window's edge: labels must not depend on position.
    let mut by_ring = vec![(0usize, 0usize); p / 2];
    for i in 0..s.len() {
        let (c0, r0) = s.origin[i];
        for k in 0..pp {
            let (r, col) = (k / p, k % p);
            let ring = r.min(col).min(p - 1 - r).min(p - 1 - col);
            if s.mask[i * pp + k] == 0.0 {
                continue;
            }
            assert!(ring >= m, "a label in the context margin");
            for ch in 0..c {
                assert!(s.x[(i * c + ch) * pp + k].is_finite(), "labelled pixel with invalid terrain");
            }
            let reaching = zones.get(&(c0 + col, r0 + r));
            if s.y[i * pp + k] > 0.5 {
                pos += 1;
                by_ring[ring].0 += 1;
                // A positive is a start zone of a training winter's event, never only a held-back one's.
                let ks = reaching.expect("a positive lies on a start zone");
                assert!(ks.iter().any(|k| before(&s.events[*k])), "positive from a held-back event");
            } else {
                neg += 1;
                by_ring[ring].1 += 1;
                assert!(reaching.is_none(), "a negative on a recorded start zone");
            }
        }
    }
    assert!(pos > 500 && neg > 200 * pos, "positives {pos}, negatives {neg}");
    let half = m + params.labelled() / 4;
    let rate = |rings: std::ops::Range<usize>| {
        let (a, b) = rings.map(|r| by_ring[r]).fold((0, 0), |acc, x| (acc.0 + x.0, acc.1 + x.1));
        a as f64 / (a + b) as f64
    };
    let (outer, inner) = (rate(m..half), rate(half..p / 2));
    assert!(outer > 0.5 * inner && outer < 2.0 * inner, "positive rate outer {outer:.5}, inner {inner:.5}");
    // Deterministic for a seed.
    let again = dataset::build(site, &Store::new(root.path()), &params, &before).unwrap();
    assert_eq!((again.mask, again.origin), (s.mask.clone(), s.origin.clone()));
    let (mean, std) = s.channel_stats();
    assert!(mean[0] > 1200.0 && mean[0] < 3000.0, "elevation of labelled pixels {}", mean[0]);
    assert!(std.iter().all(|v| *v > 0.0));
}

#[test]
fn day_level_skill_uses_temporal_negatives_on_the_swiss_regions() {
    let root = onboarded("swiss-alps");
    let plan = avarisk::config::load(&repo()).unwrap();
    let skill = avarisk::experiments::transfer::day_level(&plan, &Store::new(root.path()), "swiss-alps")
        .unwrap()
        .expect("regional weather is bundled");
    // 15 canton exports, Obwalden's on Nidwalden's grid point: 14 regions.
    assert_eq!(skill.regions, 14);
    // Winters 2017/18 (January-April: the exports start in 2018) to 2020/21, the last the records reach.
    assert_eq!(skill.winters, vec![2017, 2018, 2019, 2020], "{skill:?}");
    assert!(skill.days > 14 * 4 * 110, "{skill:?}");
    // Accident days are rare among region-days: temporal negatives dominate.
    assert!(skill.model.positives > 50 && skill.model.positives * 10 < skill.model.n, "{:?}", skill.model);
    let auc = skill.model.roc_auc.unwrap();
    eprintln!("day-level ROC-AUC {auc:.4} (72 h new snow alone {:?})", skill.new_snow_72h.roc_auc);
    assert!((0.0..=1.0).contains(&auc));
}
