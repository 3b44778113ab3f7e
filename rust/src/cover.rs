//! Exact tile cover of a geometry: every tile at one zoom that the geometry intersects, as the
//! reference server computes it with JTS `intersects` against each tile's bounding box
//! (ldes-semantics.md §3.1), but without testing the tiles of the bounding box one by one.
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

use crate::tile::{tile_lat, tile_xy_unchecked, MAX_ZOOM};
use crate::wkt::{parse_wkt, Coord, Crs, Geometry, WktError};
use std::f64::consts::PI;

/// Why a geometry has no cover.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoverError {
    #[error(transparent)]
    Wkt(#[from] WktError),
    #[error("unsupported CRS <{0}> (only CRS84 and EPSG:4326 are supported)")]
    UnsupportedCrs(String),
    #[error("coordinate ({0}, {1}) is outside lon [-180, 180] / lat [-90, 90]")]
    OutOfRange(f64, f64),
    #[error("the geometry covers more than {0} tiles")]
    TooManyTiles(usize),
    #[error("empty geometry")]
    Empty,
    #[error("zoom {0} is outside 0..=30")]
    Zoom(u8),
}

/// Every tile `(x, y)` at `zoom` the geometry (coordinates lon/lat) intersects, sorted by
/// `(y, x)`, no duplicates. `out` is cleared first, and left empty on error.
///
/// More than `max_tiles` distinct tiles is an error, detected while covering: memory stays
/// within a small multiple of `max_tiles`. Rings need not be closed here (the closing edge is
/// implied); a one-point line or ring covers the tiles touching that point.
pub fn cover_geometry(
    g: &Geometry,
    zoom: u8,
    max_tiles: usize,
    out: &mut Vec<(u32, u32)>,
) -> Result<(), CoverError> {
    cover(g, Axes::LonLat, zoom, max_tiles, out)
}

/// [`cover_geometry`] of an optionally CRS-prefixed WKT literal (see [`parse_wkt`]).
pub fn cover_wkt(
    wkt: &str,
    zoom: u8,
    max_tiles: usize,
    out: &mut Vec<(u32, u32)>,
) -> Result<(), CoverError> {
    out.clear();
    let (crs, g) = parse_wkt(wkt)?;
    cover(&g, axes_for(&crs)?, zoom, max_tiles, out)
}

/// How the WKT's (x, y) become (lon, lat). Reprojection (EPSG:3857, 31370, ...) belongs here:
/// [`to_lonlat`] is the only place coordinates enter the cover.
#[derive(Debug, Clone, Copy)]
enum Axes {
    LonLat,
    LatLon,
}

fn axes_for(crs: &Crs) -> Result<Axes, CoverError> {
    match crs {
        Crs::Crs84 => Ok(Axes::LonLat),
        // EPSG:4326 is latitude first (GeoSPARQL and Jena follow the EPSG axis order).
        Crs::Epsg(4326) => Ok(Axes::LatLon),
        Crs::Epsg(code) => Err(CoverError::UnsupportedCrs(format!(
            "http://www.opengis.net/def/crs/EPSG/0/{code}"
        ))),
        Crs::Other(iri) => Err(CoverError::UnsupportedCrs(iri.clone())),
    }
}

/// Checks a coordinate and returns it as (lon, lat) with the latitude clamped to the grid.
#[inline]
fn to_lonlat(axes: Axes, grid: &Grid, p: Coord) -> Result<Coord, CoverError> {
    let (lon, lat) = match axes {
        Axes::LonLat => p,
        Axes::LatLon => (p.1, p.0),
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
    // North to south: the segment's part in row r runs from where it entered (its north end
    // for the first row) to where it leaves through the row's south edge (or its south end).
    let mut north_lon = t.lon;
    for r in r0..=r1 {
        let south_lon = if r == r1 {
            s.lon
        } else {
            lon_at(grid.lat(r + 1))
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
            Geometry::GeometryCollection(gs) => gs.iter().try_for_each(|g| self.geometry(g)),
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
    use crate::tile::tile_lon;

    const MOB_HIND: &str = "POLYGON ((3.7337472847142124 51.04745170597559, 4.359276660355135 50.851907920816956, 4.711285586572245 50.84364854093491, 4.4020885567877315 51.214619167436666, 3.7337472847142124 51.04745170597559))";

    fn cover_ok(s: &str, z: u8) -> Vec<(u32, u32)> {
        let mut out = vec![(7, 7)];
        if let Err(e) = cover_wkt(s, z, 1 << 24, &mut out) {
            panic!("{s}: {e}");
        }
        out
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

    /// Tiny xorshift generator; the tests need no external crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
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
            match cover_geometry(&g, z, 5000, &mut out) {
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
    }

    #[test]
    fn reference_server_vectors() {
        // ldes-semantics.md §3.1
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
        assert_eq!(
            cover_err(
                "<http://www.opengis.net/def/crs/EPSG/9.9.1/31370> POINT (121375.83 157725.02)",
                15,
                100
            ),
            CoverError::UnsupportedCrs("http://www.opengis.net/def/crs/EPSG/0/31370".into())
        );
        assert_eq!(
            cover_err("<urn:x> POINT (1 2)", 15, 100),
            CoverError::UnsupportedCrs("urn:x".into())
        );
        assert!(cover_err("<urn:x> POINT (1 2)", 15, 100)
            .to_string()
            .starts_with("unsupported CRS <urn:x>"));
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
