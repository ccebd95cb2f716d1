//! Matched case-control patches on the real western-Tyrol site (LAWIS incidents on SRTM terrain).
use super::*;
use avarisk::dataset::{self, SamplingParams, CHANNELS};
use avarisk::store::Store;

/// Onboards a bundled site (DEM, terrain, observations) into a temporary output root.
pub fn onboarded(site: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let o = avarisk(&repo(), &["--root", root.path().to_str().unwrap(), "run", "onboard", "--sites", site]);
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
