//! Exact tile cover of a geometry: every tile at one zoom that the geometry intersects, as the
//! reference server computes it with JTS `intersects` against each tile's bounding box
//! (docs/ldes-rules.md, "Geospatial buckets"), but without testing the tiles of the bounding
//! box one by one.
//!
//! A tile is the closed lon/lat rectangle between the edges [`tile_lon`](crate::tile::tile_lon)
//! and [`tile_lat`]; touching an edge or a corner counts. Segments are straight in lon/lat (as
//! JTS sees them), not in Mercator. Lines are walked row by row: rows have unequal heights in
//! degrees, so each segment is clipped to every row band by that row's own edge latitudes and
//! covers the columns its clipped part spans. Polygons add, per row, the runs of tiles between
//! their boundary tiles that an even-odd test at the row's middle latitude puts inside. The
//! cost is proportional to the tiles produced, never to the tiles of the bounding box.
//!
//! Points follow mercantile instead (one tile even on an edge): exactly [`tile_xy_unchecked`].
//!
//! Latitudes beyond the Web Mercator limit (±85.0511287798066°) are clamped to it before
//! covering, as mercantile clamps points: a vertex at 89° is taken as a vertex on the top edge
//! of the grid, so a segment that crosses the limit is bent there rather than cut. There is no
//! antimeridian handling: coordinates are taken as written in [-180, 180].
//!
//! CRS: the WKT's CRS prefix decides how its `(x, y)` become `(lon, lat)`, in `to_lonlat`
//! (the one place where coordinates enter the cover). CRS84 (also no prefix, and EWKT
//! `SRID=4326;`) is longitude first; EPSG:4326 latitude first. EPSG:3857 (Web Mercator) and
//! EPSG:31370 (Belgian Lambert 72) are x/y metres, reprojected vertex by vertex to WGS 84 by
//! [`crate::crs`] (EPSG:31370 through the BD72 → WGS 84 datum shift EPSG:15929, as PROJ does
//! by default), the same prefix in EWKT (`SRID=31370;`) included. Segments are then straight
//! in lon/lat between the reprojected vertices, as the reference server covers a geometry after
//! Jena's `convertSRS`. A projected coordinate outside its CRS's sane area (see
//! [`Projection::to_lonlat`]) is [`CoverError::OutOfRange`], reported as written; any other
//! CRS is [`CoverError::UnsupportedCrs`].

use crate::columns::Strings;
use crate::crs::Projection;
use crate::tile::{tile_fields, tile_lat, tile_xy_unchecked, MAX_ZOOM};
use crate::wkt::{parse_wkt, Coord, Crs, Geometry, WktError};
use arrow_array::builder::{ArrayBuilder, UInt32Builder};
use arrow_array::{Array, ArrayRef, ListArray, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};
use std::f64::consts::PI;
use std::sync::Arc;

/// Why a geometry has no cover.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum CoverError {
    #[error(transparent)]
    Wkt(#[from] WktError),
    #[error(
        "unsupported CRS <{0}> (only CRS84, EPSG:4326, EPSG:3857 and EPSG:31370 are supported)"
    )]
    UnsupportedCrs(String),
    /// Longitude/latitude out of range, or a projected coordinate (reported as written) outside
    /// its CRS's area.
    #[error("coordinate ({0}, {1}) is outside lon [-180, 180] / lat [-90, 90] or its CRS's area")]
    OutOfRange(f64, f64),
    #[error("the geometry covers more than {0} tiles")]
    TooManyTiles(usize),
    #[error("empty geometry")]
    Empty,
    #[error("zoom {0} is outside 0..=30")]
    Zoom(u8),
}

#[cfg(test)]
/// Every tile `(x, y)` at `zoom` the geometry (coordinates lon/lat) intersects, sorted by
/// `(y, x)`, no duplicates. `out` is cleared first, and left empty on error.
///
/// More than `max_tiles` distinct tiles is an error, detected while covering: memory stays
/// within a small multiple of `max_tiles`. Rings need not be closed here (the closing edge is
/// implied); a one-point line or ring covers the tiles touching that point.
pub(crate) fn cover_geometry(
    g: &Geometry,
    zoom: u8,
    max_tiles: usize,
    out: &mut Vec<(u32, u32)>,
) -> Result<(), CoverError> {
    cover(g, Axes::LonLat, zoom, max_tiles, out)
}

/// [`cover_geometry`] of an optionally CRS-prefixed WKT literal (see [`parse_wkt`]).
pub(crate) fn cover_wkt(
    wkt: &str,
    zoom: u8,
    max_tiles: usize,
    out: &mut Vec<(u32, u32)>,
) -> Result<(), CoverError> {
    out.clear();
    let (crs, g) = parse_wkt(wkt)?;
    cover(&g, axes_for(&crs)?, zoom, max_tiles, out)
}

/// Why [`cover_array`] has no result (a geometry without a cover is a null, not an error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoverArrayError {
    #[error("geometries must be strings (WKT), not {0}")]
    NotStrings(DataType),
    #[error("more than 2^31 tiles in one call")]
    TooManyTiles,
}

/// [`cover_wkt`] of every WKT string of `geometries`, in parallel: a
/// `list<struct<x: uint32, y: uint32>>` array, null where the value is null or has no cover
/// (invalid WKT, unsupported CRS, more than `max_tiles` tiles, …).
pub fn cover_array(
    geometries: &dyn Array,
    zoom: u8,
    max_tiles: usize,
) -> Result<ListArray, CoverArrayError> {
    use rayon::prelude::*;
    let wkts = Strings::try_new(geometries)
        .ok_or_else(|| CoverArrayError::NotStrings(geometries.data_type().clone()))?;
    let covers: Vec<Option<Vec<(u32, u32)>>> = (0..wkts.len())
        .into_par_iter()
        .map_init(Vec::new, |tiles, i| {
            let w = wkts.get(i)?;
            cover_wkt(w, zoom, max_tiles, tiles).ok()?;
            Some(tiles.clone())
        })
        .collect();
    let (mut xs, mut ys) = (UInt32Builder::new(), UInt32Builder::new());
    let mut offsets = vec![0i32];
    let mut valid = Vec::with_capacity(covers.len());
    for c in &covers {
        if let Some(tiles) = c {
            for &(x, y) in tiles {
                xs.append_value(x);
                ys.append_value(y);
            }
        }
        valid.push(c.is_some());
        let len = i32::try_from(xs.len()).map_err(|_| CoverArrayError::TooManyTiles)?;
        offsets.push(len);
    }
    let values = StructArray::new(
        tile_fields(),
        vec![Arc::new(xs.finish()) as ArrayRef, Arc::new(ys.finish())],
        None,
    );
    let field = Arc::new(Field::new("item", DataType::Struct(tile_fields()), false));
    let nulls = NullBuffer::from(valid);
    Ok(ListArray::new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(values),
        Some(nulls).filter(|n| n.null_count() > 0),
    ))
}

/// How the WKT's (x, y) become (lon, lat): [`to_lonlat`] is the only place coordinates enter
/// the cover.
#[derive(Debug, Clone, Copy)]
enum Axes {
    LonLat,
    LatLon,
    /// Projected easting/northing, reprojected to WGS 84 lon/lat.
    Projected(Projection),
}

fn axes_for(crs: &Crs) -> Result<Axes, CoverError> {
    match crs {
        Crs::Crs84 => Ok(Axes::LonLat),
        // EPSG:4326 is latitude first (GeoSPARQL and Jena follow the EPSG axis order).
        Crs::Epsg(4326) => Ok(Axes::LatLon),
        // EPSG:3857 and EPSG:31370 are easting first in EPSG's axis order too.
        &Crs::Epsg(code) => Projection::from_epsg(code)
            .map(Axes::Projected)
            .ok_or_else(|| {
                CoverError::UnsupportedCrs(format!("http://www.opengis.net/def/crs/EPSG/0/{code}"))
            }),
        Crs::Other(iri) => Err(CoverError::UnsupportedCrs(iri.clone())),
    }
}

/// Checks a coordinate and returns it as (lon, lat) with the latitude clamped to the grid.
#[inline]
fn to_lonlat(axes: Axes, grid: &Grid, p: Coord) -> Result<Coord, CoverError> {
    let (lon, lat) = match axes {
        Axes::LonLat => p,
        Axes::LatLon => (p.1, p.0),
        Axes::Projected(proj) => proj
            .to_lonlat(p.0, p.1)
            .ok_or(CoverError::OutOfRange(p.0, p.1))?,
    };
    // `contains` is false for NaN too.
    if !((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)) {
        return Err(CoverError::OutOfRange(lon, lat));
    }
    Ok((lon, lat.max(grid.lat_min).min(grid.lat_max)))
}

fn cover(
    g: &Geometry,
    axes: Axes,
    zoom: u8,
    max_tiles: usize,
    out: &mut Vec<(u32, u32)>,
) -> Result<(), CoverError> {
    out.clear();
    if zoom > MAX_ZOOM {
        return Err(CoverError::Zoom(zoom));
    }
    let mut c = Coverer {
        grid: Grid::new(zoom),
        axes,
        max: max_tiles,
        tiles: out,
        ring_tiles: Vec::new(),
        edges: Vec::new(),
        active: Vec::new(),
        xs: Vec::new(),
        non_empty: false,
    };
    let result = c.geometry(g).and_then(|()| c.finish());
    if result.is_err() {
        c.tiles.clear();
    }
    result
}

/// The tile grid at one zoom, with its edges located exactly as `tile_lon` / `tile_lat` put
/// them (a closed-form guess is corrected by comparing against the real edges).
#[derive(Debug, Clone, Copy)]
struct Grid {
    z: u8,
    /// Tiles per side, and its reciprocal (exact: a power of two).
    n: u32,
    inv_n: f64,
    /// Latitude of the grid's top and bottom edges.
    lat_max: f64,
    lat_min: f64,
}

impl Grid {
    fn new(z: u8) -> Self {
        let n = 1u32 << z;
        Grid {
            z,
            n,
            inv_n: 1.0 / n as f64,
            lat_max: tile_lat(0, z),
            lat_min: tile_lat(n, z),
        }
    }

    /// `tile_lon(x, z)` bit for bit (x / 2^z and x · 2^-z are the same exact number), without
    /// its division: this is the hot comparison of the line walk.
    #[inline]
    fn lon(&self, x: u32) -> f64 {
        x as f64 * self.inv_n * 360.0 - 180.0
    }

    #[inline]
    fn lat(&self, y: u32) -> f64 {
        tile_lat(y, self.z)
    }

    /// The largest x in 0..=n with `lon(x) <= v`, for v in [-180, 180].
    #[inline]
    fn col_floor(&self, v: f64) -> u32 {
        // A guess (`as` floors non-negative values), then corrected against the real edges.
        // Guess and edges are both within 1e-6 of a column of the exact values even at z30,
        // so one step either way settles it.
        let x = (((v + 180.0) * (1.0 / 360.0) * self.n as f64) as u32).min(self.n);
        if x < self.n && self.lon(x + 1) <= v {
            x + 1
        } else if x > 0 && self.lon(x) > v {
            x - 1
        } else {
            x
        }
    }

    /// The row of latitude `v` (in [lat_min, lat_max]): the largest y in 0..=n with
    /// `lat(y) >= v`, and whether `v` lies exactly on that row's north edge.
    fn row_of(&self, v: f64) -> (u32, bool) {
        let nf = self.n as f64;
        let sin = v.to_radians().sin();
        let t = (0.5 - 0.25 * ((1.0 + sin) / (1.0 - sin)).ln() / PI) * nf;
        let f = t as u32;
        // The closed form and `tile_lat` agree to ~1e-15 of the grid: away from an edge the
        // floor is the row, and the edges need not be evaluated (the common case).
        let margin = 1e-9 + 1e-12 * nf;
        if f < self.n && t - f as f64 > margin && f as f64 + 1.0 - t > margin {
            return (f, false);
        }
        let mut y = f.min(self.n);
        while y < self.n && self.lat(y + 1) >= v {
            y += 1;
        }
        while y > 0 && self.lat(y) < v {
            y -= 1;
        }
        (y, self.lat(y) == v)
    }

    /// The columns whose closed lon interval meets [lo, hi].
    fn cols(&self, lo: f64, hi: f64) -> (u32, u32) {
        let f = self.col_floor(lo);
        // A range starting exactly on an edge also touches the column west of it.
        let first = if f > 0 && self.lon(f) == lo { f - 1 } else { f };
        (first.min(self.n - 1), self.col_floor(hi).min(self.n - 1))
    }
}

/// A vertex in lon/lat, with its row as [`Grid::row_of`] gives it (computed once, as every
/// vertex ends two segments).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Vertex {
    lon: f64,
    lat: f64,
    row: u32,
    on_edge: bool,
}

/// A non-horizontal polygon edge, for the even-odd fill.
#[derive(Debug, Clone, Copy)]
struct Edge {
    y_lo: f64,
    y_hi: f64,
    /// Longitudes at `y_lo` and `y_hi`.
    x_lo: f64,
    x_hi: f64,
}

impl Edge {
    fn new(a: Vertex, b: Vertex) -> Option<Self> {
        if a.lat < b.lat {
            Some(Edge {
                y_lo: a.lat,
                y_hi: b.lat,
                x_lo: a.lon,
                x_hi: b.lon,
            })
        } else if a.lat > b.lat {
            Some(Edge {
                y_lo: b.lat,
                y_hi: a.lat,
                x_lo: b.lon,
                x_hi: a.lon,
            })
        } else {
            None
        }
    }

    #[inline]
    fn x_at(&self, lat: f64) -> f64 {
        self.x_lo + (lat - self.y_lo) * (self.x_hi - self.x_lo) / (self.y_hi - self.y_lo)
    }
}

/// Makes room for `k` more tiles in `buf`. Duplicates are let in (segments share tiles) and
/// only removed once the buffer reaches twice the budget, which keeps memory O(max) and
/// detects an oversized cover before its tiles are all produced.
fn make_room(buf: &mut Vec<(u32, u32)>, k: usize, max: usize) -> Result<(), CoverError> {
    let cap = max.saturating_mul(2).saturating_add(64);
    if buf.len().saturating_add(k) <= cap {
        return Ok(());
    }
    compact(buf);
    // After this, len + k <= 2 * max <= cap.
    if buf.len() > max || k > max {
        return Err(CoverError::TooManyTiles(max));
    }
    Ok(())
}

/// Adds the tiles `x0..=x1` of row `y` (stored as `(y, x)`).
#[inline]
fn push_run(
    buf: &mut Vec<(u32, u32)>,
    y: u32,
    x0: u32,
    x1: u32,
    max: usize,
) -> Result<(), CoverError> {
    let Some(span) = x1.checked_sub(x0) else {
        return Ok(());
    };
    make_room(buf, span as usize + 1, max)?;
    buf.extend((x0..=x1).map(|x| (y, x)));
    Ok(())
}

fn compact(buf: &mut Vec<(u32, u32)>) {
    buf.sort_unstable();
    buf.dedup();
}

/// Adds every tile whose closed rectangle meets the segment `a`–`b`.
fn segment(
    grid: &Grid,
    a: Vertex,
    b: Vertex,
    buf: &mut Vec<(u32, u32)>,
    max: usize,
) -> Result<(), CoverError> {
    let (s, t) = if a.lat <= b.lat { (a, b) } else { (b, a) };
    let (west, east) = (a.lon.min(b.lon), a.lon.max(b.lon));
    let last = grid.n - 1;
    // The north end on a row edge also touches the row above that edge.
    let r0 = if t.on_edge && t.row > 0 {
        t.row - 1
    } else {
        t.row
    }
    .min(last);
    let r1 = s.row.min(last);
    if s.lat == t.lat {
        let (c0, c1) = grid.cols(west, east);
        for r in r0..=r1 {
            push_run(buf, r, c0, c1, max)?;
        }
        return Ok(());
    }
    // The longitude at a row edge; an endpoint on the edge is used as is, so edge contacts
    // stay exact.
    let lon_at = |lat: f64| {
        if lat >= t.lat {
            t.lon
        } else if lat <= s.lat {
            s.lon
        } else {
            (s.lon + (lat - s.lat) * (t.lon - s.lon) / (t.lat - s.lat))
                .max(west)
                .min(east)
        }
    };
    // Where the segment crosses a row edge, put on the correct side of any column edge it lies
    // within rounding of: interpolation can land a hair on the wrong side of a tile corner the
    // segment passes exactly through (or just beside), which would add or drop a touching
    // tile. The exact orientation of the corner against the segment decides; since t is north
    // of s, its sign is the sign of (crossing - edge).
    let crossing = |lat: f64| {
        let v = lon_at(lat);
        if lat >= t.lat || lat <= s.lat {
            return v;
        }
        let k = grid.col_floor(v);
        for e in [k, (k + 1).min(grid.n)] {
            let edge = grid.lon(e);
            if (v - edge).abs() <= 1e-9 {
                let corner = robust::Coord { x: edge, y: lat };
                let o = robust::orient2d(
                    robust::Coord { x: s.lon, y: s.lat },
                    robust::Coord { x: t.lon, y: t.lat },
                    corner,
                );
                return if o == 0.0 {
                    edge
                } else if o > 0.0 {
                    v.max(edge.next_up())
                } else {
                    v.min(edge.next_down())
                };
            }
        }
        v
    };
    // North to south: the segment's part in row r runs from where it entered (its north end
    // for the first row) to where it leaves through the row's south edge (or its south end).
    let mut north_lon = t.lon;
    for r in r0..=r1 {
        let south_lon = if r == r1 {
            s.lon
        } else {
            crossing(grid.lat(r + 1))
        };
        let (c0, c1) = grid.cols(north_lon.min(south_lon), north_lon.max(south_lon));
        push_run(buf, r, c0, c1, max)?;
        north_lon = south_lon;
    }
    Ok(())
}

struct Coverer<'o> {
    grid: Grid,
    axes: Axes,
    max: usize,
    /// The cover as `(y, x)`, so that sorting gives the required order; duplicates until
    /// [`Coverer::finish`].
    tiles: &'o mut Vec<(u32, u32)>,
    /// Boundary tiles of the polygon being covered, `(y, x)`.
    ring_tiles: Vec<(u32, u32)>,
    /// That polygon's non-horizontal edges, and scratch space for the fill.
    edges: Vec<Edge>,
    active: Vec<Edge>,
    xs: Vec<f64>,
    /// Whether any coordinate was seen (EMPTY everywhere is an error).
    non_empty: bool,
}

impl Coverer<'_> {
    /// A coordinate of a line or ring: checked, clamped, and placed in its row.
    fn vertex(&self, p: Coord) -> Result<Vertex, CoverError> {
        let (lon, lat) = to_lonlat(self.axes, &self.grid, p)?;
        let (row, on_edge) = self.grid.row_of(lat);
        Ok(Vertex {
            lon,
            lat,
            row,
            on_edge,
        })
    }

    fn geometry(&mut self, g: &Geometry) -> Result<(), CoverError> {
        match g {
            Geometry::Point(p) => self.point(*p),
            Geometry::MultiPoint(ps) => ps.iter().try_for_each(|p| self.point(*p)),
            Geometry::LineString(l) => self.line(l),
            Geometry::MultiLineString(ls) => ls.iter().try_for_each(|l| self.line(l)),
            Geometry::Polygon(rings) => self.polygon(rings),
            Geometry::MultiPolygon(ps) => ps.iter().try_for_each(|rings| self.polygon(rings)),
            Geometry::Collection(gs) => gs.iter().try_for_each(|g| self.geometry(g)),
        }
    }

    fn point(&mut self, p: Coord) -> Result<(), CoverError> {
        let (lon, lat) = to_lonlat(self.axes, &self.grid, p)?;
        self.non_empty = true;
        let (x, y) = tile_xy_unchecked(lon, lat, self.grid.z);
        // mercantile's epsilon can push a point within 1e-14 of the east/south grid edge one
        // tile past it.
        let last = self.grid.n - 1;
        push_run(self.tiles, y.min(last), x.min(last), x.min(last), self.max)
    }

    fn line(&mut self, pts: &[Coord]) -> Result<(), CoverError> {
        let mut it = pts.iter();
        let Some(&first) = it.next() else {
            return Ok(());
        };
        let mut prev = self.vertex(first)?;
        self.non_empty = true;
        if pts.len() == 1 {
            return segment(&self.grid, prev, prev, self.tiles, self.max);
        }
        for &p in it {
            let cur = self.vertex(p)?;
            segment(&self.grid, prev, cur, self.tiles, self.max)?;
            prev = cur;
        }
        Ok(())
    }

    fn polygon(&mut self, rings: &[Vec<Coord>]) -> Result<(), CoverError> {
        self.ring_tiles.clear();
        self.edges.clear();
        for ring in rings {
            let Some(&first) = ring.first() else {
                continue;
            };
            let first = self.vertex(first)?;
            self.non_empty = true;
            let mut prev = first;
            if ring.len() == 1 {
                segment(&self.grid, first, first, &mut self.ring_tiles, self.max)?;
            }
            // The closing edge is implied when the ring is not closed.
            for &p in ring.iter().skip(1) {
                let cur = self.vertex(p)?;
                segment(&self.grid, prev, cur, &mut self.ring_tiles, self.max)?;
                self.edges.extend(Edge::new(prev, cur));
                prev = cur;
            }
            if prev != first {
                segment(&self.grid, prev, first, &mut self.ring_tiles, self.max)?;
                self.edges.extend(Edge::new(prev, first));
            }
        }
        if self.ring_tiles.is_empty() {
            return Ok(());
        }
        compact(&mut self.ring_tiles);
        if self.ring_tiles.len() > self.max {
            return Err(CoverError::TooManyTiles(self.max));
        }
        self.fill()?;
        make_room(self.tiles, self.ring_tiles.len(), self.max)?;
        self.tiles.extend_from_slice(&self.ring_tiles);
        Ok(())
    }

    /// Adds the polygon's interior tiles that no ring touches. Within a row, a run of
    /// untouched tiles between two boundary tiles is wholly inside or wholly outside (no
    /// boundary passes through it), so one even-odd count per run decides it. The count uses
    /// the edges crossing the row's middle latitude, kept in an active-edge list as the rows
    /// advance southwards. Outside the first and last boundary tile of a row nothing is
    /// inside, and every row the polygon spans has boundary tiles.
    fn fill(&mut self) -> Result<(), CoverError> {
        let grid = self.grid;
        self.edges
            .sort_unstable_by(|a, b| b.y_hi.total_cmp(&a.y_hi));
        self.active.clear();
        let mut next = 0;
        for row in self.ring_tiles.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(y, _)) = row.first() else {
                continue;
            };
            if row.windows(2).all(|w| w[1].1 == w[0].1 + 1) {
                continue;
            }
            let mid = 0.5 * (grid.lat(y) + grid.lat(y + 1));
            // Half-open rule: an edge crosses `mid` when y_lo <= mid < y_hi, so a vertex on
            // `mid` is counted once and horizontal edges never. `mid` only decreases.
            while let Some(e) = self.edges.get(next) {
                if e.y_hi <= mid {
                    break;
                }
                if e.y_lo <= mid {
                    self.active.push(*e);
                }
                next += 1;
            }
            self.active.retain(|e| e.y_lo <= mid);
            self.xs.clear();
            self.xs.extend(self.active.iter().map(|e| e.x_at(mid)));
            self.xs.sort_unstable_by(f64::total_cmp);
            let mut k = 0;
            for w in row.windows(2) {
                let (a, b) = (w[0].1, w[1].1);
                if b <= a + 1 {
                    continue;
                }
                // Any point of the run will do; the first tile's centre is far (half a
                // tile) from every crossing, which all lie in boundary tiles.
                let sample = 0.5 * (grid.lon(a + 1) + grid.lon(a + 2));
                while self.xs.get(k).is_some_and(|&x| x < sample) {
                    k += 1;
                }
                if k % 2 == 1 {
                    push_run(self.tiles, y, a + 1, b - 1, self.max)?;
                }
            }
        }
        Ok(())
    }

    /// Sorts, deduplicates and checks the cover, and turns it into `(x, y)` pairs.
    fn finish(&mut self) -> Result<(), CoverError> {
        if !self.non_empty {
            return Err(CoverError::Empty);
        }
        compact(self.tiles);
        if self.tiles.len() > self.max {
            return Err(CoverError::TooManyTiles(self.max));
        }
        for t in self.tiles.iter_mut() {
            *t = (t.1, t.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use crate::tile::tile_lon;

    const MOB_HIND: &str = "POLYGON ((3.7337472847142124 51.04745170597559, 4.359276660355135 50.851907920816956, 4.711285586572245 50.84364854093491, 4.4020885567877315 51.214619167436666, 3.7337472847142124 51.04745170597559))";

    fn cover_ok(s: &str, z: u8) -> Vec<(u32, u32)> {
        let mut out = vec![(7, 7)];
        if let Err(e) = cover_wkt(s, z, 1 << 24, &mut out) {
            panic!("{s}: {e}");
        }
        out
    }

    #[test]
    fn cover_array_lists_each_rows_tiles_and_nulls_the_rest() {
        use arrow_array::{LargeStringArray, StringArray};
        let line = "LINESTRING (4.1 51.0, 4.3 51.1)";
        let wkts = StringArray::from(vec![
            Some(line),
            None,
            Some("POINT (1 2"),
            Some("<http://www.opengis.net/def/crs/EPSG/0/9999> POINT (1 2)"),
            Some("POINT (5 50)"),
            Some(MOB_HIND),
        ]);
        let covers = cover_array(&wkts, 10, 4).expect("strings");
        assert_eq!(covers.len(), 6);
        let nulls: Vec<bool> = (0..6).map(|i| covers.is_null(i)).collect();
        // Null in, invalid WKT, an unknown CRS and more than `max_tiles` tiles: null out.
        assert_eq!(nulls, [false, true, true, true, false, true]);
        let tiles = |i: usize| tiles_of(&covers, i);
        assert_eq!(tiles(0), cover_ok(line, 10));
        assert!(!tiles(0).is_empty() && cover_ok(MOB_HIND, 10).len() > 4);
        assert_eq!(tiles(4), cover_ok("POINT (5 50)", 10));
        assert_eq!(covers.value_length(1), 0);

        // Every string layout; a row whose cover is all valid has no bitmap.
        let large = LargeStringArray::from(vec![line]);
        let covers = cover_array(&large, 12, 1 << 20).expect("large strings");
        assert!(covers.nulls().is_none());
        assert_eq!(tiles_of(&covers, 0), cover_ok(line, 12));

        let err =
            cover_array(&arrow_array::Int32Array::from(vec![1]), 12, 10).expect_err("an error");
        assert_eq!(err, CoverArrayError::NotStrings(DataType::Int32));
        assert_eq!(
            err.to_string(),
            "geometries must be strings (WKT), not Int32"
        );
    }

    /// The tiles of row `i` of a `cover_array` result.
    fn tiles_of(covers: &ListArray, i: usize) -> Vec<(u32, u32)> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt32Type;
        let row = covers.value(i);
        let row = row.as_struct();
        let x = row.column(0).as_primitive::<UInt32Type>();
        let y = row.column(1).as_primitive::<UInt32Type>();
        x.values()
            .iter()
            .copied()
            .zip(y.values().iter().copied())
            .collect()
    }

    fn cover_err(s: &str, z: u8, max: usize) -> CoverError {
        let mut out = vec![(7, 7)];
        let e = cover_wkt(s, z, max, &mut out).expect_err("the cover should fail");
        assert!(out.is_empty());
        e
    }

    /// Tiles as (x, y), in the (y, x) order the cover returns.
    fn by_row(mut v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
        v.sort_by_key(|&(x, y)| (y, x));
        v
    }

    // ---- An independent brute-force oracle: every tile of the bbox range, tested alone. ----

    type Rect = (f64, f64, f64, f64); // west, south, east, north

    fn orient(a: Coord, b: Coord, c: Coord) -> f64 {
        (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
    }

    /// `p`, known collinear with `a`–`b`, lies within the segment's box.
    fn on_segment(a: Coord, b: Coord, p: Coord) -> bool {
        a.0.min(b.0) <= p.0 && p.0 <= a.0.max(b.0) && a.1.min(b.1) <= p.1 && p.1 <= a.1.max(b.1)
    }

    fn segments_meet(p1: Coord, p2: Coord, q1: Coord, q2: Coord) -> bool {
        let d1 = orient(q1, q2, p1);
        let d2 = orient(q1, q2, p2);
        let d3 = orient(p1, p2, q1);
        let d4 = orient(p1, p2, q2);
        let straddle = |u: f64, v: f64| (u > 0.0 && v < 0.0) || (u < 0.0 && v > 0.0);
        (straddle(d1, d2) && straddle(d3, d4))
            || (d1 == 0.0 && on_segment(q1, q2, p1))
            || (d2 == 0.0 && on_segment(q1, q2, p2))
            || (d3 == 0.0 && on_segment(p1, p2, q1))
            || (d4 == 0.0 && on_segment(p1, p2, q2))
    }

    fn in_rect(p: Coord, r: Rect) -> bool {
        r.0 <= p.0 && p.0 <= r.2 && r.1 <= p.1 && p.1 <= r.3
    }

    fn segment_meets_rect(a: Coord, b: Coord, r: Rect) -> bool {
        let (sw, se, ne, nw) = ((r.0, r.1), (r.2, r.1), (r.2, r.3), (r.0, r.3));
        in_rect(a, r)
            || in_rect(b, r)
            || [(sw, se), (se, ne), (ne, nw), (nw, sw)]
                .iter()
                .any(|&(c, d)| segments_meet(a, b, c, d))
    }

    /// Even-odd ray casting over all rings.
    fn inside(p: Coord, rings: &[Vec<Coord>]) -> bool {
        let mut odd = false;
        for ring in rings {
            for w in ring.windows(2) {
                let (a, b) = (w[0], w[1]);
                if (a.1 > p.1) != (b.1 > p.1) && p.0 < a.0 + (p.1 - a.1) * (b.0 - a.0) / (b.1 - a.1)
                {
                    odd = !odd;
                }
            }
        }
        odd
    }

    fn brute(lines: &[Vec<Coord>], polygons: &[Vec<Vec<Coord>>], z: u8) -> Vec<(u32, u32)> {
        let n = 1u32 << z;
        let all = lines.iter().chain(polygons.iter().flatten()).flatten();
        let (mut w, mut s, mut e, mut nn) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in all {
            (w, s, e, nn) = (w.min(p.0), s.min(p.1), e.max(p.0), nn.max(p.1));
        }
        let cols: Vec<u32> = (0..n)
            .filter(|&x| tile_lon(x, z) <= e && tile_lon(x + 1, z) >= w)
            .collect();
        let rows: Vec<u32> = (0..n)
            .filter(|&y| tile_lat(y + 1, z) <= nn && tile_lat(y, z) >= s)
            .collect();
        let mut out = Vec::new();
        for &y in &rows {
            for &x in &cols {
                let r = (
                    tile_lon(x, z),
                    tile_lat(y + 1, z),
                    tile_lon(x + 1, z),
                    tile_lat(y, z),
                );
                let hit_line =
                    |l: &Vec<Coord>| l.windows(2).any(|w| segment_meets_rect(w[0], w[1], r));
                let hit = lines.iter().any(hit_line)
                    || polygons
                        .iter()
                        .any(|rings| rings.iter().any(hit_line) || inside((r.0, r.1), rings));
                if hit {
                    out.push((x, y));
                }
            }
        }
        out
    }

    /// The outcome of a stress case with a budget of 5000 tiles: a sorted cover within the
    /// grid and the budget, or one of the two errors extreme input may give.
    fn assert_bounded_cover(result: Result<(), CoverError>, out: &[(u32, u32)], z: u8) {
        match result {
            Ok(()) => {
                assert!(!out.is_empty() && out.len() <= 5000);
                assert!(out.windows(2).all(|w| (w[0].1, w[0].0) < (w[1].1, w[1].0)));
                assert!(out.iter().all(|&(x, y)| x < 1 << z && y < 1 << z));
            }
            Err(e) => assert!(
                matches!(
                    e,
                    CoverError::OutOfRange(..) | CoverError::TooManyTiles(5000)
                ),
                "{e}"
            ),
        }
    }

    /// Sometimes moves a coordinate exactly onto a tile edge, to exercise exact contacts.
    fn maybe_snap(rng: &mut Rng, p: Coord, z: u8) -> Coord {
        let n = (1u64 << z) as f64;
        let mut p = (p.0.clamp(-179.0, 179.0), p.1.clamp(-80.0, 80.0));
        if rng.below(5) == 0 {
            p.0 = tile_lon(((p.0 + 180.0) / 360.0 * n).round() as u32, z);
        }
        if rng.below(5) == 0 {
            let (_, y) = tile_xy_unchecked(0.0, p.1, z);
            let (a, b) = (tile_lat(y, z), tile_lat(y + 1, z));
            p.1 = if (a - p.1).abs() < (b - p.1).abs() {
                a
            } else {
                b
            };
        }
        p
    }

    /// A star-shaped ring (or, sometimes, a degenerate collinear one), closed.
    fn ring(rng: &mut Rng, c: Coord, r: f64, z: u8) -> Vec<Coord> {
        let k = 3 + rng.below(10) as usize;
        let mut pts: Vec<Coord> = if rng.below(10) == 0 {
            let dir = rng.unit() * 6.3;
            (0..k)
                .map(|_| {
                    let t = r * (2.0 * rng.unit() - 1.0);
                    (c.0 + t * dir.cos(), c.1 + t * dir.sin())
                })
                .collect()
        } else {
            let mut angles: Vec<f64> = (0..k).map(|_| rng.unit() * std::f64::consts::TAU).collect();
            angles.sort_by(f64::total_cmp);
            angles
                .iter()
                .map(|a| {
                    let rr = r * (0.2 + 0.8 * rng.unit());
                    (c.0 + rr * a.cos(), c.1 + 0.7 * rr * a.sin())
                })
                .collect()
        };
        for p in pts.iter_mut() {
            *p = maybe_snap(rng, *p, z);
        }
        pts.push(pts[0]);
        pts
    }

    fn walk(rng: &mut Rng, c: Coord, r: f64, z: u8) -> Vec<Coord> {
        let k = 2 + rng.below(7) as usize;
        let mut pts = vec![maybe_snap(rng, c, z)];
        while pts.len() < k {
            let last = pts[pts.len() - 1];
            let (mut dx, mut dy) = (
                r * (2.0 * rng.unit() - 1.0),
                0.7 * r * (2.0 * rng.unit() - 1.0),
            );
            match rng.below(8) {
                0 => dx = 0.0,
                1 => dy = 0.0,
                2 => (dx, dy) = (0.0, 0.0),
                _ => {}
            }
            let p = (last.0 + dx, last.1 + dy);
            pts.push(if dx == 0.0 || dy == 0.0 {
                (p.0.clamp(-179.0, 179.0), p.1.clamp(-80.0, 80.0))
            } else {
                maybe_snap(rng, p, z)
            });
        }
        pts
    }

    fn coords_wkt(pts: &[Coord]) -> String {
        let v: Vec<String> = pts.iter().map(|p| format!("{} {}", p.0, p.1)).collect();
        format!("({})", v.join(", "))
    }

    fn rings_wkt(rings: &[Vec<Coord>]) -> String {
        let v: Vec<String> = rings.iter().map(|r| coords_wkt(r)).collect();
        format!("({})", v.join(", "))
    }

    /// For the test's own statistics: tiles of `want` no ring touches (filled ones), and tiles
    /// inside an exterior ring that a hole removed.
    fn fill_stats(parts: &[Vec<Vec<Coord>>], z: u8, want: &[(u32, u32)]) -> (usize, usize) {
        let rect = |&(x, y): &(u32, u32)| {
            (
                tile_lon(x, z),
                tile_lat(y + 1, z),
                tile_lon(x + 1, z),
                tile_lat(y, z),
            )
        };
        let touched = |r: Rect| {
            parts
                .iter()
                .flatten()
                .any(|ring| ring.windows(2).any(|w| segment_meets_rect(w[0], w[1], r)))
        };
        let filled = want.iter().filter(|t| !touched(rect(t))).count();
        let mut holed = 0;
        for rings in parts {
            let Some(outer) = rings.first() else { continue };
            for hole in &rings[1..] {
                let (x0, y0) = tile_xy_unchecked(
                    hole.iter().map(|p| p.0).fold(180.0, f64::min),
                    hole.iter().map(|p| p.1).fold(-90.0, f64::max),
                    z,
                );
                let (x1, y1) = tile_xy_unchecked(
                    hole.iter().map(|p| p.0).fold(-180.0, f64::max),
                    hole.iter().map(|p| p.1).fold(90.0, f64::min),
                    z,
                );
                for t in (y0..=y1).flat_map(|y| (x0..=x1).map(move |x| (x, y))) {
                    let r = rect(&t);
                    holed += usize::from(
                        inside((r.0, r.1), std::slice::from_ref(outer)) && !want.contains(&t),
                    );
                }
            }
        }
        (filled, holed)
    }

    fn check_against_brute(g: &Geometry, wkt: &str, z: u8, want: &[(u32, u32)]) {
        let mut got = Vec::new();
        cover_geometry(g, z, 1 << 24, &mut got).expect("covers");
        assert_eq!(got, want, "z{z} {wkt}");
        let mut via_wkt = Vec::new();
        cover_wkt(wkt, z, 1 << 24, &mut via_wkt).expect("covers");
        assert_eq!(via_wkt, got, "z{z} {wkt}");
    }

    #[test]
    fn segments_through_a_tile_corner_touch_all_four_tiles() {
        // Float interpolation puts these crossings ~1e-14 off the corner (0, 0).
        let all = vec![(0, 0), (0, 1), (1, 0), (1, 1)];
        for wkt in [
            "LINESTRING (126.7 40.3, -126.7 -40.3)",
            "LINESTRING (17.6 5.3, -35.2 -10.6)",
            "POLYGON ((126.7 40.3, -126.7 -40.3, -126.7 40.3, 126.7 40.3))",
        ] {
            let mut out = Vec::new();
            cover_wkt(wkt, 1, 100, &mut out).expect("valid");
            out.sort_unstable();
            assert_eq!(out, all, "{wkt}");
        }
    }

    #[test]
    fn matches_brute_force_on_random_geometries() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let (mut polys, mut lines, mut tiles, mut filled, mut holed) = (0, 0, 0, 0, 0);
        for case in 0..800 {
            let z = 3 + rng.below(10) as u8;
            let cell = 360.0 / (1u64 << z) as f64;
            let r = (cell * (0.05 + 12.0 * rng.unit().powi(2))).min(40.0);
            let c = (
                (rng.unit() * 2.0 - 1.0) * (178.0 - r),
                (rng.unit() * 2.0 - 1.0) * (79.0 - 0.7 * r),
            );
            if case % 2 == 0 {
                let mut parts = vec![vec![ring(&mut rng, c, r, z)]];
                if rng.below(2) == 0 {
                    parts[0].push(ring(&mut rng, c, 0.6 * r, z));
                }
                if rng.below(4) == 0 {
                    let c2 = (c.0 + r * (rng.unit() - 0.5), c.1 + r * (rng.unit() - 0.5));
                    parts.push(vec![ring(&mut rng, c2, r, z)]);
                }
                let want = brute(&[], &parts, z);
                let (g, wkt) = if parts.len() == 1 {
                    (
                        Geometry::Polygon(parts[0].clone()),
                        format!("POLYGON {}", rings_wkt(&parts[0])),
                    )
                } else {
                    let v: Vec<String> = parts.iter().map(|p| rings_wkt(p)).collect();
                    (
                        Geometry::MultiPolygon(parts.clone()),
                        format!("MULTIPOLYGON ({})", v.join(", ")),
                    )
                };
                check_against_brute(&g, &wkt, z, &want);
                let (f, h) = fill_stats(&parts, z, &want);
                (filled, holed) = (filled + f, holed + h);
                polys += 1;
                tiles += want.len();
            } else {
                let mut parts = vec![walk(&mut rng, c, r, z)];
                if rng.below(4) == 0 {
                    parts.push(walk(&mut rng, c, r, z));
                }
                let want = brute(&parts, &[], z);
                let v: Vec<String> = parts.iter().map(|p| coords_wkt(p)).collect();
                let wkt = format!("MULTILINESTRING ({})", v.join(", "));
                check_against_brute(&Geometry::MultiLineString(parts), &wkt, z, &want);
                lines += 1;
                tiles += want.len();
            }
        }
        assert_eq!((polys, lines), (400, 400));
        // The cases must exercise the fill and the holes, not only boundaries.
        assert!(
            tiles > 5_000 && filled > 500 && holed > 50,
            "{tiles} {filled} {holed}"
        );
    }

    #[test]
    fn grid_edges_are_those_of_tile_rs() {
        for z in 0..=MAX_ZOOM {
            let g = Grid::new(z);
            let n = 1u32 << z;
            let step = (n / 65_536).max(1);
            for x in (0..=n).step_by(step as usize).chain([n - 1, n]) {
                assert_eq!(g.lon(x).to_bits(), tile_lon(x, z).to_bits(), "z{z} x{x}");
                let lat = tile_lat(x, z);
                let (row, on_edge) = g.row_of(lat.max(g.lat_min).min(g.lat_max));
                assert_eq!((row, on_edge), (x, true), "z{z} y{x}");
                let lon = tile_lon(x, z);
                assert_eq!(g.col_floor(lon), x);
                if x > 0 {
                    assert_eq!(g.col_floor(lon - 1e-11), x - 1);
                    assert_eq!(g.row_of(lat + 1e-11), (x - 1, false), "z{z} y{x}");
                }
            }
        }
    }

    #[test]
    fn never_panics_on_extreme_input() {
        let mut rng = Rng(0x5eed_0fc0_ffee);
        let grid = Grid::new(30);
        let specials = [
            -180.0,
            180.0,
            -90.0,
            90.0,
            0.0,
            -0.0,
            grid.lat_max,
            grid.lat_min,
            85.06,
            -85.06,
            89.999_999_999,
            179.999_999_999_999_97,
            -179.999_999_999_999_97,
            1e-300,
            tile_lat(1, 30),
            tile_lon(1, 30),
            180.000_000_1,
            f64::NAN,
        ];
        let mut out = Vec::new();
        for _ in 0..20_000 {
            let z = [0u8, 1, 2, 15, 29, 30][rng.below(6) as usize];
            let k = 1 + rng.below(5);
            let mut special = || specials[rng.below(specials.len() as u64) as usize];
            let pts: Vec<Coord> = (0..k).map(|_| (special(), special())).collect();
            let mut ring = pts.clone();
            ring.push(pts[0]);
            let g = match rng.below(4) {
                0 => Geometry::MultiPoint(pts),
                1 => Geometry::LineString(pts),
                2 => Geometry::Polygon(vec![ring]),
                _ => Geometry::Polygon(vec![pts]),
            };
            assert_bounded_cover(cover_geometry(&g, z, 5000, &mut out), &out, z);
        }
    }

    #[test]
    fn reference_server_vectors() {
        // docs/ldes-rules.md, "Geospatial test vectors"
        assert_eq!(
            cover_ok("POINT(-4.1259489208459845 51.20651243817338)", 11),
            [(1000, 683)]
        );
        assert_eq!(
            cover_ok("LINESTRING(-4.118006229400634 51.20099982929344,-4.123067557811736 51.099449367759576,-3.434469401836395 51.09963969871836,-3.451254665851592 51.20536257947589)", 11),
            by_row(vec![(1000, 683), (1000, 684), (1001, 684), (1002, 684), (1003, 684), (1004, 683), (1004, 684)])
        );
        assert_eq!(
            cover_ok("POLYGON((-4.156482517719269 51.21848699100292,-4.156458377838135 51.106470882289756,-3.962151110172272 51.10533242179693,-3.971670269966125 51.21793426510715,-4.156482517719269 51.21848699100292))", 11),
            by_row(vec![(1001, 684), (1001, 683), (1000, 684), (1000, 683)])
        );
        let prefixed = format!("<http://www.opengis.net/def/crs/OGC/1.3/CRS84> {MOB_HIND}");
        assert_eq!(
            cover_ok(&prefixed, 9),
            by_row(vec![(261, 171), (262, 170), (262, 171)])
        );
        assert_eq!(
            cover_ok(
                "GEOMETRYCOLLECTION (POINT (5.47236 50.9642), POINT (5.49661 50.9667))",
                15
            ),
            by_row(vec![(16882, 10975), (16884, 10974)])
        );
    }

    #[test]
    fn long_diagonal_segment_covers_the_tiles_between_its_vertices() {
        let s = "LINESTRING (-10 -7, 10 9)";
        let got = cover_ok(s, 8);
        // At z8 a tile is 1.4° wide: the segment crosses ~15 columns and ~12 rows.
        assert!(got.len() > 25, "{}", got.len());
        assert!(
            got.contains(&tile_xy_unchecked(0.0, 1.0, 8)),
            "the middle tile"
        );
        let line = vec![(-10.0, -7.0), (10.0, 9.0)];
        assert_eq!(got, brute(&[line], &[], 8));
        // Four-connected along the way: consecutive rows share a column.
        for w in got.windows(2) {
            assert!(w[1].1 == w[0].1 && w[1].0 == w[0].0 + 1 || w[1].1 == w[0].1 + 1);
        }
    }

    #[test]
    fn lines_on_edges_touch_both_neighbours() {
        // lon 0 is the edge between columns 7 and 8 at z4.
        let got = cover_ok("LINESTRING (0 10, 0 20)", 4);
        let (_, y) = tile_xy_unchecked(0.0, 15.0, 4);
        assert_eq!(got, [(7, y), (8, y)]);
        // A horizontal line on a row edge.
        let lat = tile_lat(6, 4);
        let got = cover_ok(&format!("LINESTRING (10 {lat}, 20 {lat})"), 4);
        assert_eq!(got, [(8, 5), (8, 6)]);
        // A vertex exactly on a tile corner, and a zero-length line there: all four tiles.
        let got = cover_ok(&format!("LINESTRING (0 {lat}, 0 {lat})"), 4);
        assert_eq!(got, [(7, 5), (8, 5), (7, 6), (8, 6)]);
        // A point there is still one tile (mercantile).
        assert_eq!(cover_ok(&format!("POINT (0 {lat})"), 4).len(), 1);
        // A line ending exactly on an edge touches the tile beyond it.
        let got = cover_ok("LINESTRING (5 15, 0 15)", 4);
        assert_eq!(got, [(7, y), (8, y)]);
    }

    #[test]
    fn big_polygon_fills_its_interior() {
        let z = 7;
        let got = cover_ok("POLYGON ((-60 -40, 60 -40, 60 40, -60 40, -60 -40))", z);
        // The polygon is its bounding box: every tile of the bbox range.
        let (x0, y0) = tile_xy_unchecked(-60.0, 40.0, z);
        let (x1, y1) = tile_xy_unchecked(60.0, -40.0, z);
        // lon ±60 is no column edge at z7, nor lat ±40 a row edge.
        let want: Vec<(u32, u32)> = (y0..=y1)
            .flat_map(|y| (x0..=x1).map(move |x| (x, y)))
            .collect();
        assert_eq!(got, want);
        assert!(want.len() > 1000);
    }

    #[test]
    fn holes_exclude_the_tiles_inside_and_keep_their_boundary() {
        let z = 7;
        let outer = vec![
            (-60.0, -40.0),
            (60.0, -40.0),
            (60.0, 40.0),
            (-60.0, 40.0),
            (-60.0, -40.0),
        ];
        let hole = vec![
            (-30.3, -20.2),
            (30.3, -20.2),
            (30.3, 20.2),
            (-30.3, 20.2),
            (-30.3, -20.2),
        ];
        let s = format!("POLYGON ({}, {})", coords_wkt(&outer), coords_wkt(&hole));
        let got = cover_ok(&s, z);
        assert!(
            !got.contains(&tile_xy_unchecked(0.5, 0.5, z)),
            "tile inside the hole"
        );
        assert!(
            !got.contains(&tile_xy_unchecked(25.0, -15.0, z)),
            "tile inside the hole"
        );
        assert!(
            got.contains(&tile_xy_unchecked(-30.3, 0.5, z)),
            "tile on the hole's edge"
        );
        assert!(
            got.contains(&tile_xy_unchecked(10.0, 20.2, z)),
            "tile on the hole's edge"
        );
        assert!(
            got.contains(&tile_xy_unchecked(-45.0, 0.5, z)),
            "tile between the rings"
        );
        assert_eq!(got, brute(&[], &[vec![outer.clone(), hole]], z));
        let full = cover_ok(&format!("POLYGON ({})", coords_wkt(&outer)), z);
        assert!(full.len() > got.len() + 150, "{} {}", full.len(), got.len());
    }

    #[test]
    fn multipolygon_parts_are_filled_separately() {
        // Two identical parts: one global even-odd count would cancel their interiors.
        let sq = "((0 0, 30 0, 30 30, 0 30, 0 0))";
        let one = cover_ok(&format!("POLYGON {sq}"), 6);
        assert_eq!(cover_ok(&format!("MULTIPOLYGON ({sq}, {sq})"), 6), one);
        assert_eq!(
            cover_ok(
                &format!("GEOMETRYCOLLECTION (POLYGON {sq}, POLYGON {sq})"),
                6
            ),
            one
        );
    }

    #[test]
    fn epsg_4326_is_latitude_first() {
        assert_eq!(
            cover_ok("<http://www.opengis.net/def/crs/EPSG/0/4326> POINT(51.20651243817338 -4.1259489208459845)", 11),
            [(1000, 683)]
        );
        let swapped = "<http://www.opengis.net/def/crs/EPSG/0/4326> POLYGON ((51.04745170597559 3.7337472847142124, 50.851907920816956 4.359276660355135, 50.84364854093491 4.711285586572245, 51.214619167436666 4.4020885567877315, 51.04745170597559 3.7337472847142124))";
        assert_eq!(cover_ok(swapped, 9), cover_ok(MOB_HIND, 9));
        // EWKT is longitude first even with SRID 4326.
        assert_eq!(
            cover_ok("SRID=4326;POINT(-4.1259489208459845 51.20651243817338)", 11),
            [(1000, 683)]
        );
    }

    #[test]
    fn unsupported_crs() {
        // EPSG:28992 (Amersfoort / RD New) is a projected CRS like 31370, but not supported.
        assert_eq!(
            cover_err(
                "<http://www.opengis.net/def/crs/EPSG/9.9.1/28992> POINT (155000 463000)",
                15,
                100
            ),
            CoverError::UnsupportedCrs("http://www.opengis.net/def/crs/EPSG/0/28992".into())
        );
        assert_eq!(
            cover_err("SRID=28992;POINT (155000 463000)", 15, 100),
            CoverError::UnsupportedCrs("http://www.opengis.net/def/crs/EPSG/0/28992".into())
        );
        assert_eq!(
            cover_err("<urn:x> POINT (1 2)", 15, 100),
            CoverError::UnsupportedCrs("urn:x".into())
        );
        assert!(cover_err("<urn:x> POINT (1 2)", 15, 100)
            .to_string()
            .starts_with("unsupported CRS <urn:x>"));
    }

    /// The GIPOD Lambert 72 polygon of the reference server's bucketising test member
    /// (docs/ldes-rules.md, "Geospatial test vectors";
    /// `tests/data/examples/Server4J_geospatial_ldes-member-bucketising_gipod-lambert72.nq`).
    const GIPOD_LAMBERT72: &str = "<http://www.opengis.net/def/crs/EPSG/9.9.1/31370> POLYGON ((121375.8384941761 157725.02906901838, 121375.3209149362 157724.24857328608, 121369.95291493548 157717.6015732862, 121369.51597697329 157717.12679342076, 121363.04697696905 157710.94979341968, 121362.8012042011 157710.73013749014, 121355.8392042036 157704.90913749154, 121355.81506953588 157704.8890865781, 121355.66787398358 157704.7675761532, 121346.5036770491 157697.1880674303, 121345.7405704754 157696.66763674628, 121334.78357047314 157690.59563674565, 121334.24454843217 157690.33774993118, 121323.37754843348 157685.91574992906, 121323.12797322047 157685.82186904034, 121263.20597322208 157665.08786904297, 121263.1913662169 157665.08284003218, 121261.45736621207 157664.48884003167, 121261.44793126784 157664.48561849864, 121221.685214354 157650.9530088737, 121219.79323361514 157650.2711523231, 121219.69696443646 157650.2375626433, 121205.51965627017 157645.45248373147, 121186.09534347653 157638.84441849438, 121161.22270959393 157630.3904280551, 121142.83100222079 157622.930011091, 121127.04099025937 157614.59576374837, 121119.4690281068 157610.5857426089, 121095.85510879119 157596.72054335324, 121078.35255569412 157585.54542659858, 121062.8432278497 157573.88867813695, 121049.09156416067 157561.72707515783, 121025.36903744827 157538.98654839853, 121024.2418270583 157537.9063466951, 121022.8384275029 157536.56092233708, 121015.70403786741 157529.7195076347, 120988.60241741309 157503.71987174576, 120955.79637978123 157472.2658765898, 120955.77022005258 157472.24097569485, 120915.41167922293 157434.10140962328, 120854.49859348027 157376.50827404752, 120841.91304866433 157364.60270464202, 120841.8869973507 157364.5782366689, 120837.14816153582 157360.15918732862, 120810.26966222469 157335.00739888893, 120805.4350029303 157330.47665530953, 120754.12029602696 157282.45912045045, 120736.01706785272 157265.52345679817, 120732.63089293115 157262.1059011597, 120723.56385408144 157252.9538994309, 120722.04233069991 157251.41134538274, 120710.72005205858 157237.95868804914, 120701.6598759074 157225.1273303311, 120694.5251754731 157212.8122806682, 120694.1500501578 157212.0899463382, 120666.98778347364 157159.59329633525, 120628.80029768957 157085.82635770013, 120614.70653016069 157058.6088065704, 120608.64501889584 157046.89075138603, 120608.63552816185 157046.87249612864, 120597.21364881775 157025.01272705777, 120583.15897286394 156998.10734738744, 120577.08917620123 156986.48273681075, 120546.16675144897 156927.2949235108, 120529.89286360377 156896.1381382296, 120526.47810822552 156889.6056926182, 120526.46668624325 156889.58397230456, 120515.34968624456 156868.5689723077, 120509.55241572304 156857.61546095516, 120487.64664826027 156816.20890050454, 120483.50270101095 156808.37545189098, 120479.52442982506 156800.776394741, 120468.69117708622 156780.05082435507, 120467.8445381546 156778.4326023352, 120467.06879286769 156776.94908944107, 120445.64959064161 156736.01170262316, 120434.5661637045 156714.8126240674, 120433.61442568433 156712.98373860933, 120430.79424089399 156706.8828146639, 120428.5957153973 156700.49311704186, 120426.99007574853 156693.776160005, 120426.01793476261 156686.78778561365, 120425.72436940215 156679.57714508887, 120425.9846985359 156674.645195382, 120426.12055994978 156672.19513089003, 120427.24975624906 156664.59985035387, 120428.30516267716 156659.2141446111, 120430.05528703766 156650.33341296934, 120431.58755445336 156644.87966165433, 120434.77448628655 156633.54090420948, 120434.82156181106 156633.3605778915, 120438.36856180945 156618.65757788988, 120438.44654489135 156618.2665205487, 120438.49354488974 156617.9695205503, 120438.49766761172 156617.94300786656, 120438.58204730455 156617.3906152441, 120439.40038148216 156612.18321556604, 120440.19790291123 156607.08589018768, 120440.20008321332 156607.07182377874, 120440.35608320909 156606.0558237761, 120440.4034762218 156605.6212329438, 120441.06747622634 156595.40323294533, 120441.07506901774 156594.90782392677, 120440.77906901392 156586.26682392787, 120440.73239390765 156585.7354331805, 120439.69239390854 156578.4074331789, 120439.57744336061 156577.83780210066, 120437.94544336133 156571.63480210278, 120437.85753098493 156571.3382586138, 120431.021530982 156550.6502586128, 120430.97157262471 156550.5064547011, 120422.64361110766 156527.66256024467, 120418.31364944918 156515.78366544636, 120418.3049411118 156515.75996105425, 120414.6975637485 156506.01664274652, 120412.3951851803 156499.78432491375, 120410.90116562723 156495.74291213672, 120406.10531140385 156482.37461825006, 120397.90888594482 156459.54543275025, 120397.8889340477 156459.49086063696, 120385.32693404872 156425.74086063696, 120383.93545081736 156422.00556290743, 120383.87654578182 156421.8549319276, 120376.2755457783 156403.30793192922, 120376.18364473374 156403.09758192487, 120370.65264473797 156391.19058192335, 120370.26398548929 156390.5022183739, 120364.33398548959 156381.70521837551, 120364.0442265658 156381.31730983584, 120357.14522656187 156372.95830983474, 120356.83318373938 156372.6141371435, 120352.55718373884 156368.31713714512, 120350.30134721736 156366.0512967093, 120349.84985036873 156365.6495647599, 120342.0058503645 156359.4775647615, 120341.47115527165 156359.11037843316, 120333.1825001281 156354.1773449132, 120332.72282562284 156353.90134376974, 120332.50317850812 156353.7768954301, 120323.80717851325 156349.1358954275, 120323.43497896461 156348.9566013893, 120319.49997896222 156347.25760139208, 120313.37207487682 156344.61321114146, 120312.84643527874 156344.4205171519, 120304.16643527904 156341.77951715302, 120303.71266515585 156341.66436070818, 120301.34566514971 156341.18036070708, 120301.32770008239 156341.1767215356, 120293.77270008269 156339.6607215367, 120293.37827975598 156339.59784649222, 120284.691279757 156338.56684649273, 120284.53249421198 156338.5505670017, 120281.45449421037 156338.28456699906, 120281.44232420204 156338.28353024393, 120268.79332420556 156337.22153024495, 120268.38953841862 156337.2040211365, 120252.22553842154 156337.15702113812, 120252.09872269692 156337.15826077983, 120231.262722694 156337.6262607783, 120231.19078172668 156337.62839478967, 120213.37078172638 156338.2853947912, 120213.20228414831 156338.2944563648, 120198.39728414861 156339.34145636318, 120198.20180310383 156339.3591428427, 120188.14780310616 156340.4681428438, 120188.11758040551 156340.4715696159, 120186.3745804048 156340.6745696138, 120186.21344566974 156340.69599652162, 120171.69044566783 156342.86799652374, 120171.52939174027 156342.89477829362, 120166.06839173735 156343.89477829362, 120141.43147338495 156348.42649742324, 120141.36460627777 156348.43926818002, 120110.04460627747 156354.6422681779, 120103.63904329906 156355.91357797256, 120099.64544966012 156356.70549739109, 120099.42533153658 156356.75432888878, 120081.48733153557 156361.16032888828, 120081.34346205987 156361.197943717, 120068.78046205886 156364.6829437164, 120068.69688537098 156364.70691255186, 120054.72088537492 156368.84691255246, 120054.15278865688 156369.05329734457, 120048.23878865235 156371.61629734558, 120048.23323707024 156371.61870727342, 120038.10023706892 156376.0247072729, 120037.9988984782 156376.07011568075, 120022.86030771738 156383.0563916001, 120003.84753427055 156391.1845067212, 120003.73349394102 156391.23495100834, 119999.3274939378 156393.24995100521, 119999.3152834026 156393.25555510877, 119996.5754210489 156394.51749171552, 119995.75701530553 156394.89437601063, 119994.2810141855 156395.57058226506, 119993.69825594152 156395.78025584656, 119993.57646924276 156395.82587152708, 119991.16458815808 156396.76519578983, 119988.73033257014 156397.55986122816, 119988.59713791304 156397.60542740408, 119985.4736787327 156398.72332794365, 119979.136522919 156400.7972709703, 119974.08863288742 156402.13344853208, 119972.79465948485 156402.47592338957, 119970.04046979122 156402.8401582476, 119970.03294271768 156402.84115950082, 119966.53333261788 156403.30938319996, 119960.5150476154 156403.8064829205, 119955.68226268404 156404.02912641654, 119949.92779187644 156403.88549482223, 119936.34310274124 156401.80407882342, 119933.16750497454 156401.07933768534, 119933.16166995202 156401.07800967828, 119925.39891510426 156399.3161506567, 119911.42399423778 156396.03419936844, 119897.09826620421 156392.3837080244, 119887.56086050467 156389.53970184946, 119882.84843681841 156388.0026782947, 119879.48940356812 156386.88200527718, 119879.46366153631 156386.87349446444, 119875.91961139996 156385.7124126775, 119870.07911990247 156383.44415609154, 119869.97846708256 156383.4063063205, 119860.18395187274 156379.84289008845, 119848.11601128163 156374.91237344363, 119823.48986487491 156364.57754471822, 119823.3896235889 156364.5367468058, 119817.1709512941 156362.08387606178, 119816.02365776837 156361.6311548389, 119796.76303608148 156354.02730418998, 119792.92169279995 156352.51106003663, 119784.66741402957 156348.5253176363, 119779.22287576168 156343.92661651468, 119778.7191666276 156343.28305632758, 119778.04229286678 156342.57412904518, 119777.24012019366 156342.0108751217, 119776.3434756542 156341.61494008952, 119775.38681679523 156341.40153950988, 119774.40690748018 156341.37887424743, 119773.4414050745 156341.54781531545, 119772.52741329417 156341.90187040344, 119771.70005633075 156342.42743337294, 119770.99112904834 156343.1043071338, 119770.42787512485 156343.9064798069, 119770.03194009267 156344.80312434636, 119769.81853951306 156345.75978320534, 119769.79587425059 156346.73969252038, 119769.9648153186 156347.70519492606, 119770.3188704066 156348.61918670638, 119770.84443337611 156349.44654366982, 119771.66563337437 156350.49574367193, 119772.37664911231 156351.2337722386, 119778.69764911463 156356.57277223642, 119779.74984850151 156357.25556207495, 119788.73984849614 156361.59656207683, 119789.07824648674 156361.74480735508, 119793.09110515408 156363.32875156595, 119812.3519639206 156370.93269581092, 119813.50072080747 156371.38599454623, 119819.67003498624 156373.81939670583, 119844.2681351264 156384.1424552843, 119844.31192827277 156384.16059025304, 119856.49192827247 156389.13689025046, 119856.67353292 156389.20699367888, 119866.50900299114 156392.785310007, 119872.42488009819 156395.0828439073, 119872.67833846089 156395.17350553395, 119876.33745590351 156396.37228502505, 119879.69959642747 156397.49399472112, 119879.73156542938 156397.50454106252, 119884.52056543391 156399.06654106523, 119884.64219734201 156399.10450529246, 119894.3371973423 156401.99550529136, 119894.53135140434 156402.04916695665, 119909.00035140112 156405.73616695564, 119909.09187123575 156405.75857194286, 119923.13087123283 156409.05557194498, 119923.16733004416 156409.06399032264, 119930.94541212551 156410.8293280609, 119934.29449502296 156411.59366231508, 119934.6497480096 156411.66132429443, 119948.72774801121 156413.81832429222, 119949.36023885397 156413.8744432216, 119955.61023885397 156414.03044322482, 119955.9651029385 156414.02670245885, 119961.06610294202 156413.79170245572, 119961.24758953757 156413.78003060786, 119967.48258953697 156413.265030611, 119967.73405728697 156413.2378404991, 119971.3552941262 156412.75334398093, 119974.42153021373 156412.3478417497, 119975.0452969401 156412.22457004036, 119976.64729693819 156411.80057004164, 119981.83443718837 156410.42753291962, 119982.11017143335 156410.34599345716, 119988.64917143043 156408.20599345656, 119988.77886208154 156408.16157259684, 119991.90058551064 156407.0442932907, 119994.40066742712 156406.22813877434, 119994.66353075932 156406.13412847382, 119997.14493405237 156405.16772829197, 119997.8647440595 156404.90874415275, 119998.25452461142 156404.74966730364, 119999.92652460981 156403.98366730474, 119999.93544076041 156403.97957192405, 120000.75844076679 156403.6005719234, 120003.49261509631 156402.3412551394, 120007.83580043734 156400.35498222924, 120026.85646573309 156392.2234932786, 120026.98610152121 156392.16588431696, 120042.13868435817 156385.17315122427, 120052.21798788184 156380.79049936257, 120057.85141161147 156378.34909506538, 120071.49543048519 156374.30743520838, 120083.94488290968 156370.8539335218, 120101.7011600435 156366.4925689863, 120105.58455034405 156365.7225026083, 120111.98837844002 156364.45153679428, 120143.27400364462 156358.25534480592, 120167.8715675819 156353.73086292326, 120173.25029995154 156352.7459274963, 120187.61216113949 156350.5980267508, 120189.25931346077 156350.40618973554, 120199.2006299817 156349.30961921284, 120213.82354352596 156348.27549625048, 120231.52325547091 156347.62293111163, 120252.25987730711 156347.15716325855, 120268.15821456992 156347.20339079047, 120280.59959015602 156348.2479588088, 120283.59198306996 156348.50656066797, 120292.00125345628 156349.50459885894, 120299.3513140483 156350.97947534468, 120301.47975128095 156351.41469444917, 120309.66734250291 156353.9058728373, 120315.53647305432 156356.43859377637, 120319.2812144856 156358.0554465534, 120327.68342656236 156362.5396538088, 120328.04317437233 156362.75565623178, 120328.05984472412 156362.76562156886, 120336.07756358912 156367.5374060417, 120343.4282396607 156373.32123733664, 120345.46923450274 156375.37128315849, 120349.58079158167 156379.50303263447, 120356.17749200934 156387.49575894998, 120361.75039168651 156395.76300995395, 120367.06598981474 156407.2062981422, 120374.59278339602 156425.5722290033, 120375.95530748868 156429.22978828003, 120388.50693145867 156462.9519112717, 120396.69290123071 156485.75197448375, 120401.49668859424 156499.14238175086, 120401.51319886974 156499.18771431997, 120403.01500679542 156503.25019475762, 120405.31781481922 156509.48367508547, 120408.92267478208 156519.22019774455, 120413.24835054981 156531.08733455298, 120421.55035346546 156553.86002365776, 120428.31392458215 156574.32882986157, 120429.83250232329 156580.10072797997, 120430.79407516065 156586.87611813354, 120431.07243934314 156595.00228323345, 120430.43871174219 156604.75443471156, 120430.31699692887 156605.54714146798, 120429.52135724982 156610.63244703092, 120428.70161852338 156615.84878443548, 120428.6983323906 156615.86999213445, 120428.61435818001 156616.4197302629, 120428.60064360197 156616.50639472663, 120425.12229529658 156630.9248202025, 120421.96051371285 156642.17409579037, 120420.37437737858 156647.81958096244, 120420.28235180887 156648.20524469586, 120418.49335180434 156657.28324469746, 120418.49232560208 156657.28846664785, 120417.41432560793 156662.78946664615, 120417.37535804092 156663.01572753882, 120416.19535804122 156670.95272754153, 120416.14866967956 156671.41116440814, 120415.99966967563 156674.09816440713, 120415.99895091273 156674.111445783, 120415.72595091083 156679.2834457814, 120415.72313868256 156679.75039549737, 120416.03613868357 156687.43839549838, 120416.0796868163 156687.92390794127, 120417.11868682083 156695.39290794177, 120417.20800907043 156695.86646255685, 120418.92600906518 156703.05346255584, 120419.06103737236 156703.51776655228, 120421.42103737177 156710.37676655338, 120421.61044185274 156710.84797282534, 120424.58644185626 156717.28597282636, 120424.68962852983 156717.49613342903, 120425.69762853114 156719.433133428, 120425.70205217588 156719.4416142036, 120436.78805217135 156740.6456142035, 120458.20748685989 156781.5834455129, 120458.98320712593 156783.06691055783, 120459.82926962528 156784.6840302736, 120470.66282290847 156805.41017564412, 120474.64831835404 156813.02303438974, 120474.6583204506 156813.04204034738, 120478.80732044709 156820.88504034586, 120500.71338297578 156862.29215853766, 120506.51054963883 156873.2454735982, 120517.62157611149 156894.2491815514, 120521.02951397123 156900.76858463968, 120537.30313639855 156931.9248617714, 120568.22509222823 156991.1117772789, 120574.29482379465 157002.73626318603, 120588.35023053395 157029.64304199244, 120599.76770769889 157051.49438600932, 120605.82498111042 157063.2042486165, 120619.91983063519 157090.4238901877, 120658.10645937048 157164.18917301483, 120685.27021652767 157216.68870366254, 120685.27368822132 157216.69540103883, 120685.70368822102 157217.52340104044, 120685.8146204981 157217.72547967982, 120693.1196204978 157230.33447968093, 120693.36157271797 157230.71199961304, 120702.67357271696 157243.89999961032, 120702.93256499272 157244.23563460473, 120714.51856498819 157258.00163460735, 120714.78428337249 157258.29318463846, 120716.44828337702 157259.98018463745, 120716.45601706972 157259.98800799335, 120725.52701707205 157269.14400799284, 120728.98019699495 157272.62918959773, 120729.11617287507 157272.76131826377, 120747.28793848195 157289.76109898233, 120798.59835004833 157337.77461261343, 120803.43299707041 157342.305344692, 120830.31867938537 157367.46385653917, 120830.3250026468 157367.46976333152, 120835.05393326527 157371.87957589858, 120847.62695133478 157383.77329535628, 120908.54186177772 157441.36815639667, 120948.88865512062 157479.49662109604, 120981.68010133898 157510.9366259114, 121008.78158259025 157536.93612825745, 121015.9173418329 157543.77885647718, 121017.32180322682 157545.12529886517, 121018.44925259017 157546.20572963182, 121042.24396255722 157569.0154516018, 121042.3916394708 157569.1514329118, 121056.36763946687 157581.5114329112, 121056.67591898293 157581.76293598095, 121072.49691898526 157593.65393598357, 121072.81026259145 157593.87125345704, 121090.55226259014 157605.19925345492, 121090.71133781532 157605.29669184587, 121114.5003378124 157619.26469184808, 121114.69195279124 157619.37161732733, 121122.36395279708 157623.43461732462, 121122.37006893575 157623.43785094284, 121138.3850689289 157631.89085094444, 121138.8395399326 157632.10231737222, 121157.59753993391 157639.71131737332, 121157.867947882 157639.81202062764, 121182.87530219658 157648.31180116438, 121202.30465652198 157654.92158150824, 121202.31603556008 157654.9254373592, 121216.45072971846 157659.6961333298, 121218.33676638009 157660.37584767677, 121218.42106872745 157660.40538150026, 121258.22134964331 157673.9507754371, 121259.94332640366 157674.54065674832, 121319.73198706929 157695.22851913804, 121330.19822190951 157699.4874397685, 121340.48773754711 157705.18954243758, 121349.29632295537 157712.4749325722, 121349.43683167262 157712.59092583196, 121356.26028723016 157718.2960873955, 121362.37620478716 157724.1359425093, 121367.24558678443 157730.16552189286, 121371.11650582211 157737.3919309817, 121371.66178937237 157738.20642581268, 121372.35549551097 157738.89889081044, 121373.17096550003 157739.44271493345, 121374.07686128518 157739.81699932567, 121375.03836979945 157740.00736044784, 121376.01854080986 157740.00648282873, 121376.97970689414 157739.81440019477, 121377.88493097872 157739.43849417387, 121378.69942580967 157738.89321062362, 121379.39189080741 157738.199504485, 121379.93571493044 157737.38403449595, 121380.30999932266 157736.47813871078, 121380.50036044481 157735.5166301965, 121380.4994828257 157734.5364591861, 121380.30740019176 157733.57529310184, 121379.93149417086 157732.67006901727, 121375.8384941761 157725.02906901838))";

    #[test]
    fn lambert72_reference_server_vector() {
        // docs/ldes-rules.md, "Geospatial test vectors": exactly these four tiles at z15.
        let want = by_row(vec![
            (16743, 11009),
            (16744, 11009),
            (16743, 11010),
            (16742, 11010),
        ]);
        assert_eq!(cover_ok(GIPOD_LAMBERT72, 15), want);
        // The same polygon as EWKT, and under the EPSG/0 IRI.
        let body = GIPOD_LAMBERT72
            .strip_prefix("<http://www.opengis.net/def/crs/EPSG/9.9.1/31370> ")
            .expect("the prefix");
        assert_eq!(cover_ok(&format!("SRID=31370;{body}"), 15), want);
        let epsg0 = format!("<http://www.opengis.net/def/crs/EPSG/0/31370> {body}");
        assert_eq!(cover_ok(&epsg0, 15), want);
    }

    #[test]
    fn lambert72_points_are_reprojected() {
        // pyproj 3.7.2: EPSG:31370 (150000, 170000) is (4.36875214090419, 50.840411283117874)
        // in WGS 84 (EPSG:15929), near Brussels; (121375.83, 157725.02) is
        // (3.9633163088601693, 50.72936324415916).
        for ((x, y), (lon, lat)) in [
            (
                (150_000.0, 170_000.0),
                (4.368_752_140_904_19, 50.840_411_283_117_874),
            ),
            (
                (121_375.83, 157_725.02),
                (3.963_316_308_860_169_3, 50.729_363_244_159_16),
            ),
        ] {
            for z in [0, 9, 15, 20] {
                let got = cover_ok(&format!("SRID=31370;POINT ({x} {y})"), z);
                assert_eq!(got, [tile_xy_unchecked(lon, lat, z)], "z{z}");
            }
        }
        // The datum shift matters: without it the point is ~100 m off, so in another z20 tile
        // (~24 m a side).
        let (bd72_lon, bd72_lat) = crate::crs::lambert72_to_bd72(150_000.0, 170_000.0).expect("in");
        assert_ne!(
            cover_ok("SRID=31370;POINT (150000 170000)", 20),
            [tile_xy_unchecked(bd72_lon, bd72_lat, 20)]
        );
    }

    /// Web Mercator forward (the spherical formula), to build EPSG:3857 test input.
    fn to_web_mercator((lon, lat): Coord) -> Coord {
        let r = crate::crs::WEB_MERCATOR_RADIUS;
        (
            r * lon.to_radians(),
            r * (PI / 4.0 + lat.to_radians() / 2.0).tan().ln(),
        )
    }

    #[test]
    fn web_mercator_equals_its_lonlat_cover() {
        let Ok((_, Geometry::Polygon(rings))) = parse_wkt(MOB_HIND) else {
            panic!("MOB_HIND is a polygon");
        };
        let merc: Vec<Coord> = rings[0].iter().map(|&p| to_web_mercator(p)).collect();
        let s = format!(
            "<http://www.opengis.net/def/crs/EPSG/0/3857> POLYGON ({})",
            coords_wkt(&merc)
        );
        for z in [0, 5, 9, 12, 15, 17] {
            assert_eq!(cover_ok(&s, z), cover_ok(MOB_HIND, z), "z{z}");
        }
        // Points: the origin, and the world's corners (clamped like lon/lat ±180 / ±85.05).
        let h = PI * crate::crs::WEB_MERCATOR_RADIUS;
        assert_eq!(cover_ok("SRID=3857;POINT (0 0)", 1), [(1, 1)]);
        assert_eq!(cover_ok(&format!("SRID=3857;POINT ({h} {h})"), 3), [(7, 0)]);
        assert_eq!(
            cover_ok(&format!("SRID=3857;POINT (-{h} -{h})"), 3),
            [(0, 7)]
        );
        let world =
            format!("SRID=3857;POLYGON ((-{h} -{h}, {h} -{h}, {h} {h}, -{h} {h}, -{h} -{h}))");
        assert_eq!(cover_ok(&world, 2).len(), 16);
        // Beyond the square, y is a latitude past the grid's limit: clamped.
        assert_eq!(
            cover_ok(
                "SRID=3857;LINESTRING (1000000 30000000, 1000000 25000000)",
                5
            ),
            cover_ok("LINESTRING (8.983152841195214 89, 8.983152841195214 88)", 5)
        );
    }

    #[test]
    fn projected_out_of_range() {
        assert_eq!(
            cover_err(
                "<http://www.opengis.net/def/crs/EPSG/0/31370> LINESTRING (150000 170000, 5000000 170000)",
                15,
                100
            ),
            CoverError::OutOfRange(5e6, 170_000.0)
        );
        assert_eq!(
            cover_err("SRID=31370;POLYGON ((0 0, 1 0, 1 -2e6, 0 0))", 15, 100),
            CoverError::OutOfRange(1.0, -2e6)
        );
        assert_eq!(
            cover_err("SRID=3857;POINT (21000000 0)", 3, 100),
            CoverError::OutOfRange(2.1e7, 0.0)
        );
        assert!(cover_err("SRID=3857;POINT (-21000000 0)", 3, 100)
            .to_string()
            .contains("or its CRS's area"));
        // Non-finite projected coordinates (the WKT parser already rejects them).
        for proj in [Projection::WebMercator, Projection::BelgianLambert72] {
            for p in [
                (f64::NAN, 0.0),
                (0.0, f64::INFINITY),
                (f64::NEG_INFINITY, 0.0),
            ] {
                let g = Geometry::LineString(vec![(150_000.0, 170_000.0), p]);
                let mut out = vec![(7, 7)];
                let e = cover(&g, Axes::Projected(proj), 5, 100, &mut out).expect_err("non-finite");
                assert!(matches!(e, CoverError::OutOfRange(..)), "{e}");
                assert!(out.is_empty());
            }
        }
    }

    #[test]
    fn projected_never_panics_on_extreme_input() {
        let mut rng = Rng(0x3137_0385_7c55);
        let h = PI * crate::crs::WEB_MERCATOR_RADIUS;
        let specials = [
            0.0,
            -0.0,
            1e-300,
            h,
            -h,
            h + 1e-6,
            h + 1e-5,
            -1_000_000.0,
            1_300_000.0,
            1_250_000.0,
            -1_000_000.000_001,
            150_000.013,
            5_400_088.438,
            170_000.0,
            1e300,
            -1e300,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
        ];
        let mut out = Vec::new();
        for i in 0..20_000 {
            let proj = [Projection::WebMercator, Projection::BelgianLambert72][i % 2];
            let z = [0u8, 1, 15, 30][rng.below(4) as usize];
            let k = 1 + rng.below(4);
            let mut special = || specials[rng.below(specials.len() as u64) as usize];
            let pts: Vec<Coord> = (0..k).map(|_| (special(), special())).collect();
            let mut ring = pts.clone();
            ring.push(pts[0]);
            let g = match rng.below(3) {
                0 => Geometry::MultiPoint(pts),
                1 => Geometry::LineString(pts),
                _ => Geometry::Polygon(vec![ring]),
            };
            assert_bounded_cover(cover(&g, Axes::Projected(proj), z, 5000, &mut out), &out, z);
        }
    }

    #[test]
    fn out_of_range_and_non_finite() {
        assert_eq!(
            cover_err("POINT (180.5 0)", 3, 100),
            CoverError::OutOfRange(180.5, 0.0)
        );
        assert_eq!(
            cover_err("LINESTRING (0 0, 10 -90.5)", 3, 100),
            CoverError::OutOfRange(10.0, -90.5)
        );
        // Swapped axes report (lon, lat).
        assert_eq!(
            cover_err(
                "<http://www.opengis.net/def/crs/EPSG/0/4326> POINT (4 200)",
                3,
                100
            ),
            CoverError::OutOfRange(200.0, 4.0)
        );
        assert!(matches!(
            cover_err("POINT (nan 0)", 3, 100),
            CoverError::Wkt(WktError::NotFinite(7))
        ));
        let mut out = Vec::new();
        for p in [
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
            (f64::NEG_INFINITY, 0.0),
        ] {
            let g = Geometry::LineString(vec![(0.0, 0.0), p]);
            let e = cover_geometry(&g, 5, 100, &mut out).expect_err("non-finite");
            assert!(matches!(e, CoverError::OutOfRange(..)), "{e}");
        }
        // The grid's own bounds are fine, and beyond-Mercator latitudes are clamped.
        assert_eq!(cover_ok("POINT (180 90)", 3), [(7, 0)]);
        assert_eq!(cover_ok("POINT (-180 -90)", 3), [(0, 7)]);
        assert_eq!(cover_ok("LINESTRING (10 89, 10 88)", 5), [(16, 0)]);
        assert_eq!(cover_ok("LINESTRING (10 -89, 10 -88)", 5), [(16, 31)]);
        let polar = cover_ok("POLYGON ((0 80, 20 80, 20 89.9, 0 89.9, 0 80))", 5);
        assert_eq!(
            polar,
            cover_ok("POLYGON ((0 80, 20 80, 20 85.06, 0 85.06, 0 80))", 5)
        );
        // lon 0 is a column edge at z5, so column 15 is touched too.
        assert_eq!(polar.first(), Some(&(15, 0)));
    }

    #[test]
    fn too_many_tiles_fails_fast() {
        let world = "POLYGON ((-180 -85, 180 -85, 180 85, -180 85, -180 -85))";
        let start = std::time::Instant::now();
        assert_eq!(
            cover_err(world, 30, 1_000_000),
            CoverError::TooManyTiles(1_000_000)
        );
        // A boundary that is narrow but long: one column per row over 2^30 rows.
        assert_eq!(
            cover_err("LINESTRING (0.1 -85, 0.1 85)", 30, 100_000),
            CoverError::TooManyTiles(100_000)
        );
        assert!(start.elapsed().as_secs_f64() < 5.0);
        // The limit is on distinct tiles and is exact.
        let all = cover_ok(world, 5).len();
        assert_eq!(all, 32 * 32);
        let mut out = Vec::new();
        assert!(cover_wkt(world, 5, all, &mut out).is_ok());
        assert_eq!(
            cover_err(world, 5, all - 1),
            CoverError::TooManyTiles(all - 1)
        );
        let twice = format!(
            "MULTIPOLYGON (({}), ({}))",
            &world[9..world.len() - 1],
            &world[9..world.len() - 1]
        );
        assert!(cover_wkt(&twice, 5, all, &mut out).is_ok());
        assert_eq!(out.len(), all);
    }

    #[test]
    fn malformed_and_empty() {
        assert!(matches!(
            cover_err("POLYGON ((0 0, 1 0, 1 1, 0 1))", 5, 100),
            CoverError::Wkt(WktError::OpenRing(9))
        ));
        assert!(matches!(
            cover_err("POINT (1 2", 5, 100),
            CoverError::Wkt(_)
        ));
        assert_eq!(cover_err("POINT EMPTY", 5, 100), CoverError::Empty);
        assert_eq!(
            cover_err(
                "GEOMETRYCOLLECTION (LINESTRING EMPTY, POLYGON EMPTY)",
                5,
                100
            ),
            CoverError::Empty
        );
        assert_eq!(cover_err("POINT (1 2)", 31, 100), CoverError::Zoom(31));
        // Built by hand: an unclosed ring is closed implicitly.
        let open = Geometry::Polygon(vec![vec![
            (0.0, 0.0),
            (30.0, 0.0),
            (30.0, 30.0),
            (0.0, 30.0),
        ]]);
        let mut out = Vec::new();
        cover_geometry(&open, 6, 1000, &mut out).expect("covers");
        assert_eq!(out, cover_ok("POLYGON ((0 0, 30 0, 30 30, 0 30, 0 0))", 6));
        let e = cover_geometry(&Geometry::Polygon(vec![vec![]]), 6, 1000, &mut out);
        assert_eq!(e, Err(CoverError::Empty));
    }

    #[test]
    fn degenerate_polygons() {
        // Collinear ring, spike, repeated points: the boundary tiles and nothing else.
        let flat = cover_ok("POLYGON ((0 0, 10 10, 20 20, 0 0))", 6);
        assert_eq!(flat, cover_ok("LINESTRING (0 0, 20 20)", 6));
        let spike = cover_ok(
            "POLYGON ((0 0, 20 0, 20 20, 20 20, 40 25, 20 20, 0 20, 0 0))",
            6,
        );
        let square = cover_ok("POLYGON ((0 0, 20 0, 20 20, 0 20, 0 0))", 6);
        let tail = cover_ok("LINESTRING (20 20, 40 25)", 6);
        let mut union: Vec<(u32, u32)> = square.iter().chain(&tail).copied().collect();
        union = by_row(union);
        union.dedup();
        assert_eq!(spike, union);
        // Any tile count works at zoom 0.
        assert_eq!(
            cover_ok(
                "POLYGON ((-180 -85, 180 -85, 180 85, -180 85, -180 -85))",
                0
            ),
            [(0, 0)]
        );
    }
}
