//! CSV observation files: a header row, then one record per row. Every mapped column must be in the header; a
//! header that is a single field holding another separator gets a hint about `delimiter`.
use std::collections::HashMap;

use crate::config::plan::ObservationSource;

use super::record::{self, RawLocation, RawRecord};
use super::ObservationError;

/// Separators a mis-set `delimiter` is usually meant to be.
const LIKELY_SEPARATORS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Reads every record of a CSV source.
pub fn read(src: &ObservationSource) -> Result<Vec<RawRecord>, ObservationError> {
    let path = &src.path;
    let file = record::open(path)?;
    let csv_err = |e: csv::Error| ObservationError::Csv {
        path: path.clone(),
        line: e.position().map_or(0, |p| p.line()),
        message: match e.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                format!("{len} fields where the header has {expected_len}")
            }
            _ => e.to_string(),
        },
    };
    let mut reader = csv::ReaderBuilder::new().delimiter(src.delimiter).flexible(false).from_reader(file);
    let header: Vec<String> = reader.headers().map_err(csv_err)?.iter().map(|h| h.trim().to_owned()).collect();
    let index: HashMap<&str, usize> = header.iter().enumerate().map(|(i, h)| (h.as_str(), i)).collect();
    for (column, field) in record::mapped_columns(src, true) {
        if !index.contains_key(column.as_str()) {
            return Err(ObservationError::MissingColumn {
                path: path.clone(),
                column,
                field,
                hint: delimiter_hint(&header, src.delimiter),
                header,
            });
        }
    }
    // The CSV mapping names x and y (config::compile checks it).
    let (Some(xc), Some(yc)) = (&src.columns.x, &src.columns.y) else {
        return Err(ObservationError::NoCoordinateColumns { path: path.clone() });
    };
    let (xi, yi) = (index[xc.as_str()], index[yc.as_str()]);

    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(csv_err)?;
        let field = |col: &str| index.get(col).and_then(|&j| rec.get(j)).and_then(record::non_empty);
        let location = RawLocation::Text {
            x: rec.get(xi).and_then(record::non_empty),
            y: rec.get(yi).and_then(record::non_empty),
        };
        let content = rec.iter().collect::<Vec<_>>().join("\u{1f}");
        out.push(RawRecord::from_fields(src, i + 1, location, content, field));
    }
    Ok(out)
}

/// A hint when the header looks separated by something other than `delimiter`.
fn delimiter_hint(header: &[String], delimiter: u8) -> String {
    let [only] = header else {
        return String::new();
    };
    LIKELY_SEPARATORS
        .iter()
        .filter(|&&d| d != delimiter)
        .find(|&&d| only.as_bytes().contains(&d))
        .map(|&d| {
            let shown = if d == b'\t' { "\\t".to_owned() } else { (d as char).to_string() };
            format!(" (the header looks `{shown}`-separated: set `delimiter = \"{shown}\"` for this source)")
        })
        .unwrap_or_default()
}
