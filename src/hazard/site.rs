//! A site's hazard model, fitted from its store: what onboarding publishes (`<root>/sites/<site>/hazard.json`) and
//! what `avarisk verify` scores a winter with.
//!
//! * A **source** site's model is fitted on its region-days of every winter its records span (within its regional
//!   exports): more winters of storms and quiet spells than any single one, and the most a forecast for a later
//!   winter can learn from.
//! * A **target** site's model is its source's, standardised by the target's own climatology, with its weekend
//!   weight read off the target's records of every winter they span ([`super::weekend_fit`]), then the intercept
//!   (and the releases per accident day) re-fitted on the target's region-days of the winters its records span
//!   (each when they hold enough accident days).
//! * **Verifying a winter the model was fitted on** uses the model fitted *without* that winter (`without`): left
//!   out of the source's fit and of the target's intercept, so every verified day is scored by a model that never
//!   saw its records. `tests/it/daily_hazard.rs` checks that this model does not change when the winter's records
//!   are deleted from the store.
//!
//! The alert threshold is set on the site's climatology days (weather only, no record): the hazard reached on
//! [`super::ALERT_SHARE`] of them.
use crate::config::{Plan, Site, WeatherSource};
use crate::dataset::days::{site_days, Days, REGIONAL_DIR};
use crate::dataset::winter_of;
use crate::store::Store;

use super::{
    refit_intercept, site_days_hazard, threshold_for_share, weekend_fit, Climatology, HazardError, HazardModel,
    WeekendFit, WEEKEND,
};

/// The days of the site's records.
fn record_days(site: &Site, store: &Store) -> Result<Vec<chrono::NaiveDate>, HazardError> {
    let events = crate::ingest::observations::load_events(&store.events(&site.id))
        .map_err(|e| HazardError::Data(format!("{e}; ingest the site's records first (`avarisk run onboard`)")))?;
    Ok(events.iter().map(|e| e.date).collect())
}

/// The winters (year of their October) of `days`, first and last.
fn winter_span(days: &[chrono::NaiveDate]) -> Option<(i32, i32)> {
    let winters = days.iter().map(|d| winter_of(*d));
    winters.clone().min().zip(winters.max())
}

/// The weekend weight read off the record days `records` of the winters of `span` other than `without`.
fn record_weekend(
    records: &[chrono::NaiveDate],
    span: Option<(i32, i32)>,
    without: Option<i32>,
    std: f64,
) -> Option<WeekendFit> {
    let winters: Vec<i32> = span.map(|(a, b)| (a..=b).filter(|w| Some(*w) != without).collect()).unwrap_or_default();
    weekend_fit(records, &winters, std)
}

/// "40 % of 1360 accident days on weekends" for people.
fn weekend_text(fit: &WeekendFit) -> String {
    format!("{:.0} % of {} accident days on weekends", 100.0 * fit.weekend_share, fit.accident_days)
}

/// The region-days of `days` in the winters `span` other than `without`.
fn used(days: &Days, span: (i32, i32), without: Option<i32>) -> Vec<usize> {
    let keep = |w: i32| (span.0..=span.1).contains(&w) && Some(w) != without;
    (0..days.y.len()).filter(|&i| keep(days.winter[i])).collect()
}

/// "2017/18 to 2020/21" for the winters of `idx`.
fn winters_text(days: &Days, idx: &[usize]) -> (Vec<i32>, String) {
    let mut w: Vec<i32> = idx.iter().map(|&i| days.winter[i]).collect();
    w.sort_unstable();
    w.dedup();
    let name = |y: i32| format!("{y}/{:02}", (y + 1) % 100);
    let text = match (w.first(), w.last()) {
        (Some(a), Some(b)) if a == b => name(*a),
        (Some(a), Some(b)) => format!("{} to {}", name(*a), name(*b)),
        _ => "no winter".into(),
    };
    (w, text)
}

fn left_out(without: Option<i32>) -> String {
    without.map(|w| format!(", winter {w}/{:02} left out", (w + 1) % 100)).unwrap_or_default()
}

/// The site of `plan` that `site`'s model comes from (`[model] from`), if any.
fn source_of<'a>(plan: &'a Plan, site: &Site) -> Result<Option<&'a Site>, HazardError> {
    let Some(id) = site.model.as_ref().and_then(|m| m.from.as_deref()) else { return Ok(None) };
    let source = plan
        .site(id)
        .ok_or_else(|| HazardError::Data(format!("site `{}`: its source `{id}` is not configured", site.id)))?;
    Ok(Some(source))
}

/// The hazard model of `site` of `plan` (see the module doc), with `without` a winter left out of every fit. Without
/// `without`, a target starts from its source's published model; with it, the source's model is re-fitted without
/// that winter too.
pub fn fit_site(plan: &Plan, site: &Site, store: &Store, without: Option<i32>) -> Result<HazardModel, HazardError> {
    let source = source_of(plan, site)?;
    let days = site_days(site, store).map_err(|e| HazardError::Data(e.to_string()))?;
    let climatology = days.as_ref().and_then(|(d, _)| Climatology::of(d));
    let records = record_days(site, store)?;
    let span = winter_span(&records);
    let mut model = match source {
        None => {
            let (Some((days, _)), Some(climatology)) = (&days, climatology) else {
                return Err(HazardError::Empty(format!(
                    "{}: a source site needs regional daily weather ({}/*.csv) to fit its day-level hazard",
                    site.dir.display(),
                    REGIONAL_DIR
                )));
            };
            let idx = span.map(|s| used(days, s, without)).unwrap_or_default();
            if !idx.iter().any(|&i| days.y[i]) {
                return Err(HazardError::Empty(format!(
                    "no accident day of `{}` in its regional weather{}",
                    site.id,
                    left_out(without)
                )));
            }
            let (winters, text) = winters_text(days, &idx);
            let weekend = record_weekend(&records, span, without, climatology.std[WEEKEND]);
            let m = HazardModel::fit(days, &idx, climatology, String::new());
            let fitted_on = format!(
                "{}: {} region-days of winters {text} ({} with a recorded accident, {:.2} releases on each){}; its \
                 records: {}",
                site.id,
                idx.len(),
                idx.iter().filter(|&&i| days.y[i]).count(),
                m.releases_per_accident_day,
                left_out(without),
                weekend.map_or("too few accident days for a weekend share".into(), |w| weekend_text(&w))
            );
            HazardModel { winters, fitted_on, ..m }
        }
        Some(source) => {
            let parent = match without {
                None => HazardModel::load(&store.hazard(&source.id))?,
                Some(_) => fit_site(plan, source, store, without)?,
            };
            let mut m = parent.for_site(climatology.unwrap_or_else(|| parent.climatology.clone()));
            let weekend = record_weekend(&records, span, without, m.climatology.std[WEEKEND]);
            if let Some(w) = weekend {
                m.weights[WEEKEND] = w.weight;
            }
            let own = days.as_ref().zip(span).map(|((d, _), s)| (d, used(d, s, without)));
            let refit = own.as_ref().and_then(|(d, idx)| refit_intercept(&m, d, idx));
            if let (Some(b), Some((d, idx))) = (refit, own.as_ref()) {
                m.bias = b;
                m.releases_per_accident_day =
                    super::releases_per_accident_day(d, idx).unwrap_or(parent.releases_per_accident_day);
                let (own_winters, _) = winters_text(d, idx);
                m.winters.extend(own_winters);
                m.winters.sort_unstable();
                m.winters.dedup();
            }
            m.fitted_on = format!(
                "{}, carried to {} ({}; weekend weight {}; intercept {})",
                parent.fitted_on,
                site.id,
                if days.is_some() {
                    "the site's own climatology"
                } else {
                    "no regional weather: the source's climatology"
                },
                weekend.map_or("the source's: too few accident days to re-fit".into(), |w| format!(
                    "{:.3} from the site's records, {} of winters {}",
                    w.weight,
                    weekend_text(&w),
                    span.map_or(String::new(), |(a, b)| format!(
                        "{a}/{:02} to {b}/{:02}",
                        (a + 1) % 100,
                        (b + 1) % 100
                    )) + &left_out(without)
                )),
                if refit.is_some() {
                    "and releases per accident day re-fitted on the site's days"
                } else {
                    "the source's: too few accident days to re-fit"
                }
            );
            m
        }
    };
    // Alerts on the site's most hazardous ALERT_SHARE of climatology days (weather only, no record).
    if let Some((d, _)) = &days {
        let points: Vec<String> = match &site.weather {
            Some(WeatherSource::OpenMeteo { points, .. }) => points.iter().map(|p| p.id.clone()).collect(),
            _ => Vec::new(),
        };
        let fitted: std::collections::BTreeSet<&String> = d.regions.iter().collect();
        if without.is_none() && !points.is_empty() && points.iter().collect::<std::collections::BTreeSet<_>>() != fitted
        {
            // The hazard is the probability of a recorded release in a region of the fitted size.
            tracing::warn!(
                site = %site.id,
                daily = ?points,
                fitted = ?fitted,
                "the daily weather points are not the points of {}: the daily regions differ from the fitted ones and \
                 the published probability is off by their size ratio; list the same points in site.toml",
                site.dir.join(REGIONAL_DIR).display()
            );
        }
        let h: Vec<f64> = site_days_hazard(&model, d, &points).into_iter().map(|(_, h)| h).collect();
        if let Some(t) = threshold_for_share(&h, super::ALERT_SHARE) {
            model.alert_threshold = t;
        }
    }
    if !model.alert_threshold.is_finite() {
        return Err(HazardError::Empty(format!(
            "no regional weather for `{}` to set its alert threshold from",
            site.id
        )));
    }
    Ok(model)
}

/// The model `avarisk verify` scores winter `winter` of `site` with: the published one when it was not fitted on
/// that winter, else the one fitted without it ([`fit_site`]).
pub fn for_winter(
    plan: &Plan,
    site: &Site,
    store: &Store,
    published: &HazardModel,
    winter: i32,
) -> Result<HazardModel, HazardError> {
    if published.winters.contains(&winter) {
        fit_site(plan, site, store, Some(winter))
    } else {
        Ok(published.clone())
    }
}
