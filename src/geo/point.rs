//! A point on the Earth and great-circle distances: plain data that the configuration's region
//! catalogue holds and routing ranks by.

/// Mean Earth radius in km (IUGG).
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A point on the Earth, kept as a unit vector so distances need one trigonometric call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    xyz: [f64; 3],
}

impl Point {
    /// A point from degrees; `None` when out of range or not finite.
    pub fn new(latitude: f64, longitude: f64) -> Option<Self> {
        if !(latitude.is_finite() && longitude.is_finite())
            || latitude.abs() > 90.0
            || longitude.abs() > 180.0
        {
            return None;
        }
        let (la, lo) = (latitude.to_radians(), longitude.to_radians());
        let xyz = [la.cos() * lo.cos(), la.cos() * lo.sin(), la.sin()];
        Some(Self {
            latitude,
            longitude,
            xyz,
        })
    }

    /// Cosine of the central angle to `other`: larger is nearer. One dot product, no
    /// trigonometry, for ranking many points.
    pub fn closeness(&self, other: &Point) -> f64 {
        let [a1, a2, a3] = self.xyz;
        let [b1, b2, b3] = other.xyz;
        (a1 * b1 + a2 * b2 + a3 * b3).clamp(-1.0, 1.0)
    }

    /// Converts a [`Point::closeness`] to km.
    pub fn closeness_to_km(closeness: f64) -> f64 {
        closeness.clamp(-1.0, 1.0).acos() * EARTH_RADIUS_KM
    }

    /// Converts km to the [`Point::closeness`] of that distance (-1 beyond the antipode).
    pub fn km_to_closeness(km: f64) -> f64 {
        let angle = km / EARTH_RADIUS_KM;
        if angle >= std::f64::consts::PI {
            -1.0
        } else {
            angle.cos()
        }
    }

    /// Great-circle distance in km.
    pub fn distance_km(&self, other: &Point) -> f64 {
        let [a1, a2, a3] = self.xyz;
        let [b1, b2, b3] = other.xyz;
        let cross = [a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1];
        let sin = (cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]).sqrt();
        let cos = a1 * b1 + a2 * b2 + a3 * b3;
        sin.atan2(cos) * EARTH_RADIUS_KM
    }
}
