//! Point → slippy-map tile, bit for bit equal to `mercantile.tile` (1.2.x), and tile bounds.
//!
//! The scalar path repeats mercantile's arithmetic operation by operation (the same libm `sin`
//! and `log` that CPython calls), so it gives the same tile for every input mercantile accepts,
//! its clamping at the grid edges and its `1e-14` epsilon included. The vectorised path
//! evaluates the projection with polynomials (no libm call, so LLVM vectorises the loop), and
//! hands every point whose tile coordinate falls within a safety margin of an integer to the
//! scalar path: the polynomials only have to be accurate to far better than that margin.

use std::f64::consts::PI;
use std::mem::MaybeUninit;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, StructArray, UInt32Array};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields};

use crate::columns::{self, ColumnError};

/// The deepest zoom level accepted (2^30 tiles a side, the limit of mercantile's users too).
pub(crate) const MAX_ZOOM: u8 = 30;
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
    #[error("latitude {0} is not a finite number between -90 and 90")]
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
pub(crate) fn check_point(lon: f64, lat: f64) -> Result<(), TileError> {
    if !lon.is_finite() {
        return Err(TileError::Longitude(lon));
    }
    // The poles themselves are valid: they clamp to the first/last row, as `cover` does for
    // a point there (docs/semantics.md, "Tiles"); mercantile refuses them (1 - sin(lat) = 0).
    if !(lat.is_finite() && lat.abs() <= 90.0) {
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
pub(crate) fn tile_xy_unchecked(lon: f64, lat: f64, zoom: u8) -> (u32, u32) {
    let z2 = (1u64 << zoom) as f64;
    let x = lon / 360.0 + 0.5;
    // mercantile raises for latitudes where 1 - sin(lat) rounds to 0 (within ~1e-8 of a pole);
    // there y is -inf/+inf and the clamp gives the first/last row, which is what a caller wants.
    let y = mercator_y_exact(lat);
    (grid_index(x, z2), grid_index(y, z2))
}

/// Western edge of column `x` in degrees (the reference server's `tile2lon`).
#[inline]
pub(crate) fn tile_lon(x: u32, zoom: u8) -> f64 {
    x as f64 / (1u64 << zoom) as f64 * 360.0 - 180.0
}

/// Northern edge of row `y` in degrees (the reference server's `tile2lat`).
#[inline]
pub(crate) fn tile_lat(y: u32, zoom: u8) -> f64 {
    let n = PI - 2.0 * PI * y as f64 / (1u64 << zoom) as f64;
    n.sinh().atan().to_degrees()
}

/// West, south, east, north of a tile in degrees.
pub(crate) fn tile_bounds(t: Tile) -> (f64, f64, f64, f64) {
    (
        tile_lon(t.x, t.z),
        tile_lat(t.y + 1, t.z),
        tile_lon(t.x + 1, t.z),
        tile_lat(t.y, t.z),
    )
}

/// The tile's bounding box as the reference server's relation value: a CRS84-prefixed WKT
/// polygon with the ring `E N, E S, W S, W N, E N`, numbers in shortest round-trip form.
pub(crate) fn tile_bbox_wkt(t: Tile) -> String {
    let (w, s, e, n) = tile_bounds(t);
    format!(
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON (({e} {n}, {e} {s}, {w} {s}, {w} {n}, {e} {n}))"
    )
}

// ---------------------------------------------------------------------------------------------
// Vectorised path.

/// `c[0] + c[1]·t + … + c[N-1]·t^(N-1)` (9 <= N <= 12) by Estrin's scheme with fused
/// multiply-adds: a shallow dependency tree instead of a Horner chain, which is what bounds the
/// vector loop.
#[inline(always)]
fn estrin<const N: usize>(t: f64, c: &[f64; N]) -> f64 {
    const { assert!(9 <= N && N <= 12) };
    // In range for every N the match below keeps (N is a constant).
    let k = |i: usize| c[i.min(N - 1)];
    let t2 = t * t;
    let t4 = t2 * t2;
    let q = |i: usize| k(i + 1).mul_add(t, k(i));
    let r0 = q(2).mul_add(t2, q(0));
    let r1 = q(6).mul_add(t2, q(4));
    // The coefficients from c[8] on, without multiplying zeros.
    let r2 = match N {
        9 => k(8),
        10 => q(8),
        11 => k(10).mul_add(t2, q(8)),
        _ => q(10).mul_add(t2, q(8)),
    };
    (r2 * t4).mul_add(t4, r1.mul_add(t4, r0))
}

/// sin(a) for |a| <= 1.4846 (85.06°): Taylor series to a^19, error < 1e-16.
#[inline(always)]
fn sin_poly(a: f64) -> f64 {
    a * estrin(a * a, &SIN_TAYLOR)
}

/// sin's Taylor coefficients: `a·Σ SIN_TAYLOR[k]·a^(2k)`.
const SIN_TAYLOR: [f64; 10] = [
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
];

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

/// ln(n / d) for finite n, d > 0 (normal numbers) with a single division: the exponents are
/// subtracted, the mantissa ratio brought into [√½, √2] and its log taken as
/// 2·atanh((m_n - m_d)/(m_n + m_d)). Dividing first and taking a log of the quotient costs two.
#[inline(always)]
fn ln_ratio(n: f64, d: f64) -> f64 {
    const LN2: f64 = std::f64::consts::LN_2;
    const MANT: u64 = (1u64 << 52) - 1;
    const ONE: u64 = 1023u64 << 52;
    let (nb, db) = (n.to_bits(), d.to_bits());
    let e0 = ((nb >> 52) & 0x7ff) as i64 - ((db >> 52) & 0x7ff) as i64;
    // Both mantissas in [1, 2): their ratio is in (½, 2).
    let mn0 = f64::from_bits((nb & MANT) | ONE);
    let md0 = f64::from_bits((db & MANT) | ONE);
    let high = mn0 > std::f64::consts::SQRT_2 * md0;
    let low = mn0 * std::f64::consts::SQRT_2 < md0;
    let md = if high { md0 * 2.0 } else { md0 };
    let mn = if low { mn0 * 2.0 } else { mn0 };
    let e = (e0 + i64::from(high) - i64::from(low)) as f64;
    let r = (mn - md) / (mn + md);
    e.mul_add(LN2, r * estrin(r * r, &LN_ATANH))
}

/// ln(m) = 2·atanh(r) = r·Σ LN_ATANH[k]·r^(2k) = r·(2 + 2r²/3 + 2r⁴/5 + …); for
/// |r| <= 0.1716 the first term left out (r¹⁹) is below 1e-15.
const LN_ATANH: [f64; 9] = [
    2.0,
    2.0 / 3.0,
    2.0 / 5.0,
    2.0 / 7.0,
    2.0 / 9.0,
    2.0 / 11.0,
    2.0 / 13.0,
    2.0 / 15.0,
    2.0 / 17.0,
];

/// Points per block: one word of the validity bitmap.
const BLOCK: usize = 64;

/// Tiles of one block of points, written to `x` and `y` (0 where invalid); returns the
/// validity bits and whether some point lies too close to a tile edge for the polynomials
/// (the caller settles those with the exact path).
///
/// The stages run as separate loops over the block (the intermediate values stay in L1):
/// each loop is short, so the CPU overlaps many of its iterations instead of waiting on one
/// long chain of dependent operations per point.
#[inline(always)]
fn block_approx(
    lon: &[f64; BLOCK],
    lat: &[f64; BLOCK],
    zoom: u8,
    x: &mut [u32; BLOCK],
    y: &mut [u32; BLOCK],
) -> (u64, bool) {
    let z2 = (1u64 << zoom) as f64;
    let last = z2 - 1.0;
    // mercantile's tile coordinates are t = (v + ε)·z2 with v = lon/360 + ½ and
    // v = ½ - ln((1 + sin φ)/(1 - sin φ))/(4π); here each is one fused multiply-add with the
    // constants folded, within a few ulps of t. The polynomial error in v is below 1e-13 for
    // |lat| <= 85.06; the margin covers both and mercantile's epsilon (whose effect is then
    // reproduced by the exact path).
    let (kx, ky, k0) = (z2 / 360.0, -z2 * (0.25 / PI), (0.5 + EPSILON) * z2);
    let margin = 1e-12 * z2 + 1e-9;
    let near = |t: f64| {
        let ft = t.floor();
        (t - ft < margin) | (ft + 1.0 - t < margin)
    };
    let (mut num, mut den) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
    for i in 0..BLOCK {
        let a = lat[i].clamp(-CLAMP_LAT, CLAMP_LAT) * (PI / 180.0);
        let s = sin_poly(a);
        num[i] = 1.0 + s;
        den[i] = 1.0 - s;
    }
    let mut ok = [false; BLOCK];
    let mut settle = [false; BLOCK];
    for i in 0..BLOCK {
        let (lo, la) = (lon[i], lat[i]);
        let valid = lo.is_finite() & la.is_finite() & (la.abs() <= 90.0);
        let tx = lo.mul_add(kx, k0);
        let ty = ln_ratio(num[i], den[i]).mul_add(ky, k0);
        let gx = tx.floor().clamp(0.0, last);
        let gy = if la > CLAMP_LAT {
            0.0
        } else if la < -CLAMP_LAT {
            last
        } else {
            ty.floor().clamp(0.0, last)
        };
        let clamped = la.abs() > CLAMP_LAT;
        settle[i] = valid & (near(tx) | (near(ty) & !clamped));
        ok[i] = valid;
        x[i] = if valid { to_index(gx) } else { 0 };
        y[i] = if valid { to_index(gy) } else { 0 };
    }
    (pack_bits(&ok), settle.iter().fold(false, |a, &b| a | b))
}

/// Packs 64 booleans into a word, bit i = `b[i]` (Arrow's bitmap order), eight at a time: a
/// multiply gathers the low bit of each byte into the top byte.
#[inline(always)]
fn pack_bits(b: &[bool; BLOCK]) -> u64 {
    let mut word = 0u64;
    for (k, eight) in b.chunks_exact(8).enumerate() {
        let mut w = 0u64;
        for (j, &v) in eight.iter().enumerate() {
            w |= u64::from(v) << (8 * j);
        }
        word |= (w.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
    }
    word
}

/// Tiles of a run of points into `x`, `y` and the validity words (one per 64 points, the last
/// one partial); returns the number of invalid points.
#[inline(always)]
fn tiles_run(
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    x: &mut [MaybeUninit<u32>],
    y: &mut [MaybeUninit<u32>],
    valid: &mut [MaybeUninit<u64>],
) -> usize {
    let mut invalid = 0;
    let (mut bx, mut by) = ([0u32; BLOCK], [0u32; BLOCK]);
    for (b, word) in valid.iter_mut().enumerate() {
        let lo = b * BLOCK;
        let len = (lon.len() - lo).min(BLOCK);
        // A partial last block is padded with a valid point; its bits are masked off.
        let (mut plon, mut plat) = ([0.0f64; BLOCK], [0.0f64; BLOCK]);
        let (blon, blat) = if len == BLOCK {
            (
                lon[lo..lo + BLOCK].try_into().expect("a full block"),
                lat[lo..lo + BLOCK].try_into().expect("a full block"),
            )
        } else {
            plon[..len].copy_from_slice(&lon[lo..lo + len]);
            plat[..len].copy_from_slice(&lat[lo..lo + len]);
            (&plon, &plat)
        };
        let (mut bits, settle) = block_approx(blon, blat, zoom, &mut bx, &mut by);
        if settle {
            for i in 0..len {
                if bits >> i & 1 == 1 {
                    (bx[i], by[i]) = tile_xy_unchecked(blon[i], blat[i], zoom);
                }
            }
        }
        if len < BLOCK {
            bits &= (1u64 << len) - 1;
        }
        invalid += len - bits.count_ones() as usize;
        word.write(bits);
        for (o, &v) in x[lo..lo + len].iter_mut().zip(&bx) {
            o.write(v);
        }
        for (o, &v) in y[lo..lo + len].iter_mut().zip(&by) {
            o.write(v);
        }
    }
    invalid
}

macro_rules! dispatch_run {
    ($($name:ident: $features:literal;)*) => {
        $(
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = $features)]
            fn $name(
                lon: &[f64],
                lat: &[f64],
                zoom: u8,
                x: &mut [MaybeUninit<u32>],
                y: &mut [MaybeUninit<u32>],
                valid: &mut [MaybeUninit<u64>],
            ) -> usize {
                tiles_run(lon, lat, zoom, x, y, valid)
            }
        )*
    };
}

dispatch_run! {
    tiles_run_avx2: "avx2,fma";
}

/// Whether this CPU runs [`avx512::tiles_run`].
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("fma")
}

/// [`tiles_run`] compiled for the best instruction set this CPU has (the wheel stays portable).
fn tiles_run_dispatch(
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    x: &mut [MaybeUninit<u32>],
    y: &mut [MaybeUninit<u32>],
    valid: &mut [MaybeUninit<u64>],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: the features the function is compiled for were detected just above.
            return unsafe { avx512::tiles_run(lon, lat, zoom, x, y, valid) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { tiles_run_avx2(lon, lat, zoom, x, y, valid) };
        }
    }
    tiles_run(lon, lat, zoom, x, y, valid)
}

/// The vectorised path written with AVX-512 intrinsics, 4 × 8 points per step: the same
/// polynomials and margin as [`block_approx`], with about 70 % of its instructions (LLVM's version
/// of the portable code spends as many on clamps, NaN-safe min/max, bitmaps built from bytes
/// and copies through block buffers as on the projection). AVX-512 has the operations this
/// needs as single instructions: exponent and mantissa of a double (`getexp`/`getmant`),
/// floor (`roundscale`), class tests (`fpclass`), masked loads, conversions and stores. Points
/// near an edge are settled one by one (not their whole block). ~3.7 ns/point on one core of
/// the benchmark VM, against ~6 for the portable loop compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::*;
    use std::arch::x86_64::*;

    /// `[$e for $u in 0..U]` of one lane type, written as a loop over the U vectors so that
    /// each operation is issued for all of them before the next one: U independent
    /// dependency chains side by side. One chain alone (~130 cycles from load to store) fills
    /// the scheduler before the next step's can start, and the core idles.
    macro_rules! each {
        ($zero:expr, $u:ident => $e:expr) => {{
            let mut out = [$zero; U];
            for $u in 0..U {
                out[$u] = $e;
            }
            out
        }};
    }
    macro_rules! vd {
        ($u:ident => $e:expr) => {
            each!(_mm512_setzero_pd(), $u => $e)
        };
    }
    macro_rules! vm {
        ($u:ident => $e:expr) => {
            each!(0u8, $u => $e)
        };
    }

    /// `c[0] + c[1]·t + …` by Estrin's scheme (a short dependency chain, as in [`estrin`]),
    /// for U vectors side by side.
    #[inline]
    #[target_feature(enable = "avx512f,fma")]
    fn estrin8<const U: usize, const N: usize>(t: [__m512d; U], c: &[f64; N]) -> [__m512d; U] {
        const { assert!(9 <= N && N <= 10) };
        let k = |i: usize| _mm512_set1_pd(c[i.min(N - 1)]);
        let t2 = vd!(u => _mm512_mul_pd(t[u], t[u]));
        let t4 = vd!(u => _mm512_mul_pd(t2[u], t2[u]));
        let q = |i: usize, u: usize| _mm512_fmadd_pd(k(i + 1), t[u], k(i));
        let r0 = vd!(u => _mm512_fmadd_pd(q(2, u), t2[u], q(0, u)));
        let r1 = vd!(u => _mm512_fmadd_pd(q(6, u), t2[u], q(4, u)));
        let r2 = vd!(u => if N == 9 { k(8) } else { q(8, u) });
        vd!(u => _mm512_fmadd_pd(
            _mm512_mul_pd(r2[u], t4[u]),
            t4[u],
            _mm512_fmadd_pd(r1[u], t4[u], r0[u]),
        ))
    }

    /// One step: tiles of `8·U` points, as `(valid, settle, x, y)` per vector of eight;
    /// `settle` marks valid points within the margin of a tile edge, which the caller
    /// recomputes exactly.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
    #[allow(clippy::type_complexity)]
    fn step<const U: usize>(
        lo: [__m512d; U],
        la: [__m512d; U],
        k: &Consts,
    ) -> ([u8; U], [u8; U], [__m256i; U], [__m256i; U]) {
        const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
        let one = _mm512_set1_pd(1.0);
        // Longitude: not NaN (QNaN 0x01, SNaN 0x80) nor ±inf (0x08, 0x10); |lat| <= 90 is
        // false for NaN too.
        let ninety = _mm512_set1_pd(90.0);
        let ok = vm!(u => _mm512_cmp_pd_mask::<_CMP_LE_OQ>(_mm512_abs_pd(la[u]), ninety)
            & !_mm512_fpclass_pd_mask::<0x99>(lo[u]));

        // x: one fused multiply-add, then floor and the distance to the nearest edge.
        let tx = vd!(u => _mm512_fmadd_pd(lo[u], k.kx, k.k0));
        let fx = vd!(u => _mm512_roundscale_pd::<FLOOR>(tx[u]));
        let rx = vd!(u => _mm512_sub_pd(tx[u], fx[u]));
        let near_x = vm!(u => _mm512_cmp_pd_mask::<_CMP_LT_OQ>(rx[u], k.margin)
            | _mm512_cmp_pd_mask::<_CMP_GT_OQ>(rx[u], k.one_minus_margin));

        // y: sin by its Taylor polynomial on the clamped latitude (NaN becomes -CLAMP_LAT:
        // `max` returns its second operand when one is NaN; such points are invalid anyway).
        let a = vd!(u => _mm512_mul_pd(
            _mm512_min_pd(_mm512_max_pd(la[u], k.neg_clamp), k.clamp),
            k.rad,
        ));
        let a2 = vd!(u => _mm512_mul_pd(a[u], a[u]));
        let sp = estrin8(a2, &SIN);
        let s = vd!(u => _mm512_mul_pd(a[u], sp[u]));
        let num = vd!(u => _mm512_add_pd(one, s[u]));
        let den = vd!(u => _mm512_sub_pd(one, s[u]));
        // ln(num/den): exponents apart, mantissas in [1, 2) brought to a ratio in [√½, √2].
        let e0 = vd!(u => _mm512_sub_pd(_mm512_getexp_pd(num[u]), _mm512_getexp_pd(den[u])));
        let mn0 = vd!(u => _mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_SRC>(num[u]));
        let md0 = vd!(u => _mm512_getmant_pd::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_SRC>(den[u]));
        let sqrt2 = _mm512_set1_pd(std::f64::consts::SQRT_2);
        let high = vm!(u => _mm512_cmp_pd_mask::<_CMP_GT_OQ>(mn0[u], _mm512_mul_pd(sqrt2, md0[u])));
        let low = vm!(u => _mm512_cmp_pd_mask::<_CMP_LT_OQ>(_mm512_mul_pd(mn0[u], sqrt2), md0[u]));
        let md = vd!(u => _mm512_mask_add_pd(md0[u], high[u], md0[u], md0[u]));
        let mn = vd!(u => _mm512_mask_add_pd(mn0[u], low[u], mn0[u], mn0[u]));
        let e = vd!(u => _mm512_mask_sub_pd(
            _mm512_mask_add_pd(e0[u], high[u], e0[u], one),
            low[u],
            e0[u],
            one,
        ));
        let r = vd!(u => _mm512_div_pd(_mm512_sub_pd(mn[u], md[u]), _mm512_add_pd(mn[u], md[u])));
        let r2 = vd!(u => _mm512_mul_pd(r[u], r[u]));
        let lp = estrin8(r2, &LN);
        let ln2 = _mm512_set1_pd(std::f64::consts::LN_2);
        let ln = vd!(u => _mm512_fmadd_pd(e[u], ln2, _mm512_mul_pd(r[u], lp[u])));
        let ty = vd!(u => _mm512_fmadd_pd(ln[u], k.ky, k.k0));
        let fy = vd!(u => _mm512_roundscale_pd::<FLOOR>(ty[u]));
        let ry = vd!(u => _mm512_sub_pd(ty[u], fy[u]));
        let near_y = vm!(u => _mm512_cmp_pd_mask::<_CMP_LT_OQ>(ry[u], k.margin)
            | _mm512_cmp_pd_mask::<_CMP_GT_OQ>(ry[u], k.one_minus_margin));

        // Clamp to the grid (`max` turns NaN into 0) and convert; invalid points get 0.
        let zero = _mm512_setzero_pd();
        let i0 = _mm256_setzero_si256();
        let gx = each!(i0, u => _mm512_maskz_cvttpd_epu32(
            ok[u],
            _mm512_min_pd(_mm512_max_pd(fx[u], zero), k.last),
        ));
        let gy = each!(i0, u => _mm512_maskz_cvttpd_epu32(
            ok[u],
            _mm512_min_pd(_mm512_max_pd(fy[u], zero), k.last),
        ));
        let settle = vm!(u => ok[u] & (near_x[u] | near_y[u]));
        (ok, settle, gx, gy)
    }

    /// Constants of one zoom level, broadcast once.
    struct Consts {
        kx: __m512d,
        ky: __m512d,
        k0: __m512d,
        margin: __m512d,
        one_minus_margin: __m512d,
        last: __m512d,
        clamp: __m512d,
        neg_clamp: __m512d,
        rad: __m512d,
    }

    const SIN: [f64; 10] = SIN_TAYLOR;
    const LN: [f64; 9] = LN_ATANH;

    /// [`super::tiles_run`] for CPUs with AVX-512 (F, DQ, VL) and FMA.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
    pub(super) fn tiles_run(
        lon: &[f64],
        lat: &[f64],
        zoom: u8,
        x: &mut [MaybeUninit<u32>],
        y: &mut [MaybeUninit<u32>],
        valid: &mut [MaybeUninit<u64>],
    ) -> usize {
        let n = lon.len();
        assert!(lat.len() == n && x.len() == n && y.len() == n);
        assert!(valid.len() == n.div_ceil(BLOCK));
        let z2 = (1u64 << zoom) as f64;
        let margin = 1e-12 * z2 + 1e-9;
        let k = Consts {
            kx: _mm512_set1_pd(z2 / 360.0),
            ky: _mm512_set1_pd(-z2 * (0.25 / PI)),
            k0: _mm512_set1_pd((0.5 + EPSILON) * z2),
            margin: _mm512_set1_pd(margin),
            one_minus_margin: _mm512_set1_pd(1.0 - margin),
            last: _mm512_set1_pd(z2 - 1.0),
            clamp: _mm512_set1_pd(CLAMP_LAT),
            neg_clamp: _mm512_set1_pd(-CLAMP_LAT),
            rad: _mm512_set1_pd(PI / 180.0),
        };
        let mut invalid = 0;
        for (w, word) in valid.iter_mut().enumerate() {
            let start = w * BLOCK;
            let len = (n - start).min(BLOCK);
            let (bits, mut settle) = if len == BLOCK {
                // SAFETY: a whole block is in bounds.
                unsafe { block::<U>(lon, lat, x, y, start, &k) }
            } else {
                // SAFETY: `len` points from `start` are in bounds.
                unsafe { partial_block(lon, lat, x, y, start, len, &k) }
            };
            while settle != 0 {
                let j = start + settle.trailing_zeros() as usize;
                let (tx, ty) = tile_xy_unchecked(lon[j], lat[j], zoom);
                x[j].write(tx);
                y[j].write(ty);
                settle &= settle - 1;
            }
            invalid += len - bits.count_ones() as usize;
            word.write(bits);
        }
        invalid
    }

    /// Vectors of eight points per step (see [`each`]); more spill registers.
    const U: usize = 4;

    /// One whole block from `start`: writes `x` and `y`, returns the validity and settle bits.
    ///
    /// # Safety
    /// `start + BLOCK` must be within all four slices (`lon`, `lat`, `x`, `y`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
    unsafe fn block<const U: usize>(
        lon: &[f64],
        lat: &[f64],
        x: &mut [MaybeUninit<u32>],
        y: &mut [MaybeUninit<u32>],
        start: usize,
        k: &Consts,
    ) -> (u64, u64) {
        let (mut bits, mut settle) = (0u64, 0u64);
        for g in (0..BLOCK).step_by(8 * U) {
            let i = start + g;
            // SAFETY: i + 8·U <= start + BLOCK, within the slices (the caller's promise).
            unsafe {
                let lo = vd!(u => _mm512_loadu_pd(lon.as_ptr().add(i + 8 * u)));
                let la = vd!(u => _mm512_loadu_pd(lat.as_ptr().add(i + 8 * u)));
                let (ok, near, gx, gy) = step::<U>(lo, la, k);
                for u in 0..U {
                    _mm256_storeu_si256(x.as_mut_ptr().add(i + 8 * u).cast(), gx[u]);
                    _mm256_storeu_si256(y.as_mut_ptr().add(i + 8 * u).cast(), gy[u]);
                    bits |= u64::from(ok[u]) << (g + 8 * u);
                    settle |= u64::from(near[u]) << (g + 8 * u);
                }
            }
        }
        (bits, settle)
    }

    /// The last, partial block (`len` < BLOCK points from `start`), eight points at a time with
    /// the lanes past the end masked off for loads and stores alike.
    ///
    /// # Safety
    /// `start + len` must be within all four slices.
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,fma")]
    unsafe fn partial_block(
        lon: &[f64],
        lat: &[f64],
        x: &mut [MaybeUninit<u32>],
        y: &mut [MaybeUninit<u32>],
        start: usize,
        len: usize,
        k: &Consts,
    ) -> (u64, u64) {
        let (mut bits, mut settle) = (0u64, 0u64);
        for g in (0..len).step_by(8) {
            let i = start + g;
            let m: u8 = if len - g >= 8 {
                0xFF
            } else {
                (1u8 << (len - g)) - 1
            };
            // SAFETY: the unmasked lanes are below start + len (the caller's promise).
            unsafe {
                let lo = _mm512_maskz_loadu_pd(m, lon.as_ptr().add(i));
                let la = _mm512_maskz_loadu_pd(m, lat.as_ptr().add(i));
                let (ok, near, gx, gy) = step::<1>([lo], [la], k);
                _mm256_mask_storeu_epi32(x.as_mut_ptr().add(i).cast(), m, gx[0]);
                _mm256_mask_storeu_epi32(y.as_mut_ptr().add(i).cast(), m, gy[0]);
                bits |= u64::from(ok[0] & m) << g;
                settle |= u64::from(near[0] & m) << g;
            }
        }
        (bits, settle)
    }
}

/// Points per parallel task (a whole number of blocks): large enough to amortise scheduling,
/// small enough to balance two cores.
const CHUNK: usize = 1 << 16;

/// Tiles of many points at one zoom, written into uninitialised output (every element is
/// written): `x[i]`, `y[i]` (0 where the point is invalid, see [`check_point`]) and the
/// validity words (`lon.len().div_ceil(64)`). Returns the number of invalid points. Runs on
/// the rayon pool for large inputs.
fn tiles_into(
    run: RunFn,
    lon: &[f64],
    lat: &[f64],
    zoom: u8,
    x: &mut [MaybeUninit<u32>],
    y: &mut [MaybeUninit<u32>],
    valid: &mut [MaybeUninit<u64>],
) -> usize {
    use rayon::prelude::*;
    let n = lon.len();
    assert!(lat.len() == n && x.len() == n && y.len() == n);
    assert!(valid.len() == n.div_ceil(BLOCK) && zoom <= MAX_ZOOM);
    if n <= CHUNK {
        return run(lon, lat, zoom, x, y, valid);
    }
    lon.par_chunks(CHUNK)
        .zip(lat.par_chunks(CHUNK))
        .zip(x.par_chunks_mut(CHUNK).zip(y.par_chunks_mut(CHUNK)))
        .zip(valid.par_chunks_mut(CHUNK / BLOCK))
        .map(|(((lo, la), (ox, oy)), ok)| run(lo, la, zoom, ox, oy, ok))
        .sum()
}

/// The tiles of many points, in Arrow's layout.
#[derive(Debug)]
pub struct PointTiles {
    /// Column of each point (0 where the point is invalid).
    pub x: Vec<u32>,
    /// Row of each point (0 where the point is invalid).
    pub y: Vec<u32>,
    /// Validity bitmap: bit `i % 64` of word `i / 64` is set for a valid point (see
    /// [`check_point`]); bits past the end are clear.
    pub valid: Vec<u64>,
    /// How many points are invalid.
    pub invalid: usize,
}

/// Tiles of many points at one zoom, each equal to [`tile`]; `lon` and `lat` have one length.
pub fn tiles_of_points(lon: &[f64], lat: &[f64], zoom: u8) -> PointTiles {
    tiles_of_points_by(tiles_run_dispatch, lon, lat, zoom)
}

/// A function writing the tiles of a run of points (see [`tiles_run`]).
type RunFn = fn(
    &[f64],
    &[f64],
    u8,
    &mut [MaybeUninit<u32>],
    &mut [MaybeUninit<u32>],
    &mut [MaybeUninit<u64>],
) -> usize;

/// [`tiles_of_points`] through the given implementation (the tests run each one).
fn tiles_of_points_by(run: RunFn, lon: &[f64], lat: &[f64], zoom: u8) -> PointTiles {
    let n = lon.len();
    let words = n.div_ceil(BLOCK);
    let (mut x, mut y) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut valid = Vec::with_capacity(words);
    let invalid = tiles_into(
        run,
        lon,
        lat,
        zoom,
        &mut x.spare_capacity_mut()[..n],
        &mut y.spare_capacity_mut()[..n],
        &mut valid.spare_capacity_mut()[..words],
    );
    // SAFETY: `tiles_into` wrote all `n` points and `words` words (it asserts the lengths).
    unsafe {
        x.set_len(n);
        y.set_len(n);
        valid.set_len(words);
    }
    PointTiles {
        x,
        y,
        valid,
        invalid,
    }
}

impl PointTiles {
    /// Whether point `i` is valid (its bit in [`PointTiles::valid`]).
    pub(crate) fn is_valid(&self, i: usize) -> bool {
        self.valid[i / BLOCK] >> (i % BLOCK) & 1 == 1
    }
}

/// The fields of a tile struct in Arrow (`struct<x: uint32, y: uint32>`).
pub(crate) fn tile_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::UInt32, false),
        Field::new("y", DataType::UInt32, false),
    ])
}

/// Why [`tiles_array`] has no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PointsError {
    #[error(transparent)]
    Column(#[from] ColumnError),
    #[error("lon has {lon} values, lat has {lat}")]
    Lengths { lon: usize, lat: usize },
}

/// [`tiles_of_points`] of two float columns, as a `struct<x, y>` array: null where a
/// coordinate is null or the point invalid, no bitmap at all when every point is valid.
pub fn tiles_array(lon: &dyn Array, lat: &dyn Array, zoom: u8) -> Result<StructArray, PointsError> {
    let (lon, lon_nulls) = columns::floats("lon", lon)?;
    let (lat, lat_nulls) = columns::floats("lat", lat)?;
    let n = lon.len();
    if lat.len() != n {
        return Err(PointsError::Lengths {
            lon: n,
            lat: lat.len(),
        });
    }
    let tiles = tiles_of_points(&lon, &lat, zoom);
    let valid = BooleanBuffer::new(Buffer::from_vec(tiles.valid), 0, n);
    let mut nulls = (tiles.invalid > 0).then(|| NullBuffer::new(valid));
    for input in [lon_nulls, lat_nulls].into_iter().flatten() {
        nulls = NullBuffer::union(nulls.as_ref(), Some(&input));
    }
    let x: ArrayRef = Arc::new(UInt32Array::new(ScalarBuffer::from(tiles.x), None));
    let y: ArrayRef = Arc::new(UInt32Array::new(ScalarBuffer::from(tiles.y), None));
    let nulls = nulls.filter(|n| n.null_count() > 0);
    Ok(StructArray::new(tile_fields(), vec![x, y], nulls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_array_nulls_invalid_and_null_points() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt32Type;
        use arrow_array::{Float32Array, Float64Array};
        let lon = Float64Array::from(vec![Some(5.47236), Some(5.0), None, Some(f64::NAN)]);
        let lat = Float32Array::from(vec![Some(50.9642), Some(95.0), Some(50.0), Some(50.0)]);
        let tiles = tiles_array(&lon, &lat, 15).expect("floats");
        assert_eq!(tiles.fields(), &tile_fields());
        let valid: Vec<bool> = (0..4).map(|i| tiles.is_valid(i)).collect();
        assert_eq!(valid, [true, false, false, false]);
        let x = tiles.column(0).as_primitive::<UInt32Type>().value(0);
        let y = tiles.column(1).as_primitive::<UInt32Type>().value(0);
        // float32 latitude widened: the tile of the widened value.
        let t = tile(5.47236, f64::from(50.9642f32), 15).expect("valid");
        assert_eq!((x, y), (t.x, t.y));

        let all_valid = tiles_array(&lon.slice(0, 1), &lat.slice(0, 1), 15).expect("floats");
        assert!(all_valid.nulls().is_none());

        let short = Float64Array::from(vec![1.0]);
        assert_eq!(
            tiles_array(&lon, &short, 15)
                .expect_err("an error")
                .to_string(),
            "lon has 4 values, lat has 1"
        );
        let strings = arrow_array::StringArray::from(vec!["1"]);
        assert!(matches!(
            tiles_array(&strings, &short, 15),
            Err(PointsError::Column(ColumnError::Type { .. }))
        ));
    }

    /// Every implementation this CPU runs: the portable loop and, where the CPU has them, the
    /// AVX2 build of it and the AVX-512 kernel (which `tiles_of_points` picks here).
    fn paths() -> Vec<(&'static str, RunFn)> {
        let mut paths: Vec<(&'static str, RunFn)> = vec![("portable", tiles_run)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the features were detected just above.
                paths.push(("avx2", |a, b, z, x, y, v| unsafe {
                    tiles_run_avx2(a, b, z, x, y, v)
                }));
            }
            if has_avx512() {
                // SAFETY: as above.
                paths.push(("avx512", |a, b, z, x, y, v| unsafe {
                    avx512::tiles_run(a, b, z, x, y, v)
                }));
            }
        }
        paths
    }

    /// `tiles_of_points` through each implementation.
    fn each_path(lon: &[f64], lat: &[f64], z: u8) -> Vec<(&'static str, PointTiles)> {
        paths()
            .into_iter()
            .map(|(name, run)| (name, tiles_of_points_by(run, lon, lat, z)))
            .collect()
    }

    fn t(lon: f64, lat: f64, z: u8) -> (u32, u32) {
        let tl = tile(lon, lat, z).expect("valid");
        (tl.x, tl.y)
    }

    #[test]
    fn reference_server_vectors() {
        // docs/ldes-rules.md, "Geospatial test vectors"
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
        assert!(matches!(tile(0.0, 90.5, 1), Err(TileError::Latitude(_))));
        assert!(matches!(tile(0.0, -90.5, 1), Err(TileError::Latitude(_))));
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
        for z in [0u8, 1, 5, 12, 14, 18, 24, 28, 30] {
            let expect: Vec<(u32, u32)> = (0..n)
                .map(|i| tile_xy_unchecked(lon[i], lat[i], z))
                .collect();
            for (path, got) in each_path(&lon, &lat, z) {
                for i in 0..n {
                    assert!(got.is_valid(i));
                    assert_eq!(
                        (got.x[i], got.y[i]),
                        expect[i],
                        "{path} z{z} {} {}",
                        lon[i],
                        lat[i]
                    );
                }
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
                for (path, got) in each_path(&lons, &lats, z) {
                    for i in 0..3 {
                        assert_eq!(
                            (got.x[i], got.y[i]),
                            tile_xy_unchecked(lons[i], lats[i], z),
                            "{path}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn column_edges_go_to_the_scalar_path() {
        // x is computed as lon·(1/360) + ½, a few ulps from mercantile's lon/360 + ½.
        for z in [1u8, 9, 14, 22, 30] {
            let mut lons = Vec::new();
            for k in [0u32, 1, 2, 3, 5, 7] {
                let col = (k as u64 * (1u64 << z) / 8) as u32;
                let lon = tile_lon(col, z);
                for d in [
                    -1e-9, -1e-12, -1e-13, -1e-14, 0.0, 1e-14, 1e-13, 1e-12, 1e-9,
                ] {
                    lons.push(lon + d);
                }
                lons.extend([lon.next_up(), lon.next_down()]);
            }
            lons.extend([180.0, -180.0, 179.99999999999997, 1e300, -1e300, f64::MAX]);
            let lats = vec![50.0; lons.len()];
            for (path, got) in each_path(&lons, &lats, z) {
                assert_eq!(got.invalid, 0);
                for i in 0..lons.len() {
                    assert_eq!(
                        (got.x[i], got.y[i]),
                        tile_xy_unchecked(lons[i], lats[i], z),
                        "{path} z{z} lon {}",
                        lons[i]
                    );
                }
            }
        }
    }

    #[test]
    fn validity_bitmap_in_arrow_layout() {
        for n in [0usize, 1, 63, 64, 65, 130, CHUNK + 1, 3 * CHUNK - 7] {
            // Every 7th point has no valid latitude, every 11th no valid longitude.
            let lon: Vec<f64> = (0..n)
                .map(|i| if i % 11 == 3 { f64::NAN } else { 4.0 })
                .collect();
            let lat: Vec<f64> = (0..n)
                .map(|i| if i % 7 == 2 { 90.5 } else { 51.0 })
                .collect();
            for (path, got) in each_path(&lon, &lat, 12) {
                assert_eq!((got.x.len(), got.y.len()), (n, n), "{path}");
                assert_eq!(got.valid.len(), n.div_ceil(64));
                let expect = tile_xy_unchecked(4.0, 51.0, 12);
                let mut invalid = 0;
                for i in 0..n {
                    let ok = check_point(lon[i], lat[i]).is_ok();
                    invalid += usize::from(!ok);
                    assert_eq!(got.valid[i / 64] >> (i % 64) & 1 == 1, ok, "{n} {i}");
                    assert_eq!((got.x[i], got.y[i]), if ok { expect } else { (0, 0) });
                }
                assert_eq!(got.invalid, invalid);
                if n % 64 != 0 {
                    assert_eq!(got.valid[n / 64] >> (n % 64), 0);
                }
            }
        }
    }

    #[test]
    fn every_path_equals_the_exact_one_on_random_and_edge_points() {
        // Uniform points over the globe, odd lengths (partial blocks and steps), invalid
        // values of every kind mixed in, and the grid's outer edges ulp by ulp: the pole-side
        // clamp latitude (where mercantile's epsilon gives row 2^z for a sliver) and ±180°.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut uniform = |lo: f64, hi: f64| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let u = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * u
        };
        let mut lon: Vec<f64> = (0..10_007).map(|_| uniform(-180.0, 180.0)).collect();
        let mut lat: Vec<f64> = (0..10_007).map(|_| uniform(-89.99, 89.99)).collect();
        let edge = tile_lat(1, 0) - 1e-13;
        let (mut a, mut b) = (-edge, edge);
        for _ in 0..200 {
            lat.extend([a, b]);
            lon.extend([a * 2.0, b * 2.0]);
            a = a.next_down();
            b = b.next_up();
        }
        let (mut w, mut e) = (-180.0f64, 180.0f64);
        for _ in 0..50 {
            lon.extend([w, e]);
            lat.extend([10.0, -10.0]);
            w = w.next_up();
            e = e.next_down();
        }
        let bad = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            90.0,
            -90.0,
            1e300,
            -0.0,
            5e-324,
        ];
        for (k, v) in bad.iter().enumerate() {
            lon[97 * k + 5] = *v;
            lat[89 * k + 700] = *v;
        }
        for z in [0u8, 2, 7, 13, 14, 16, 20, 23, 26, 29, 30] {
            for (path, got) in each_path(&lon, &lat, z) {
                for i in 0..lon.len() {
                    let expect = tile(lon[i], lat[i], z).ok().map(|t| (t.x, t.y));
                    let have = got.is_valid(i).then(|| (got.x[i], got.y[i]));
                    assert_eq!(have, expect, "{path} z{z} {} {}", lon[i], lat[i]);
                    if expect.is_none() {
                        assert_eq!((got.x[i], got.y[i]), (0, 0));
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_points_are_flagged() {
        let lon = [0.0, f64::NAN, 0.0, f64::INFINITY, 0.0];
        let lat = [0.0, 0.0, 90.5, 0.0, -95.0];
        for (path, got) in each_path(&lon, &lat, 4) {
            let ok: Vec<bool> = (0..5).map(|i| got.is_valid(i)).collect();
            assert_eq!(ok, [true, false, false, false, false], "{path}");
        }
    }

    #[test]
    fn the_poles_are_the_first_and_last_rows_as_in_cover() {
        let (lon, lat) = ([0.0, 180.0, -180.0, 0.0], [90.0, 90.0, -90.0, -90.0]);
        for z in [0u8, 1, 3, 14, 30] {
            let last = (1u32 << z) - 1;
            let expect = [
                (1u32 << z >> 1).min(last),
                last,
                0,
                (1u32 << z >> 1).min(last),
            ];
            for i in 0..4 {
                let t = tile(lon[i], lat[i], z).expect("a pole is valid");
                assert_eq!((t.x, t.y), (expect[i], if lat[i] > 0.0 { 0 } else { last }));
                let g = crate::wkt::Geometry::Point((lon[i], lat[i]));
                let mut out = Vec::new();
                crate::cover::cover_geometry(&g, z, 10, &mut out).expect("covered");
                assert_eq!(out, [(t.x, t.y)], "z{z} {} {}", lon[i], lat[i]);
            }
            for (path, got) in each_path(&lon, &lat, z) {
                for (i, &x) in expect.iter().enumerate() {
                    assert!(got.is_valid(i), "{path}");
                    assert_eq!((got.x[i], got.y[i]), (x, if i < 2 { 0 } else { last }));
                }
            }
        }
    }
}
