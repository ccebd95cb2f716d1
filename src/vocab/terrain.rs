//! Terrain vocabulary: the feature bands `features::terrain` can derive, their names in configuration and in the
//! GeoTIFF band descriptions, and what each is computed from.
use std::fmt;
use std::str::FromStr;

/// One terrain feature band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    Slope,
    Aspect,
    AspectSin,
    AspectCos,
    PlanCurvature,
    ProfileCurvature,
    Tri,
    Roughness,
    Vrm,
    WindShelter,
    Pra,
}
impl Feature {
    pub const ALL: [Feature; 11] = [
        Feature::Slope,
        Feature::Aspect,
        Feature::AspectSin,
        Feature::AspectCos,
        Feature::PlanCurvature,
        Feature::ProfileCurvature,
        Feature::Tri,
        Feature::Roughness,
        Feature::Vrm,
        Feature::WindShelter,
        Feature::Pra,
    ];

    /// Band name (also the name used in pipeline files).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Slope => "slope",
            Feature::Aspect => "aspect",
            Feature::AspectSin => "aspect_sin",
            Feature::AspectCos => "aspect_cos",
            Feature::PlanCurvature => "plan_curvature",
            Feature::ProfileCurvature => "profile_curvature",
            Feature::Tri => "tri",
            Feature::Roughness => "roughness",
            Feature::Vrm => "vrm",
            Feature::WindShelter => "wind_shelter",
            Feature::Pra => "pra",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Feature::Slope | Feature::Aspect => "degree",
            Feature::PlanCurvature | Feature::ProfileCurvature => "1/m",
            Feature::Tri | Feature::Roughness => "m",
            Feature::WindShelter => "rad",
            Feature::AspectSin | Feature::AspectCos | Feature::Vrm | Feature::Pra => "1",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Feature::Slope => "slope angle from horizontal, Horn (1981)",
            Feature::Aspect => "direction the slope faces, degrees clockwise from north; nodata on flat cells",
            Feature::AspectSin => "sin(aspect): east component of the downslope direction; 0 on flat cells",
            Feature::AspectCos => "cos(aspect): north component of the downslope direction; 0 on flat cells",
            Feature::PlanCurvature => {
                "contour curvature (Evans 1979); > 0 divergent (ridges), < 0 convergent (gullies)"
            }
            Feature::ProfileCurvature => "curvature along the fall line (Evans 1979); > 0 convex, < 0 concave",
            Feature::Tri => "terrain ruggedness index, Riley et al. (1999), as gdaldem TRI",
            Feature::Roughness => "max - min elevation in the 3x3 window, as gdaldem roughness",
            Feature::Vrm => "vector ruggedness measure, Sappington et al. (2007); 0 smooth .. 1 rugged",
            Feature::WindShelter => "wind-shelter index, Plattner et al. (2004); > 0 sheltered, < 0 exposed",
            Feature::Pra => "fuzzy potential-release-area membership, Veitinger et al. (2016); 0..1",
        }
    }

    pub fn deps(self) -> &'static [Feature] {
        match self {
            Feature::Pra => &[Feature::Slope, Feature::Vrm, Feature::WindShelter],
            _ => &[],
        }
    }
}
impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
impl FromStr for Feature {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Feature::ALL.iter().copied().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = Feature::ALL.iter().map(|f| f.name()).collect();
            format!("unknown terrain feature `{s}`: use one of {}", names.join(", "))
        })
    }
}
