//! Event dates: the site-local calendar day of a date or date-time written in a source file.
//!
//! - a plain date (`2021-02-15`) is that day;
//! - a date-time without offset (`2018-02-17 11:34:00`, LAWIS; `2018-02-17T11:34`) is site-local time: its date;
//! - a date-time with an offset or `Z` (`2026-02-13 02:13:00+00:00`, CAIC) is converted to the site time zone first,
//!   so an evening in Colorado written in UTC lands on the right Colorado day.
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;

/// Earliest date accepted: older records are typos (1850 for 1985) or not comparable with today's terrain and
/// weather.
pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// Why a date field was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateProblem {
    /// Empty, or not ISO 8601.
    Unparseable,
    /// Before [`EARLIEST`] or after `today`.
    Impossible,
}

/// The site-local day of `text`, which must lie in [`EARLIEST`]..=`today`.
pub fn local_day(text: &str, tz: Tz, today: NaiveDate) -> Result<NaiveDate, DateProblem> {
    let day = parse(text.trim(), tz).ok_or(DateProblem::Unparseable)?;
    if day < EARLIEST || day > today {
        return Err(DateProblem::Impossible);
    }
    Ok(day)
}

/// Today in `tz`.
pub fn today(tz: Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

fn parse(s: &str, tz: Tz) -> Option<NaiveDate> {
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    // With an offset: an instant, converted to the site's clock.
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&tz).date_naive());
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&tz).date_naive());
        }
    }
    // Naive: already site-local.
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.date());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dates_and_naive_date_times_are_site_local() {
        let tz: Tz = "Europe/Vienna".parse().unwrap();
        let today = day("2024-01-01");
        assert_eq!(local_day("2018-02-17", tz, today), Ok(day("2018-02-17")));
        assert_eq!(local_day("2018-02-17 11:34:00", tz, today), Ok(day("2018-02-17")));
        assert_eq!(local_day("2018-02-17T23:59", tz, today), Ok(day("2018-02-17")));
        assert_eq!(local_day(" 1993-01-27 00:00:00 ", tz, today), Ok(day("1993-01-27")));
    }

    #[test]
    fn instants_are_converted_to_the_site_time_zone() {
        let denver: Tz = "America/Denver".parse().unwrap();
        let today = day("2030-01-01");
        // 02:13 UTC is 19:13 MST the evening before.
        assert_eq!(local_day("2026-02-13 02:13:00+00:00", denver, today), Ok(day("2026-02-12")));
        assert_eq!(local_day("2026-02-12T20:00:00Z", denver, today), Ok(day("2026-02-12")));
        assert_eq!(local_day("2026-02-13T02:13:00+0000", denver, today), Ok(day("2026-02-12")));
        let zurich: Tz = "Europe/Zurich".parse().unwrap();
        assert_eq!(local_day("2021-02-14T23:30:00Z", zurich, today), Ok(day("2021-02-15")));
    }

    #[test]
    fn bad_and_impossible_dates() {
        let tz: Tz = "Europe/Zurich".parse().unwrap();
        let today = day("2024-01-01");
        for s in ["", "n/a", "2021-02-30", "15.02.2021", "2021-13-01 10:00:00"] {
            assert_eq!(local_day(s, tz, today), Err(DateProblem::Unparseable), "{s}");
        }
        for s in ["1850-01-01", "2199-03-01", "2024-01-02"] {
            assert_eq!(local_day(s, tz, today), Err(DateProblem::Impossible), "{s}");
        }
        assert_eq!(local_day("1900-01-01", tz, today), Ok(EARLIEST));
    }
}
