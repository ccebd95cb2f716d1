//! Label rasters: the cells near the start zones recorded on one day. 1.0 within `radius_m` of a start point of
//! that day (and always the event's own cell), 0.0 elsewhere. Absence of a record is not absence of an avalanche:
//! a 0.0 means "nothing recorded here that day" (see the biases in the module documentation).
use std::path::Path;

use chrono::NaiveDate;
use gdal::Metadata;

use crate::geo::raster::{self, BandSpec, Staged};
use crate::geo::Grid;

use super::{Event, ObservationError};

/// What a label raster holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelStats {
    /// Events of the day that fall on the grid.
    pub events: usize,
    /// Cells set to 1.0.
    pub positive_cells: usize,
}

/// The label raster of `date` on `grid`, row-major (`grid.width` x `grid.height`, row 0 north). Event positions
/// (`Event::x`, `Event::y`) must be in the grid's CRS; events of other dates and off the grid are ignored.
/// `radius_m` is measured from the start point to cell centres, in grid units (metres).
pub fn label_raster(events: &[Event], grid: &Grid, date: NaiveDate, radius_m: f64) -> Vec<f32> {
    let mut out = vec![0.0f32; grid.cells()];
    let r = if radius_m.is_finite() { radius_m.max(0.0) } else { 0.0 };
    let [x0, rx, _, y0, _, ry] = grid.transform;
    let clamp = |v: f64, n: usize| v.floor().clamp(0.0, n as f64 - 1.0) as usize;
    for e in events.iter().filter(|e| e.date == date) {
        let Some((col, row)) = grid.cell_at(e.x, e.y) else {
            continue;
        };
        out[row * grid.width + col] = 1.0;
        // The cells whose centre may lie within r (rx > 0, ry < 0 on a north-up grid).
        let (c0, c1) = (clamp((e.x - r - x0) / rx, grid.width), clamp((e.x + r - x0) / rx, grid.width));
        let (r0, r1) = (clamp((e.y + r - y0) / ry, grid.height), clamp((e.y - r - y0) / ry, grid.height));
        for rr in r0..=r1 {
            for cc in c0..=c1 {
                let (cx, cy) = grid.cell_centre(cc, rr);
                if (cx - e.x).powi(2) + (cy - e.y).powi(2) <= r * r {
                    out[rr * grid.width + cc] = 1.0;
                }
            }
        }
    }
    out
}

/// Writes the label raster of `date` to `dest` as a single-band Float32 GeoTIFF on `grid` (atomically: nothing
/// replaces `dest` unless the whole file was written). Metadata records the date, radius and event count.
pub fn write_labels(
    events: &[Event],
    grid: &Grid,
    date: NaiveDate,
    radius_m: f64,
    dest: &Path,
) -> Result<LabelStats, ObservationError> {
    let data = label_raster(events, grid, date, radius_m);
    let stats = LabelStats {
        events: events.iter().filter(|e| e.date == date && grid.cell_at(e.x, e.y).is_some()).count(),
        positive_cells: data.iter().filter(|v| **v > 0.0).count(),
    };
    let staged = Staged::new(dest)?;
    {
        let spec = BandSpec {
            name: "label".into(),
            unit: "1".into(),
            description: format!("1 within {radius_m} m of an avalanche start zone recorded on {date}, else 0"),
        };
        let mut ds = raster::create_f32(staged.path(), grid, &[spec])?;
        let path = staged.path().display().to_string();
        for (k, v) in [
            ("AVARISK_LABEL_DATE", date.to_string()),
            ("AVARISK_LABEL_RADIUS_M", radius_m.to_string()),
            ("AVARISK_LABEL_EVENTS", stats.events.to_string()),
        ] {
            ds.set_metadata_item(k, &v, "").map_err(|e| crate::geo::GeoError::Gdal {
                action: "write metadata to",
                path: path.clone(),
                source: Box::new(e),
            })?;
        }
        raster::write_rows(&ds, 1, 0, grid.width, data)?;
        // Dropping the dataset flushes and closes the file before it is moved into place.
    }
    staged.commit()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::{Bounds, Crs};

    #[test]
    fn cells_within_the_radius_of_the_day_s_start_zones() {
        // 10 x 10 cells of 10 m, x 0..100, y 0..100.
        let grid = Grid::from_bounds(
            Crs::from_epsg(2056).unwrap(),
            Bounds { xmin: 0.0, ymin: 0.0, xmax: 100.0, ymax: 100.0 },
            10.0,
        );
        let day = "2021-02-15".parse().unwrap();
        let events = [Event::at(55.0, 45.0, "2021-02-15"), Event::at(5.0, 95.0, "2021-02-16")];
        // Radius 0: only the event's own cell (col 5, row 5).
        let l = label_raster(&events, &grid, day, 0.0);
        assert_eq!(l.iter().filter(|v| **v == 1.0).count(), 1);
        assert_eq!(l[5 * 10 + 5], 1.0);
        // Radius 10 m: the cell and its 4 neighbours (centres 10 m away); diagonals are 14.1 m away.
        let l = label_raster(&events, &grid, day, 10.0);
        assert_eq!(l.iter().filter(|v| **v == 1.0).count(), 5);
        assert_eq!((l[4 * 10 + 5], l[5 * 10 + 4], l[4 * 10 + 4]), (1.0, 1.0, 0.0));
        // Near the edge the disc is clipped; other days are ignored.
        let l = label_raster(&[Event::at(1.0, 99.0, "2021-02-15")], &grid, day, 15.0);
        assert_eq!(l.iter().filter(|v| **v == 1.0).count(), 3);
        assert!(label_raster(&events, &grid, "2021-02-17".parse().unwrap(), 50.0).iter().all(|v| *v == 0.0));
    }
}
