//! Daily means daily, on the real western-Tyrol site (its own network and hazard, trained briefly): the published
//! map and its alert follow the day's hazard, a range writes the season, and `verify` scores whole winters.
use super::*;

/// A project holding western Tyrol as a source site (its own records train its network and hazard), with the
/// repository's pipelines, the network trained for one epoch.
fn tyrol_source_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (sites, site) = (dir.path().join("sites"), dir.path().join("sites/tyrol-west"));
    std::fs::create_dir_all(&site).unwrap();
    std::os::unix::fs::symlink(repo().join("sites/_shared"), sites.join("_shared")).unwrap();
    for sub in ["observations", "weather"] {
        std::os::unix::fs::symlink(repo().join("sites/tyrol-west").join(sub), site.join(sub)).unwrap();
    }
    let toml = std::fs::read_to_string(repo().join("sites/tyrol-west/site.toml")).unwrap();
    let toml = toml.replace("from = \"swiss-alps\"\nmode = \"freeze\"\n", "");
    assert!(!toml.contains("swiss-alps\""), "the site no longer names a source");
    std::fs::write(site.join("site.toml"), toml).unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    for name in ["onboard.toml", "daily.toml"] {
        let text = std::fs::read_to_string(repo().join("pipelines").join(name)).unwrap();
        std::fs::write(dir.path().join("pipelines").join(name), text.replace("epochs = 10", "epochs = 1")).unwrap();
    }
    dir
}

/// Western Tyrol's records file (header kept) with the rows dated before `day` only.
fn records_before(day: &str) -> String {
    let text =
        std::fs::read_to_string(repo().join("sites/tyrol-west/observations/incidents_tirol_processed.csv")).unwrap();
    let date_col = text.lines().next().unwrap().split(',').position(|c| c == "date").unwrap();
    text.lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.split(',').nth(date_col).is_some_and(|d| d < day))
        .map(|(_, l)| format!("{l}\n"))
        .collect()
}

#[test]
fn the_published_map_and_its_alert_follow_the_day_and_a_range_writes_the_season() {
    let project = tyrol_source_project();
    let root = project.path().join("out");
    let r = root.to_str().unwrap();
    let run = |args: &[&str]| {
        let o = avarisk(project.path(), &[&["--root", r], args].concat());
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let out = run(&["run", "onboard", "--sites", "tyrol-west"]);
    assert!(out.contains("hazard model (tyrol-west:"), "{out}");
    // Late January 2021: a storm cycle, then quieter days.
    let out =
        run(&["run", "daily", "--from", "2021-01-26", "--to", "2021-02-03", "--offline", "--sites", "tyrol-west"]);
    let season = root.join("published/tyrol-west/season.csv");
    assert!(
        out.contains("season of tyrol-west")
            && season.exists()
            && root.join("published/tyrol-west/season.png").exists()
    );
    let csv = std::fs::read_to_string(&season).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 9, "{csv}");
    let hazard: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let threshold: f64 = rows[0][2].parse().unwrap();
    let (lo, hi) = hazard.iter().fold((f64::MAX, 0f64), |(a, b), h| (a.min(*h), b.max(*h)));
    assert!(hi > 2.0 * lo, "the hazard changes with the day: {hazard:?}");
    let class1 = |i: usize| rows[i][3].parse::<f64>().unwrap();
    let (quiet, stormy) = (
        hazard.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).unwrap().0,
        hazard.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0,
    );
    assert!(class1(quiet) > class1(stormy), "more of the site in class 1 on the quiet day: {csv}");
    assert!(class1(quiet) > 0.9, "a quiet day is mostly class 1: {csv}");
    // An alert (Alert or Update) exactly on the days at or above the threshold, a Cancel the day after the last.
    for (i, row) in rows.iter().enumerate() {
        let active = matches!(row[8], "Alert" | "Update");
        assert_eq!(active, hazard[i] >= threshold, "day {} ({csv})", row[0]);
        let cap = root.join("published/tyrol-west").join(row[0]).join("alert.cap.xml");
        assert_eq!(cap.exists(), !row[8].is_empty(), "{}", row[0]);
        if i > 0 && row[8] == "Cancel" {
            assert!(hazard[i - 1] >= threshold && hazard[i] < threshold);
        }
    }
    let xml = std::fs::read_to_string(root.join("published/tyrol-west").join(rows[stormy][0]).join("alert.cap.xml"));
    if hazard[stormy] >= threshold {
        let xml = xml.unwrap();
        let headline = xml.split("<headline>").nth(1).unwrap().split("</headline>").next().unwrap();
        assert!(
            headline.starts_with("Avalanche hazard above the alert threshold") && !headline.contains("EAWS"),
            "{xml}"
        );
        assert!(xml.contains("avarisk risk class") && !xml.contains("Extreme"), "{xml}");
    }
}

#[test]
fn verify_scores_the_daily_product_over_a_winter_and_prints_the_class_table() {
    let project = tyrol_source_project();
    let root = project.path().join("out");
    let r = root.to_str().unwrap();
    let o = avarisk(project.path(), &["--root", r, "run", "onboard", "--sites", "tyrol-west"]);
    assert!(o.status.success(), "{}", text(&o));
    let report = root.join("verify");
    let args = ["--root", r, "verify", "--site", "tyrol-west", "--from-winter", "2020", "--to-winter", "2020"];
    let o = avarisk(project.path(), &[&args[..], &["--offline", "--report", report.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("Same-cell test") && out.contains("[danger]\nthresholds = ["), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("verify.json")).unwrap()).unwrap();
    assert_eq!(v["days"], 151, "December 2020 to April 2021");
    let same = v["same_cell"]["map"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&same) && v["same_cell"]["events"].as_u64().unwrap() > 5, "{v}");
    let share = v["alerts"]["alert_share"].as_f64().unwrap();
    assert!(share > 0.05 && share < 0.8, "{v}");
    let t: Vec<f64> = v["class_thresholds"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert!(t.windows(2).all(|w| w[0] < w[1]) && t[0] > 0.0, "{t:?}");
    // Calibrated in the large: summed over the winter's cell-days, the map expects about the releases recorded.
    let (expected, observed) = (v["expected_events"].as_f64().unwrap(), v["observed_events"].as_f64().unwrap());
    eprintln!("releases expected {expected:.1}, recorded {observed}");
    assert!(expected > observed / 2.0 && expected < observed * 2.0, "{expected} expected, {observed} recorded");
    // Classes begin at the top 5 / 1 / 0.2 / 0.05 % of cell-days: quiet days are class 1 almost everywhere.
    assert!(v["class_shares_quiet"][0].as_f64().unwrap() > 0.95, "{v}");
    for png in ["reliability.png", "season.png"] {
        assert!(report.join(png).exists());
    }
    // Records of another file (a later winter's, as a user would score one): read with the site's own mapping, the
    // site's store untouched. The site's own file gives the same verification; the part before February fewer events.
    let events_table = std::fs::read(root.join("sites/tyrol-west/observations/events.parquet")).unwrap();
    let records = repo().join("sites/tyrol-west/observations/incidents_tirol_processed.csv");
    let with_events = |file: &Path, dir: &str| {
        let json = root.join(dir).join("verify.json");
        let extra =
            ["--offline", "--events", file.to_str().unwrap(), "--report", json.parent().unwrap().to_str().unwrap()];
        let o = avarisk(project.path(), &[&args[..], &extra].concat());
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(json).unwrap()).unwrap()
    };
    assert_eq!(with_events(&records, "verify-file")["same_cell"], v["same_cell"]);
    let early_file = project.path().join("early.csv");
    std::fs::write(&early_file, records_before("2021-02-01")).unwrap();
    let early_events = with_events(&early_file, "verify-early")["same_cell"]["events"].as_u64().unwrap();
    let all_events = v["same_cell"]["events"].as_u64().unwrap();
    assert!(early_events > 0 && early_events < all_events, "{early_events} of {all_events}");
    assert_eq!(std::fs::read(root.join("sites/tyrol-west/observations/events.parquet")).unwrap(), events_table);
    // A site whose weather the store lacks for a winter is refused with the command to run.
    let o = avarisk(
        project.path(),
        &["--root", r, "verify", "--site", "tyrol-west", "--from-winter", "2030", "--to-winter", "2030", "--offline"],
    );
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
}

/// The hazard that scores a winter in `avarisk verify` never saw that winter's records: fitted without winter
/// 2020/21, it is exactly the model fitted on a store whose records stop before that winter; fitted with them, it
/// differs (they count).
#[test]
fn the_hazard_that_verifies_a_winter_never_saw_its_records() {
    use avarisk::hazard::site::{fit_site, for_winter};
    let (all, earlier) = (tyrol_source_project(), tyrol_source_project());
    // The second project's records stop at the end of winter 2019/20.
    let kept = records_before("2020-10-01");
    let obs = earlier.path().join("sites/tyrol-west/observations");
    std::fs::remove_file(&obs).unwrap();
    std::fs::create_dir(&obs).unwrap();
    std::fs::write(obs.join("incidents_tirol_processed.csv"), kept).unwrap();
    let stores: Vec<_> = [&all, &earlier]
        .iter()
        .map(|p| {
            let records_only =
                "description = \"records\"\n[[stages]]\nstage = \"dem\"\n[[stages]]\nstage = \"observations\"\n";
            std::fs::write(p.path().join("pipelines/records.toml"), records_only).unwrap();
            let root = p.path().join("out");
            let o = avarisk(p.path(), &["--root", root.to_str().unwrap(), "run", "records", "--sites", "tyrol-west"]);
            assert!(o.status.success(), "{}", text(&o));
            let plan = avarisk::config::load(p.path()).unwrap_or_else(|r| panic!("{r}"));
            (plan, avarisk::store::Store::new(root))
        })
        .collect();
    let site = |i: usize| stores[i].0.site("tyrol-west").unwrap();
    let published = fit_site(&stores[0].0, site(0), &stores[0].1, None).unwrap();
    assert_eq!(published.winters, vec![2017, 2018, 2019, 2020], "{}", published.fitted_on);
    let left_out = for_winter(&stores[0].0, site(0), &stores[0].1, &published, 2020).unwrap();
    let never_saw = fit_site(&stores[1].0, site(1), &stores[1].1, None).unwrap();
    assert_eq!(never_saw.winters, vec![2017, 2018, 2019]);
    assert_eq!((left_out.bias, &left_out.weights), (never_saw.bias, &never_saw.weights), "{}", left_out.fitted_on);
    assert_eq!(left_out.alert_threshold, never_saw.alert_threshold);
    assert!((published.bias - left_out.bias).abs() > 1e-6, "the 2020/21 records count when they are included");
    // A winter the model was not fitted on is scored by the published model itself.
    assert_eq!(for_winter(&stores[0].0, site(0), &stores[0].1, &published, 2021).unwrap(), published);
}

/// A project holding the bundled Swiss source and western Tyrol as its target, with western Tyrol's records
/// replaced by `tyrol_records`, its records (and the source's) read into `<project>/out`.
fn carried_project(tyrol_records: &str) -> (tempfile::TempDir, avarisk::config::Plan, avarisk::store::Store) {
    let dir = tempfile::tempdir().unwrap();
    let sites = dir.path().join("sites");
    std::fs::create_dir_all(sites.join("tyrol-west/observations")).unwrap();
    for s in ["_shared", "swiss-alps"] {
        std::os::unix::fs::symlink(repo().join("sites").join(s), sites.join(s)).unwrap();
    }
    std::os::unix::fs::symlink(repo().join("sites/tyrol-west/weather"), sites.join("tyrol-west/weather")).unwrap();
    std::fs::copy(repo().join("sites/tyrol-west/site.toml"), sites.join("tyrol-west/site.toml")).unwrap();
    let obs = sites.join("tyrol-west/observations/incidents_tirol_processed.csv");
    std::fs::write(obs, tyrol_records).unwrap();
    std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
    let records = "description = \"records\"\n[[stages]]\nstage = \"dem\"\n[[stages]]\nstage = \"observations\"\n";
    std::fs::write(dir.path().join("pipelines/records.toml"), records).unwrap();
    let root = dir.path().join("out");
    let o = avarisk(dir.path(), &["--root", root.to_str().unwrap(), "run", "records"]);
    assert!(o.status.success(), "{}", text(&o));
    let plan = avarisk::config::load(dir.path()).unwrap_or_else(|r| panic!("{r}"));
    (dir, plan, avarisk::store::Store::new(root))
}

/// A target's weekend weight is read off its own records, not carried from the source: western Tyrol's incident
/// days are no busier on weekends (29 %, as the calendar), the Swiss accident days are (39 %); its weather weights
/// stay the source's. With the weekday records of its early winters removed, the weight follows the records.
#[test]
fn a_target_reads_its_weekend_weight_off_its_own_records() {
    use avarisk::hazard::site::fit_site;
    use avarisk::hazard::WEEKEND;
    use chrono::Datelike;
    let all =
        std::fs::read_to_string(repo().join("sites/tyrol-west/observations/incidents_tirol_processed.csv")).unwrap();
    let date_col = all.lines().next().unwrap().split(',').position(|c| c == "date").unwrap();
    let busy: String = all
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            let day = l
                .split(',')
                .nth(date_col)
                .and_then(|d| d.get(..10).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()));
            *i == 0 || day.is_some_and(|d| d.year() >= 2017 || d.weekday().number_from_monday() >= 6)
        })
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let fit = |records: &str| {
        let (_dir, plan, store) = carried_project(records);
        // Fitted without winter 2020/21: the source is then re-fitted here rather than read from its hazard.json.
        let source = fit_site(&plan, plan.site("swiss-alps").unwrap(), &store, Some(2020)).unwrap();
        let target = fit_site(&plan, plan.site("tyrol-west").unwrap(), &store, Some(2020)).unwrap();
        (source, target)
    };
    let (source, target) = fit(&all);
    assert!(source.weights[WEEKEND] > 0.15, "{} {}", source.weights[WEEKEND], source.fitted_on);
    assert!(target.weights[WEEKEND].abs() < 0.1, "{}", target.fitted_on);
    for (i, (s, t)) in source.weights.iter().zip(&target.weights).enumerate() {
        assert!(i == WEEKEND || s == t, "weight {i}: {s} vs {t}");
    }
    let (_, busier) = fit(&busy);
    assert!(busier.weights[WEEKEND] > target.weights[WEEKEND] + 0.3, "{}", busier.fitted_on);
}
