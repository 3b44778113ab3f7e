//! Point → slippy-map tile, bit for bit equal to `mercantile.tile` (1.2.x), and tile bounds.
//!
//! The scalar path repeats mercantile's arithmetic operation by operation (the same libm `sin`
//! and `log` that CPython calls), so it gives the same tile for every input mercantile accepts,
//! its clamping at the grid edges and its `1e-14` epsilon included. The vectorised path
//! evaluates the projection with polynomials (no libm call, so LLVM vectorises the loop), and
//! hands every point whose tile coordinate falls within a safety margin of an integer to the
//! scalar path: the polynomials only have to be accurate to far better than that margin.

use std::f64::consts::PI;

/// The deepest zoom level accepted (2^30 tiles a side, the limit of mercantile's users too).
pub const MAX_ZOOM: u8 = 30;
/// mercantile's `EPSILON`: points this close to the right/lower edge count in the next tile.
const EPSILON: f64 = 1e-14;
/// Latitudes beyond this are certainly clamped to the first/last row (85.0511287798066…).
const CLAMP_LAT: f64 = 85.06;

/// A tile of the XYZ grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub x: u32,
    pub y: u32,
    pub z: u8,
}

impl std::fmt::Display for Tile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Why a point has no tile.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TileError {
    #[error("longitude {0} is not a finite number")]
    Longitude(f64),
    #[error("latitude {0} is not a finite number strictly between -90 and 90")]
    Latitude(f64),
    #[error("zoom {0} is outside 0..=30")]
    Zoom(i64),
}

/// Checks a zoom level.
pub fn check_zoom(zoom: i64) -> Result<u8, TileError> {
    if (0..=MAX_ZOOM as i64).contains(&zoom) {
        Ok(zoom as u8)
    } else {
        Err(TileError::Zoom(zoom))
    }
}

/// Checks a coordinate pair the way `tile` needs it.
#[inline]
pub fn check_point(lon: f64, lat: f64) -> Result<(), TileError> {
    if !lon.is_finite() {
        return Err(TileError::Longitude(lon));
    }
    if !(lat.is_finite() && lat.abs() < 90.0) {
        return Err(TileError::Latitude(lat));
    }
    Ok(())
}

/// mercantile's clamp-or-floor of one projected coordinate in [0, 1].
#[inline]
fn grid_index(v: f64, z2: f64) -> u32 {
    if v <= 0.0 {
        0
    } else if v >= 1.0 {
        (z2 - 1.0) as u32
    } else {
        ((v + EPSILON) * z2).floor() as u32
    }
}

/// Projected Web Mercator y in [0, 1] (top to bottom), exactly as mercantile's `_xy`.
#[inline]
fn mercator_y_exact(lat: f64) -> f64 {
    let sinlat = lat.to_radians().sin();
    0.5 - 0.25 * ((1.0 + sinlat) / (1.0 - sinlat)).ln() / PI
}

/// The tile at `zoom` holding the point, equal to `mercantile.tile(lon, lat, zoom)`.
pub fn tile(lon: f64, lat: f64, zoom: u8) -> Result<Tile, TileError> {
    check_point(lon, lat)?;
    if zoom > MAX_ZOOM {
        return Err(TileError::Zoom(zoom as i64));
    }
    let (x, y) = tile_xy_unchecked(lon, lat, zoom);
    Ok(Tile { x, y, z: zoom })
}

/// `tile` without the input checks (the caller guarantees a valid point and zoom).
#[inline]
pub fn tile_xy_unchecked(lon: f64, lat: f64, zoom: u8) -> (u32, u32) {
    let z2 = (1u64 << zoom) as f64;
    let x = lon / 360.0 + 0.5;
    // mercantile raises for latitudes where 1 - sin(lat) rounds to 0 (within ~1e-8 of a pole);
    // there y is -inf/+inf and the clamp gives the first/last row, which is what a caller wants.
    let y = mercator_y_exact(lat);
    (grid_index(x, z2), grid_index(y, z2))
}

/// Western edge of column `x` in degrees (the reference server's `tile2lon`).
#[inline]
pub fn tile_lon(x: u32, zoom: u8) -> f64 {
    x as f64 / (1u64 << zoom) as f64 * 360.0 - 180.0
}

/// Northern edge of row `y` in degrees (the reference server's `tile2lat`).
#[inline]
pub fn tile_lat(y: u32, zoom: u8) -> f64 {
    let n = PI - 2.0 * PI * y as f64 / (1u64 << zoom) as f64;
    n.sinh().atan().to_degrees()
}

/// West, south, east, north of a tile in degrees.
pub fn tile_bounds(t: Tile) -> (f64, f64, f64, f64) {
    (
        tile_lon(t.x, t.z),
        tile_lat(t.y + 1, t.z),
        tile_lon(t.x + 1, t.z),
        tile_lat(t.y, t.z),
    )
}

/// The tile's bounding box as the reference server's relation value: a CRS84-prefixed WKT
/// polygon with the ring `E N, E S, W S, W N, E N`, numbers in shortest round-trip form.
pub fn tile_bbox_wkt(t: Tile) -> String {
    let (w, s, e, n) = tile_bounds(t);
    format!(
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON (({e} {n}, {e} {s}, {w} {s}, {w} {n}, {e} {n}))"
    )
}

// ---------------------------------------------------------------------------------------------
// Vectorised path.

/// `c[0] + c[1]·t + … + c[11]·t¹¹` by Estrin's scheme with fused multiply-adds: a shallow
/// dependency tree instead of a 12-step Horner chain, which is what bounds the vector loop.
#[inline(always)]
fn estrin12(t: f64, c: &[f64; 12]) -> f64 {
    let t2 = t * t;
    let t4 = t2 * t2;
    let q0 = c[1].mul_add(t, c[0]);
    let q1 = c[3].mul_add(t, c[2]);
    let q2 = c[5].mul_add(t, c[4]);
    let q3 = c[7].mul_add(t, c[6]);
    let q4 = c[9].mul_add(t, c[8]);
    let q5 = c[11].mul_add(t, c[10]);
    let r0 = q1.mul_add(t2, q0);
    let r1 = q3.mul_add(t2, q2);
    let r2 = q5.mul_add(t2, q4);
    (r2 * t4).mul_add(t4, r1.mul_add(t4, r0))
}

/// sin(a) for |a| <= 1.4846 (85.06°): Taylor series to a^23, error < 1e-19.
#[inline(always)]
fn sin_poly(a: f64) -> f64 {
    const C: [f64; 12] = [
        1.0,
        -1.0 / 6.0,
        1.0 / 120.0,
        -1.0 / 5_040.0,
        1.0 / 362_880.0,
        -1.0 / 39_916_800.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 1_307_674_368_000.0,
        1.0 / 355_687_428_096_000.0,
        -1.0 / 121_645_100_408_832_000.0,
        1.0 / 51_090_942_171_709_440_000.0,
        -1.0 / 25_852_016_738_884_976_640_000.0,
    ];
    a * estrin12(a * a, &C)
}

/// ln(q) for finite q > 0 (normal numbers): exponent plus 2·atanh((m-1)/(m+1)), m in [√½, √2).
#[inline(always)]
fn ln_poly(q: f64) -> f64 {
    const LN2: f64 = std::f64::consts::LN_2;
    const MANT: u64 = (1u64 << 52) - 1;
    // atanh(r)/r = 1 + r²/3 + r⁴/5 + …; |r| <= 0.1716, so the r²⁴ term is below 1e-19.
    const C: [f64; 12] = [
        1.0,
        1.0 / 3.0,
        1.0 / 5.0,
        1.0 / 7.0,
        1.0 / 9.0,
        1.0 / 11.0,
        1.0 / 13.0,
        1.0 / 15.0,
        1.0 / 17.0,
        1.0 / 19.0,
        1.0 / 21.0,
        1.0 / 23.0,
    ];
    let bits = q.to_bits();
    let e0 = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m0 = f64::from_bits((bits & MANT) | (1023u64 << 52));
    let big = m0 > std::f64::consts::SQRT_2;
    let m = if big { m0 * 0.5 } else { m0 };
    let e = if big { e0 + 1 } else { e0 } as f64;
    let r = (m - 1.0) / (m + 1.0);
    e.mul_add(LN2, 2.0 * r * estrin12(r * r, &C))
}

/// A tile index in float form → u32. NaN (from invalid input, fixed up later) becomes 0; the
/// value is then within [0, 2^30], so the unchecked conversion is sound. It matters: the
/// saturating `as` conversion does not vectorise.
#[inline(always)]
fn to_index(v: f64) -> u32 {
    let v = if v >= 0.0 {
        v.min(4_294_967_295.0)
    } else {
        0.0
    };
    // SAFETY: `v` is finite and within u32's range.
    unsafe { v.to_int_unchecked::<u32>() }
}

/// Marks a row of `tiles_y` that the scalar path must settle.
const SETTLE: u32 = u32::MAX;

/// The branch-free body: `out_x`, `out_y` and `valid`; `SETTLE` in `out_y` where the point is
/// invalid or its approximate y lies too close to a tile edge (the caller settles those).
#[inline(always)]
fn tiles_approx_body(
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    out_x: &mut [u32],
    out_y: &mut [u32],
    valid: &mut [bool],
) {
    let z2 = (1u64 << zoom) as f64;
    let last = z2 - 1.0;
    // The polynomial error in y is below 1e-13 for |lat| <= 85.06; the margin covers it and
    // mercantile's epsilon (whose effect is then reproduced by the exact path).
    let margin = 1e-12 * z2 + 1e-9;
    // Equal lengths, stated to the compiler so that the loop has no bounds checks (and vectorises).
    let n = lon.len();
    let (lat, out_x, out_y, valid) = (&lat[..n], &mut out_x[..n], &mut out_y[..n], &mut valid[..n]);
    for i in 0..n {
        let x = lon[i] / 360.0 + 0.5;
        let tx = ((x + EPSILON) * z2).floor();
        let gx = if x <= 0.0 {
            0.0
        } else if x >= 1.0 {
            last
        } else {
            tx
        };
        out_x[i] = to_index(gx);

        let la = lat[i];
        let a = la.clamp(-CLAMP_LAT, CLAMP_LAT) * (PI / 180.0);
        let s = sin_poly(a);
        let y = 0.5 - ln_poly((1.0 + s) / (1.0 - s)) * (0.25 / PI);
        let t = (y + EPSILON) * z2;
        let ft = t.floor();
        let near = (t - ft < margin) | (ft + 1.0 - t < margin);
        let gy = if la > CLAMP_LAT {
            0.0
        } else if la < -CLAMP_LAT {
            last
        } else if near {
            -1.0
        } else if t < 0.0 {
            0.0
        } else if t >= z2 {
            last
        } else {
            ft
        };
        // -1.0 saturates to 0 in `as u32`; mark explicitly.
        let ok = lon[i].is_finite() & la.is_finite() & (la.abs() < 90.0);
        valid[i] = ok;
        out_y[i] = if gy < 0.0 || !ok {
            SETTLE
        } else {
            to_index(gy)
        };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn tiles_approx_avx512(
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    x: &mut [u32],
    y: &mut [u32],
    ok: &mut [bool],
) {
    tiles_approx_body(lon, lat, zoom, x, y, ok)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tiles_approx_avx2(
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    x: &mut [u32],
    y: &mut [u32],
    ok: &mut [bool],
) {
    tiles_approx_body(lon, lat, zoom, x, y, ok)
}

fn tiles_approx(lon: &[f64], lat: &[f64], zoom: u8, x: &mut [u32], y: &mut [u32], ok: &mut [bool]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the features the function is compiled for were detected just above.
            return unsafe { tiles_approx_avx512(lon, lat, zoom, x, y, ok) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { tiles_approx_avx2(lon, lat, zoom, x, y, ok) };
        }
    }
    tiles_approx_body(lon, lat, zoom, x, y, ok)
}

/// Rows per parallel task: large enough to amortise scheduling, small enough for two cores.
const CHUNK: usize = 1 << 16;

/// Tiles of many points at one zoom. `valid[i]` is false where the point is invalid (see
/// [`check_point`]); there `x[i]`, `y[i]` are 0. Runs on the rayon pool for large inputs.
pub fn tiles_for_points(
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    x: &mut [u32],
    y: &mut [u32],
    valid: &mut [bool],
) {
    use rayon::prelude::*;
    assert!(lon.len() == lat.len() && x.len() == lon.len() && y.len() == lon.len());
    assert!(valid.len() == lon.len() && zoom <= MAX_ZOOM);
    if lon.len() <= CHUNK {
        return tiles_chunk(lon, lat, zoom, x, y, valid);
    }
    lon.par_chunks(CHUNK)
        .zip(lat.par_chunks(CHUNK))
        .zip(x.par_chunks_mut(CHUNK).zip(y.par_chunks_mut(CHUNK)))
        .zip(valid.par_chunks_mut(CHUNK))
        .for_each(|(((lo, la), (ox, oy)), ok)| tiles_chunk(lo, la, zoom, ox, oy, ok));
}

/// One chunk: the vectorised pass, then the exact path for near-edge points.
fn tiles_chunk(
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    x: &mut [u32],
    y: &mut [u32],
    valid: &mut [bool],
) {
    tiles_approx(lon, lat, zoom, x, y, valid);
    for i in 0..lon.len() {
        if y[i] == SETTLE {
            (x[i], y[i]) = if valid[i] {
                tile_xy_unchecked(lon[i], lat[i], zoom)
            } else {
                (0, 0)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(lon: f64, lat: f64, z: u8) -> (u32, u32) {
        let tl = tile(lon, lat, z).expect("valid");
        (tl.x, tl.y)
    }

    #[test]
    fn reference_server_vectors() {
        // ldes-semantics.md §3.1
        assert_eq!(t(-4.1259489208459845, 51.20651243817338, 11), (1000, 683));
        assert_eq!(t(5.47236, 50.9642, 15), (16882, 10975));
        assert_eq!(t(5.49661, 50.9667, 15), (16884, 10974));
    }

    #[test]
    fn clamps_like_mercantile() {
        assert_eq!(t(180.0, 0.0, 3), (7, 4));
        assert_eq!(t(-180.0, 0.0, 3), (0, 4));
        assert_eq!(t(1e300, 89.0, 3), (7, 0));
        assert_eq!(t(0.0, -89.0, 3), (4, 7));
        assert_eq!(t(0.0, 0.0, 0), (0, 0));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            tile(f64::NAN, 0.0, 1),
            Err(TileError::Longitude(_))
        ));
        assert!(matches!(tile(0.0, 90.0, 1), Err(TileError::Latitude(_))));
        assert!(matches!(
            tile(0.0, f64::INFINITY, 1),
            Err(TileError::Latitude(_))
        ));
        assert!(matches!(tile(0.0, 0.0, 31), Err(TileError::Zoom(31))));
        assert!(check_zoom(-1).is_err());
    }

    #[test]
    fn bbox_wkt_vectors() {
        assert_eq!(
            tile_bbox_wkt(Tile { x: 1, y: 1, z: 1 }),
            "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON ((180 0, 180 -85.0511287798066, 0 -85.0511287798066, 0 0, 180 0))"
        );
        assert_eq!(
            tile_bbox_wkt(Tile { x: 16777, y: 11001, z: 15 }),
            "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON ((4.32861328125 50.78510168548185, 4.32861328125 50.778155274659234, 4.317626953125 50.778155274659234, 4.317626953125 50.78510168548185, 4.32861328125 50.78510168548185))"
        );
    }

    #[test]
    fn vectorised_equals_scalar_on_a_dense_sweep() {
        // Latitudes straddling many row edges at several zooms, plus the clamp band.
        let n = 200_001;
        let lat: Vec<f64> = (0..n)
            .map(|i| -89.9 + 179.8 * i as f64 / (n - 1) as f64)
            .collect();
        let lon: Vec<f64> = (0..n)
            .map(|i| -180.0 + 360.0 * i as f64 / (n - 1) as f64)
            .collect();
        for z in [0u8, 1, 5, 12, 18, 24, 28, 30] {
            let (mut x, mut y, mut ok) = (vec![0; n], vec![0; n], vec![false; n]);
            tiles_for_points(&lon, &lat, z, &mut x, &mut y, &mut ok);
            for i in 0..n {
                assert!(ok[i]);
                assert_eq!(
                    (x[i], y[i]),
                    tile_xy_unchecked(lon[i], lat[i], z),
                    "z{z} {} {}",
                    lon[i],
                    lat[i]
                );
            }
        }
    }

    #[test]
    fn row_edges_go_to_the_scalar_path() {
        for z in [3u8, 15, 27] {
            for row in [1u32, 2, 3, 5] {
                let row = row * ((1u32 << z) / 8);
                let lat = tile_lat(row, z);
                let lats: Vec<f64> = [-1e-12, 0.0, 1e-12].iter().map(|d| lat + d).collect();
                let lons = vec![10.0; 3];
                let (mut x, mut y, mut ok) = (vec![0; 3], vec![0; 3], vec![false; 3]);
                tiles_for_points(&lons, &lats, z, &mut x, &mut y, &mut ok);
                for i in 0..3 {
                    assert_eq!((x[i], y[i]), tile_xy_unchecked(lons[i], lats[i], z));
                }
            }
        }
    }

    #[test]
    fn invalid_points_are_flagged() {
        let lon = [0.0, f64::NAN, 0.0, f64::INFINITY, 0.0];
        let lat = [0.0, 0.0, 90.0, 0.0, -95.0];
        let (mut x, mut y, mut ok) = ([0; 5], [0; 5], [false; 5]);
        tiles_for_points(&lon, &lat, 4, &mut x, &mut y, &mut ok);
        assert_eq!(ok, [true, false, false, false, false]);
    }
}
