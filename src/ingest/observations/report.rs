//! What happened to every record of an observation file: kept, or excluded for one [`Reason`], and which kept
//! records had a field set to null ([`Note`]). Nothing is dropped without being counted here.
//!
//! Row numbers count records from 1 in file order: the n-th data row of a CSV (line n + 1 when no field spans
//! lines), the n-th feature of a GeoJSON FeatureCollection.
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// How many example row numbers a [`Tally`] keeps.
pub const MAX_EXAMPLES: usize = 5;

/// Why a record was excluded. Each excluded record has exactly one reason: the first check it fails, in the order
/// date, coordinates, position on the grid, duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The date field is empty or not an ISO 8601 date / date-time.
    BadDate,
    /// A real date, but before 1900-01-01 or after today (site-local).
    ImpossibleDate,
    /// Empty coordinate fields, or a GeoJSON feature without geometry.
    MissingCoordinates,
    /// Coordinates that are not numbers, out of range for a geographic CRS, degenerate polygons, or points the
    /// CRS transformation cannot map.
    BadCoordinates,
    /// A GeoJSON geometry other than Point, Polygon or MultiPolygon.
    UnsupportedGeometry,
    /// Outside the site grid as written, inside it with x and y exchanged: latitude and longitude swapped.
    SwappedLatLon,
    /// A valid position outside the site grid.
    OutsideGrid,
    /// Same date, grid cell and id as an earlier record, or a row identical to an earlier one (the first is kept).
    Duplicate,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::BadDate,
        Reason::ImpossibleDate,
        Reason::MissingCoordinates,
        Reason::BadCoordinates,
        Reason::UnsupportedGeometry,
        Reason::SwappedLatLon,
        Reason::OutsideGrid,
        Reason::Duplicate,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Reason::BadDate => "missing or unparseable date (use ISO 8601: 2021-02-15, 2021-02-15 11:34:00)",
            Reason::ImpossibleDate => "date before 1900 or after today",
            Reason::MissingCoordinates => "missing coordinates or geometry",
            Reason::BadCoordinates => "unparseable or out-of-range coordinates",
            Reason::UnsupportedGeometry => "geometry is not a Point, Polygon or MultiPolygon",
            Reason::SwappedLatLon => "x and y swapped (latitude/longitude): the swapped pair falls inside the site",
            Reason::OutsideGrid => "outside the site grid",
            Reason::Duplicate => "duplicate (same date, grid cell and id as an earlier record, or an identical row)",
        }
    }
}

/// A field of a kept record that was set to null, or changed, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Note {
    /// The elevation is not a number, or outside [`super::ELEVATION_RANGE_M`]: set to null.
    BadElevation,
    /// A weather value that is not a number: set to null (counted per value).
    BadWeatherValue,
    /// A weather value outside its variable's physical range after unit conversion: set to null (counted per value).
    WeatherOutOfRange,
    /// The id was already used by a kept record of the same file at another date or place: `#<row>` appended.
    RepeatedId,
}

impl Note {
    pub fn describe(self) -> &'static str {
        match self {
            Note::BadElevation => "elevation not a number or implausible: set to null",
            Note::BadWeatherValue => "weather value not a number: set to null",
            Note::WeatherOutOfRange => "weather value outside its physical range: set to null",
            Note::RepeatedId => "id used by another kept record: made unique as `<id>#<row>`",
        }
    }
}

/// A count with the first few row numbers it covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: usize,
    /// The first [`MAX_EXAMPLES`] row numbers, in file order.
    pub examples: Vec<usize>,
}

impl Tally {
    /// Counts `row`; the examples stay the first rows in file order, whatever order the checks ran in.
    fn add(&mut self, row: usize) {
        self.count += 1;
        if let Err(at) = self.examples.binary_search(&row) {
            self.examples.insert(at, row);
            self.examples.truncate(MAX_EXAMPLES);
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<String> = self.examples.iter().map(|r| r.to_string()).collect();
        let more = if self.count > self.examples.len() { ", ..." } else { "" };
        let word = if self.examples.len() == 1 { "row" } else { "rows" };
        write!(f, "{} ({word} {}{more})", self.count, rows.join(", "))
    }
}

/// The outcome of reading one observation file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub path: PathBuf,
    /// `ObservationSource::source`, stored with each record.
    pub source: String,
    /// Records read (data rows or features).
    pub records: usize,
    pub kept: usize,
    pub excluded: BTreeMap<Reason, Tally>,
    pub notes: BTreeMap<Note, Tally>,
}

impl FileReport {
    pub fn new(path: &Path, source: &str) -> FileReport {
        FileReport {
            path: path.to_owned(),
            source: source.to_owned(),
            records: 0,
            kept: 0,
            excluded: BTreeMap::new(),
            notes: BTreeMap::new(),
        }
    }
    pub fn exclude(&mut self, reason: Reason, row: usize) {
        self.excluded.entry(reason).or_default().add(row);
    }
    pub fn note(&mut self, note: Note, row: usize) {
        self.notes.entry(note).or_default().add(row);
    }
    /// Records excluded for `reason`.
    pub fn count(&self, reason: Reason) -> usize {
        self.excluded.get(&reason).map_or(0, |t| t.count)
    }
    /// Values or records carrying `note`.
    pub fn noted(&self, note: Note) -> usize {
        self.notes.get(&note).map_or(0, |t| t.count)
    }
    pub fn excluded_total(&self) -> usize {
        self.excluded.values().map(|t| t.count).sum()
    }
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}): {} records, {} kept, {} excluded",
            self.source,
            self.path.display(),
            self.records,
            self.kept,
            self.excluded_total()
        )?;
        for (reason, tally) in &self.excluded {
            writeln!(f, "  excluded {tally}: {}", reason.describe())?;
        }
        for (note, tally) in &self.notes {
            writeln!(f, "  kept, {tally}: {}", note.describe())?;
        }
        Ok(())
    }
}

/// What `ingest` wrote for a site, with the report of every file.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationSummary {
    pub site: String,
    pub files: Vec<FileReport>,
    /// Rows of `events.parquet`.
    pub events: usize,
    /// Rows of `event_weather.parquet`.
    pub weather_rows: usize,
    pub events_path: PathBuf,
    pub weather_path: PathBuf,
}

impl ObservationSummary {
    pub fn records(&self) -> usize {
        self.files.iter().map(|f| f.records).sum()
    }
    pub fn excluded(&self) -> usize {
        self.files.iter().map(|f| f.excluded_total()).sum()
    }
}

impl fmt::Display for ObservationSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "site `{}`: {} of {} observation records kept from {} file(s), {} excluded",
            self.site,
            self.events,
            self.records(),
            self.files.len(),
            self.excluded()
        )?;
        for file in &self.files {
            write!(f, "{file}")?;
        }
        writeln!(f, "rows count records from 1 (CSV: line = row + 1; GeoJSON: feature number)")?;
        writeln!(f, "events:  {}", self.events_path.display())?;
        writeln!(f, "weather: {} ({} rows)", self.weather_path.display(), self.weather_rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_counts_by_reason_and_keeps_a_few_rows() {
        let mut r = FileReport::new(Path::new("a.csv"), "SLF");
        r.records = 10;
        r.kept = 3;
        for row in [3, 1, 2, 7, 6, 5, 4] {
            r.exclude(Reason::OutsideGrid, row);
        }
        r.note(Note::BadElevation, 9);
        assert_eq!(r.count(Reason::OutsideGrid), 7);
        assert_eq!(r.excluded_total(), 7);
        assert_eq!(r.excluded[&Reason::OutsideGrid].examples, vec![1, 2, 3, 4, 5]);
        let text = r.to_string();
        assert!(text.contains("10 records, 3 kept, 7 excluded"), "{text}");
        assert!(text.contains("excluded 7 (rows 1, 2, 3, 4, 5, ...): outside the site grid"), "{text}");
        assert!(text.contains("kept, 1 (row 9): elevation"), "{text}");
    }
}
