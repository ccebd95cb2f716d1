//! The site grid: CRS, north-up geotransform and shape. Every raster of a site lives on its grid.
use super::{Crs, GeoError};

/// An axis-aligned extent (xmin, ymin, xmax, ymax) in some CRS's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub xmin: f64,
    pub ymin: f64,
    pub xmax: f64,
    pub ymax: f64,
}

impl Bounds {
    pub fn as_array(&self) -> [f64; 4] {
        [self.xmin, self.ymin, self.xmax, self.ymax]
    }
    pub fn from_array(a: [f64; 4]) -> Self {
        Bounds { xmin: a[0], ymin: a[1], xmax: a[2], ymax: a[3] }
    }
    pub fn intersects(&self, o: &Bounds) -> bool {
        self.xmin < o.xmax && o.xmin < self.xmax && self.ymin < o.ymax && o.ymin < self.ymax
    }
    pub fn contains(&self, o: &Bounds) -> bool {
        self.xmin <= o.xmin && self.ymin <= o.ymin && self.xmax >= o.xmax && self.ymax >= o.ymax
    }
}

/// A north-up raster grid: cell (col, row) covers x in [x0 + col*res, x0 + (col+1)*res) and
/// y in (y0 - (row+1)*res, y0 - row*res]. Resolution in CRS units (metres for site grids).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub crs: Crs,
    /// GDAL geotransform: [x0, res_x, 0, y0, 0, -res_y].
    pub transform: [f64; 6],
    pub width: usize,
    pub height: usize,
}

impl Grid {
    /// The grid covering `bounds` with square cells of `res`, anchored at (xmin, ymax) and extended east and south to
    /// whole cells.
    pub fn from_bounds(crs: Crs, bounds: Bounds, res: f64) -> Grid {
        let cells = |extent: f64| ((extent / res) - 1e-6).ceil().max(1.0) as usize;
        Grid {
            crs,
            transform: [bounds.xmin, res, 0.0, bounds.ymax, 0.0, -res],
            width: cells(bounds.xmax - bounds.xmin),
            height: cells(bounds.ymax - bounds.ymin),
        }
    }

    /// The grid of an open GDAL dataset; fails when it has no CRS or is rotated.
    pub fn of_dataset(ds: &gdal::Dataset, path: &str) -> Result<Grid, GeoError> {
        let crs = Crs::of_dataset(ds).ok_or_else(|| GeoError::NoCrs { path: path.to_owned() })?;
        let transform = ds.geo_transform().map_err(|e| GeoError::Gdal {
            action: "read the geotransform of",
            path: path.into(),
            source: Box::new(e),
        })?;
        if transform[2] != 0.0 || transform[4] != 0.0 {
            return Err(GeoError::Invalid { path: path.into(), message: "rotated rasters are not supported".into() });
        }
        let (width, height) = ds.raster_size();
        Ok(Grid { crs, transform, width, height })
    }

    /// Cell width (x) in CRS units.
    pub fn res_x(&self) -> f64 {
        self.transform[1]
    }
    /// Cell height (y) in CRS units, positive.
    pub fn res_y(&self) -> f64 {
        -self.transform[5]
    }
    pub fn cells(&self) -> usize {
        self.width * self.height
    }
    pub fn bounds(&self) -> Bounds {
        let [x0, rx, _, y0, _, ry] = self.transform;
        Bounds { xmin: x0, ymax: y0, xmax: x0 + rx * self.width as f64, ymin: y0 + ry * self.height as f64 }
    }
    /// Centre of cell (col, row) in CRS coordinates.
    pub fn cell_centre(&self, col: usize, row: usize) -> (f64, f64) {
        let [x0, rx, _, y0, _, ry] = self.transform;
        (x0 + (col as f64 + 0.5) * rx, y0 + (row as f64 + 0.5) * ry)
    }
    /// The cell containing (x, y), if inside the grid.
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let [x0, rx, _, y0, _, ry] = self.transform;
        let c = ((x - x0) / rx).floor();
        let r = ((y - y0) / ry).floor();
        (c >= 0.0 && r >= 0.0 && (c as usize) < self.width && (r as usize) < self.height)
            .then_some((c as usize, r as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        let b = Bounds { xmin: 1000.0, ymin: 2000.0, xmax: 1095.0, ymax: 2050.0 };
        Grid::from_bounds(Crs::from_epsg(2056).unwrap(), b, 10.0)
    }

    #[test]
    fn extends_to_whole_cells_east_and_south() {
        let g = grid();
        assert_eq!((g.width, g.height), (10, 5));
        assert_eq!(g.bounds(), Bounds { xmin: 1000.0, ymin: 2000.0, xmax: 1100.0, ymax: 2050.0 });
    }

    #[test]
    fn cell_lookup_round_trips() {
        let g = grid();
        let (x, y) = g.cell_centre(3, 2);
        assert_eq!((x, y), (1035.0, 2025.0));
        assert_eq!(g.cell_at(x, y), Some((3, 2)));
        assert_eq!(g.cell_at(999.0, 2025.0), None);
        assert_eq!(g.cell_at(1035.0, 2050.5), None);
    }
}
