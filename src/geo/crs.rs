//! Coordinate reference systems, identified by EPSG code or WKT, and their area of use.
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};

use super::GeoError;

/// A CRS as avarisk stores it: WKT (what GDAL needs) and the EPSG code when there is one (what people read).
#[derive(Debug, Clone, PartialEq)]
pub struct Crs {
    pub epsg: Option<u32>,
    pub wkt: String,
}

impl Crs {
    /// Parses `EPSG:<code>` (case-insensitive).
    pub fn from_user(text: &str) -> Result<Crs, GeoError> {
        let err = |message: &str| GeoError::Crs { crs: text.to_owned(), message: message.to_owned() };
        let code = text
            .trim()
            .to_ascii_uppercase()
            .strip_prefix("EPSG:")
            .and_then(|c| c.parse::<u32>().ok())
            .ok_or_else(|| err("write it as EPSG:<code>, e.g. EPSG:2056"))?;
        Crs::from_epsg(code).map_err(|_| err("not in the EPSG registry of this GDAL/PROJ"))
    }

    pub fn from_epsg(code: u32) -> Result<Crs, GeoError> {
        let srs = SpatialRef::from_epsg(code)
            .map_err(|e| GeoError::Crs { crs: format!("EPSG:{code}"), message: e.to_string() })?;
        let wkt = srs.to_wkt().map_err(|e| GeoError::Crs { crs: format!("EPSG:{code}"), message: e.to_string() })?;
        Ok(Crs { epsg: Some(code), wkt })
    }

    /// The CRS of a GDAL dataset, `None` when the file carries none.
    pub fn of_dataset(ds: &gdal::Dataset) -> Option<Crs> {
        let wkt = ds.projection();
        if wkt.trim().is_empty() {
            return None;
        }
        let epsg = SpatialRef::from_wkt(&wkt).ok().and_then(|mut s| {
            let _ = s.auto_identify_epsg();
            s.auth_code().ok().and_then(|c| u32::try_from(c).ok())
        });
        Some(Crs { epsg, wkt })
    }

    /// A spatial reference with x = easting/longitude, y = northing/latitude whatever the CRS's axis order.
    pub fn spatial_ref(&self) -> Result<SpatialRef, GeoError> {
        let mut srs = SpatialRef::from_wkt(&self.wkt)
            .map_err(|e| GeoError::Crs { crs: self.to_string(), message: e.to_string() })?;
        srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        Ok(srs)
    }

    pub fn is_projected_metres(&self) -> bool {
        self.spatial_ref().map(|s| s.is_projected() && (s.linear_units() - 1.0).abs() < 1e-9).unwrap_or(false)
    }

    /// Area of use as (west, south, east, north) in WGS84 degrees, when the registry knows it.
    pub fn area_of_use(&self) -> Option<[f64; 4]> {
        // WKT1 does not carry the area of use: ask the registry by code.
        let a = SpatialRef::from_epsg(self.epsg?).ok()?.area_of_use()?;
        Some([a.west_lon_degree, a.south_lat_degree, a.east_lon_degree, a.north_lat_degree])
    }

    /// Transforms `bounds` (xmin, ymin, xmax, ymax) from this CRS to `to`, densifying the edges.
    pub fn transform_bounds(&self, bounds: [f64; 4], to: &Crs) -> Result<[f64; 4], GeoError> {
        let t = CoordTransform::new(&self.spatial_ref()?, &to.spatial_ref()?).map_err(|e| GeoError::Transform {
            what: "bounds".into(),
            from: self.to_string(),
            to: to.to_string(),
            source: Box::new(e),
        })?;
        t.transform_bounds(&bounds, 21).map_err(|e| GeoError::Transform {
            what: format!("bounds {bounds:?}"),
            from: self.to_string(),
            to: to.to_string(),
            source: Box::new(e),
        })
    }

    /// Transforms points in place from this CRS to `to`.
    pub fn transform_points(&self, to: &Crs, x: &mut [f64], y: &mut [f64]) -> Result<(), GeoError> {
        let err = |e| GeoError::Transform {
            what: "points".into(),
            from: self.to_string(),
            to: to.to_string(),
            source: Box::new(e),
        };
        let t = CoordTransform::new(&self.spatial_ref()?, &to.spatial_ref()?).map_err(err)?;
        t.transform_coords(x, y, &mut []).map_err(err)
    }

    pub fn wgs84() -> Crs {
        Crs::from_epsg(4326).expect("EPSG:4326 is in every PROJ database")
    }
}

impl std::fmt::Display for Crs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.epsg {
            Some(c) => write!(f, "EPSG:{c}"),
            None => write!(f, "custom CRS"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swiss_grid_area_of_use_covers_switzerland() {
        let crs = Crs::from_user("epsg:2056").unwrap();
        assert!(crs.is_projected_metres());
        let [w, s, e, n] = crs.area_of_use().unwrap();
        assert!(w < 6.0 && e > 10.4 && s < 45.9 && n > 47.7, "{w} {s} {e} {n}");
        assert!(!Crs::wgs84().is_projected_metres());
    }

    #[test]
    fn rejects_non_epsg_text() {
        assert!(Crs::from_user("2056").is_err());
        assert!(Crs::from_user("EPSG:999999").is_err());
    }

    #[test]
    fn lon_lat_order_is_traditional() {
        let (mut x, mut y) = ([8.0], [46.5]);
        Crs::wgs84().transform_points(&Crs::from_epsg(2056).unwrap(), &mut x, &mut y).unwrap();
        assert!((x[0] - 2_643_000.0).abs() < 10_000.0 && (y[0] - 1_150_000.0).abs() < 10_000.0, "{x:?} {y:?}");
    }
}
