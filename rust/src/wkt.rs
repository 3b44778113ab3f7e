//! A WKT parser for the geometries of LDES members: fast, and total on any input (every
//! malformed string gives a [`WktError`], never a panic).
//!
//! Accepts the optional CRS prefix of GeoSPARQL `wktLiteral`s (`<iri> POLYGON (...)`) and of
//! PostGIS EWKT (`SRID=4326;POINT (...)`). Keywords are case-insensitive; `Z`, `M` and `ZM`
//! ordinates are read and dropped. Coordinates are returned as written (`(x, y)`), so the axis
//! order still depends on the CRS (EPSG:4326 writes latitude first).
//!
//! EMPTY geometries become the matching variant with no coordinates; `POINT EMPTY` has no
//! such form and becomes `MultiPoint(vec![])`. Empty members of multi-geometries are dropped.

/// `(x, y)` as written in the WKT.
pub(crate) type Coord = (f64, f64);

/// A parsed geometry, coordinates as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Geometry {
    Point(Coord),
    LineString(Vec<Coord>),
    /// Exterior ring first, then the holes; every ring is closed (first == last).
    Polygon(Vec<Vec<Coord>>),
    MultiPoint(Vec<Coord>),
    MultiLineString(Vec<Vec<Coord>>),
    MultiPolygon(Vec<Vec<Vec<Coord>>>),
    /// `GEOMETRYCOLLECTION`.
    Collection(Vec<Geometry>),
}

/// The coordinate reference system named by the literal's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Crs {
    /// OGC CRS84 (longitude, latitude): no prefix, an `.../OGC/{version}/CRS84` IRI, or EWKT
    /// `SRID=4326;` (EWKT writes longitude first whatever the SRID).
    Crs84,
    /// An EPSG code from an `http://www.opengis.net/def/crs/EPSG/{version}/{code}` IRI (axis
    /// order as EPSG defines it: latitude first for 4326), or from any other EWKT `SRID=`.
    Epsg(u32),
    /// Any other IRI, verbatim.
    Other(String),
}

/// Deepest GEOMETRYCOLLECTION nesting accepted; bounds the recursion on hostile input.
const MAX_DEPTH: usize = 32;

/// Why a string is not WKT; the number is the byte offset where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WktError {
    #[error("invalid WKT at byte {0}: expected {1}")]
    Expected(usize, &'static str),
    #[error("invalid WKT at byte {0}: unknown geometry type")]
    UnknownType(usize),
    #[error("invalid WKT at byte {0}: the number is not finite")]
    NotFinite(usize),
    #[error("invalid WKT at byte {0}: a linestring needs at least 2 points")]
    ShortLineString(usize),
    #[error("invalid WKT at byte {0}: a polygon ring needs at least 4 points")]
    ShortRing(usize),
    #[error("invalid WKT at byte {0}: the polygon ring is not closed")]
    OpenRing(usize),
    #[error("invalid WKT at byte {0}: geometry collections nested deeper than {max}", max = MAX_DEPTH)]
    TooDeep(usize),
    #[error("invalid WKT at byte {0}: unexpected text after the geometry")]
    Trailing(usize),
}

/// Parses an optionally CRS-prefixed WKT literal.
pub(crate) fn parse_wkt(s: &str) -> Result<(Crs, Geometry), WktError> {
    let mut p = Parser { s, pos: 0 };
    let crs = p.crs()?;
    let g = p.geometry(0)?;
    p.skip_ws();
    if p.pos != s.len() {
        return Err(WktError::Trailing(p.pos));
    }
    Ok((crs, g))
}

/// Maps a CRS IRI to a [`Crs`]; unknown forms are kept verbatim.
fn classify_iri(iri: &str) -> Crs {
    let path = iri
        .strip_prefix("http://")
        .or_else(|| iri.strip_prefix("https://"))
        .and_then(|r| r.strip_prefix("www.opengis.net/def/crs/"));
    if let Some(path) = path {
        let mut parts = path.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("OGC"), Some(v), Some("CRS84"), None) if !v.is_empty() => return Crs::Crs84,
            (Some("EPSG"), Some(v), Some(code), None)
                if !v.is_empty()
                    && !code.is_empty()
                    && code.bytes().all(|c| c.is_ascii_digit()) =>
            {
                if let Ok(code) = code.parse() {
                    return Crs::Epsg(code);
                }
            }
            _ => {}
        }
    }
    Crs::Other(iri.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    Collection,
}

const KINDS: [(&str, Kind); 7] = [
    ("POINT", Kind::Point),
    ("LINESTRING", Kind::LineString),
    ("POLYGON", Kind::Polygon),
    ("MULTIPOINT", Kind::MultiPoint),
    ("MULTILINESTRING", Kind::MultiLineString),
    ("MULTIPOLYGON", Kind::MultiPolygon),
    ("GEOMETRYCOLLECTION", Kind::Collection),
];

/// How many ordinates a coordinate has: an explicit `Z`/`M`/`ZM` fixes it, without a tag
/// 2 to 4 are accepted (3-D data is often written untagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dims {
    Untagged,
    Three,
    Four,
}

fn dims_tag(w: &str) -> Option<Dims> {
    if w.eq_ignore_ascii_case("Z") || w.eq_ignore_ascii_case("M") {
        Some(Dims::Three)
    } else if w.eq_ignore_ascii_case("ZM") {
        Some(Dims::Four)
    } else {
        None
    }
}

/// Splits a type keyword, possibly glued to its dimension (`POINTZ`), into kind and tag.
fn kind_of(w: &str) -> Option<(Kind, Option<Dims>)> {
    // No type name ends in Z or M, so the split is unambiguous.
    KINDS.iter().find_map(|&(name, kind)| {
        let head = w.get(..name.len())?;
        if !head.eq_ignore_ascii_case(name) {
            return None;
        }
        let tail = w.get(name.len()..)?;
        if tail.is_empty() {
            Some((kind, None))
        } else {
            dims_tag(tail).map(|d| (kind, Some(d)))
        }
    })
}

/// Exact powers of ten as `f64` (10^22 is the largest).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `[+-]digits[.digits]` with a mantissa below 2^53 and at most 22 decimals: the value is
/// then one correctly rounded division of two exact numbers, i.e. exactly what `str::parse`
/// gives, in a fraction of its time. Anything else (exponents, long mantissas, garbage) is
/// left to `str::parse`.
#[inline]
fn fast_decimal(token: &[u8]) -> Option<f64> {
    const LIMIT: u64 = 1 << 53;
    let (neg, digits) = match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, token),
    };
    let (mut m, mut decimals, mut any, mut dot) = (0u64, 0usize, false, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                if m >= LIMIT {
                    return None;
                }
                m = m * 10 + u64::from(c - b'0');
                any = true;
                decimals += usize::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if !any || m > LIMIT {
        return None;
    }
    let v = m as f64 / *POW10.get(decimals)?;
    Some(if neg { -v } else { v })
}

fn starts_number(c: u8) -> bool {
    matches!(c, b'0'..=b'9' | b'+' | b'-' | b'.')
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// Consumes `c` after optional whitespace if it is next.
    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// After a list item: true on `,` (more follow), false on `)` (the list is closed).
    #[inline]
    fn next_item(&mut self) -> Result<bool, WktError> {
        if self.eat(b',') {
            Ok(true)
        } else if self.eat(b')') {
            Ok(false)
        } else {
            Err(WktError::Expected(self.pos, "',' or ')'"))
        }
    }

    /// The run of ASCII letters at the cursor (after whitespace), possibly empty.
    fn word(&mut self) -> &'a str {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        // Both ends sit next to ASCII bytes, so they are char boundaries; `get` keeps it total.
        self.s.get(start..self.pos).unwrap_or("")
    }

    fn crs(&mut self) -> Result<Crs, WktError> {
        self.skip_ws();
        let rest = self.s.get(self.pos..).unwrap_or("");
        if let Some(iri) = rest.strip_prefix('<') {
            let Some(end) = iri.find('>') else {
                return Err(WktError::Expected(self.s.len(), "'>' closing the CRS IRI"));
            };
            let iri = iri.get(..end).unwrap_or("");
            self.pos += end + 2;
            return Ok(classify_iri(iri.trim()));
        }
        let srid = rest
            .get(..5)
            .is_some_and(|h| h.eq_ignore_ascii_case("SRID="));
        if !srid {
            return Ok(Crs::Crs84);
        }
        self.pos += 5;
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let code: u32 = match self.s.get(start..self.pos).map(str::parse) {
            Some(Ok(code)) => code,
            _ => return Err(WktError::Expected(start, "an SRID number")),
        };
        if !self.eat(b';') {
            return Err(WktError::Expected(self.pos, "';' after the SRID"));
        }
        // EWKT (PostGIS) always writes x = longitude, y = latitude, even for 4326, so it
        // means CRS84 rather than EPSG:4326 with its latitude-first axis order.
        Ok(if code == 4326 {
            Crs::Crs84
        } else {
            Crs::Epsg(code)
        })
    }

    fn number(&mut self) -> Result<f64, WktError> {
        self.skip_ws();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| starts_number(c) || c == b'e' || c == b'E')
        {
            self.pos += 1;
        }
        let token = self.s.get(start..self.pos).unwrap_or("");
        if let Some(v) = fast_decimal(token.as_bytes()) {
            return Ok(v);
        }
        match token.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(WktError::NotFinite(start)),
            Err(_) => Err(self.not_a_number(start)),
        }
    }

    /// The error for a token that is not a number: spelled-out NaN/infinity are named as such.
    fn not_a_number(&self, start: usize) -> WktError {
        let rest = self.s.get(start..).unwrap_or("");
        let unsigned = rest.strip_prefix(['+', '-']).unwrap_or(rest);
        let end = unsigned
            .bytes()
            .position(|c| !c.is_ascii_alphabetic())
            .unwrap_or(unsigned.len());
        let w = unsigned.get(..end).unwrap_or("");
        if ["nan", "inf", "infinity"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
        {
            WktError::NotFinite(start)
        } else {
            WktError::Expected(start, "a number")
        }
    }

    fn coord(&mut self, dims: Dims) -> Result<Coord, WktError> {
        let x = self.number()?;
        let y = self.number()?;
        let (min_extra, max_extra) = match dims {
            Dims::Untagged => (0, 2),
            Dims::Three => (1, 1),
            Dims::Four => (2, 2),
        };
        for i in 0..max_extra {
            if i >= min_extra {
                self.skip_ws();
                if !self
                    .peek()
                    .is_some_and(|c| starts_number(c) || c.is_ascii_alphabetic())
                {
                    break;
                }
            }
            self.number()?;
        }
        Ok((x, y))
    }

    /// After a type keyword: true for EMPTY, false after consuming the opening `(`.
    fn open_or_empty(&mut self) -> Result<bool, WktError> {
        if self.eat(b'(') {
            return Ok(false);
        }
        let start = self.pos;
        if self.word().eq_ignore_ascii_case("EMPTY") {
            Ok(true)
        } else {
            Err(WktError::Expected(start, "'(' or EMPTY"))
        }
    }

    /// The coordinates of a list whose `(` is already consumed, through its `)`.
    fn coord_list(&mut self, dims: Dims) -> Result<Vec<Coord>, WktError> {
        let mut pts = Vec::new();
        loop {
            pts.push(self.coord(dims)?);
            if !self.next_item()? {
                return Ok(pts);
            }
        }
    }

    /// A linestring body whose `(` at `start` is already consumed.
    fn line_body(&mut self, dims: Dims, start: usize) -> Result<Vec<Coord>, WktError> {
        let pts = self.coord_list(dims)?;
        if pts.len() < 2 {
            return Err(WktError::ShortLineString(start));
        }
        Ok(pts)
    }

    /// A polygon body (its rings) whose `(` is already consumed.
    fn polygon_body(&mut self, dims: Dims) -> Result<Vec<Vec<Coord>>, WktError> {
        let mut rings = Vec::new();
        loop {
            self.skip_ws();
            let start = self.pos;
            if !self.eat(b'(') {
                return Err(WktError::Expected(start, "'(' opening a ring"));
            }
            let ring = self.coord_list(dims)?;
            if ring.len() < 4 {
                return Err(WktError::ShortRing(start));
            }
            if ring.first() != ring.last() {
                return Err(WktError::OpenRing(start));
            }
            rings.push(ring);
            if !self.next_item()? {
                return Ok(rings);
            }
        }
    }

    fn geometry(&mut self, depth: usize) -> Result<Geometry, WktError> {
        self.skip_ws();
        let start = self.pos;
        let w = self.word();
        if w.is_empty() {
            return Err(WktError::Expected(start, "a geometry type"));
        }
        let Some((kind, glued)) = kind_of(w) else {
            return Err(WktError::UnknownType(start));
        };
        let (empty, dims) = match glued {
            Some(d) => (self.open_or_empty()?, d),
            None if self.eat(b'(') => (false, Dims::Untagged),
            None => {
                let at = self.pos;
                let w = self.word();
                if w.eq_ignore_ascii_case("EMPTY") {
                    (true, Dims::Untagged)
                } else if let Some(d) = dims_tag(w) {
                    (self.open_or_empty()?, d)
                } else {
                    return Err(WktError::Expected(at, "'(', EMPTY or a Z/M/ZM tag"));
                }
            }
        };
        if kind == Kind::Collection && depth >= MAX_DEPTH {
            return Err(WktError::TooDeep(start));
        }
        if empty {
            return Ok(match kind {
                Kind::Point | Kind::MultiPoint => Geometry::MultiPoint(Vec::new()),
                Kind::LineString => Geometry::LineString(Vec::new()),
                Kind::Polygon => Geometry::Polygon(Vec::new()),
                Kind::MultiLineString => Geometry::MultiLineString(Vec::new()),
                Kind::MultiPolygon => Geometry::MultiPolygon(Vec::new()),
                Kind::Collection => Geometry::Collection(Vec::new()),
            });
        }
        let open = self.pos.saturating_sub(1);
        match kind {
            Kind::Point => {
                let c = self.coord(dims)?;
                if !self.eat(b')') {
                    return Err(WktError::Expected(self.pos, "')'"));
                }
                Ok(Geometry::Point(c))
            }
            Kind::LineString => Ok(Geometry::LineString(self.line_body(dims, open)?)),
            Kind::Polygon => Ok(Geometry::Polygon(self.polygon_body(dims)?)),
            Kind::MultiPoint => {
                let mut pts = Vec::new();
                loop {
                    // Both `((1 2), (3 4))` and `(1 2, 3 4)` are in use.
                    self.skip_ws();
                    if self.eat(b'(') {
                        pts.push(self.coord(dims)?);
                        if !self.eat(b')') {
                            return Err(WktError::Expected(self.pos, "')'"));
                        }
                    } else if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                        let at = self.pos;
                        if !self.word().eq_ignore_ascii_case("EMPTY") {
                            return Err(WktError::Expected(at, "a point"));
                        }
                    } else {
                        pts.push(self.coord(dims)?);
                    }
                    if !self.next_item()? {
                        return Ok(Geometry::MultiPoint(pts));
                    }
                }
            }
            Kind::MultiLineString => {
                let mut lines = Vec::new();
                loop {
                    self.skip_ws();
                    let at = self.pos;
                    if !self.open_or_empty()? {
                        lines.push(self.line_body(dims, at)?);
                    }
                    if !self.next_item()? {
                        return Ok(Geometry::MultiLineString(lines));
                    }
                }
            }
            Kind::MultiPolygon => {
                let mut polys = Vec::new();
                loop {
                    if !self.open_or_empty()? {
                        polys.push(self.polygon_body(dims)?);
                    }
                    if !self.next_item()? {
                        return Ok(Geometry::MultiPolygon(polys));
                    }
                }
            }
            Kind::Collection => {
                let mut members = Vec::new();
                loop {
                    members.push(self.geometry(depth + 1)?);
                    if !self.next_item()? {
                        return Ok(Geometry::Collection(members));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    fn geom(s: &str) -> Geometry {
        match parse_wkt(s) {
            Ok((_, g)) => g,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn crs(s: &str) -> Crs {
        parse_wkt(s).expect("valid WKT").0
    }

    fn err(s: &str) -> WktError {
        match parse_wkt(s) {
            Ok(g) => panic!("{s:?} parsed as {g:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn basic_types() {
        assert_eq!(geom("POINT (1 2)"), Geometry::Point((1.0, 2.0)));
        assert_eq!(
            geom("LINESTRING (1 2, 3 4)"),
            Geometry::LineString(vec![(1.0, 2.0), (3.0, 4.0)])
        );
        let ring = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)];
        let hole = vec![(0.2, 0.1), (0.8, 0.1), (0.8, 0.7), (0.2, 0.1)];
        assert_eq!(
            geom("POLYGON ((0 0, 1 0, 1 1, 0 0), (0.2 0.1, 0.8 0.1, 0.8 0.7, 0.2 0.1))"),
            Geometry::Polygon(vec![ring.clone(), hole])
        );
        assert_eq!(
            geom("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), EMPTY, ((0 0, 1 0, 1 1, 0 0)))"),
            Geometry::MultiPolygon(vec![vec![ring.clone()], vec![ring]])
        );
        assert_eq!(
            geom("MULTILINESTRING ((1 2, 3 4), EMPTY, (5 6, 7 8, 9 10))"),
            Geometry::MultiLineString(vec![
                vec![(1.0, 2.0), (3.0, 4.0)],
                vec![(5.0, 6.0), (7.0, 8.0), (9.0, 10.0)]
            ])
        );
        assert_eq!(
            geom("GEOMETRYCOLLECTION (POINT (1 2), GEOMETRYCOLLECTION (LINESTRING (0 0, 1 1)))"),
            Geometry::Collection(vec![
                Geometry::Point((1.0, 2.0)),
                Geometry::Collection(vec![Geometry::LineString(vec![(0.0, 0.0), (1.0, 1.0)])])
            ])
        );
    }

    #[test]
    fn multipoint_both_forms() {
        let want = Geometry::MultiPoint(vec![(1.0, 2.0), (3.0, 4.0)]);
        assert_eq!(geom("MULTIPOINT ((1 2), (3 4))"), want);
        assert_eq!(geom("MULTIPOINT (1 2, 3 4)"), want);
        assert_eq!(geom("MULTIPOINT ((1 2), 3 4, EMPTY)"), want);
    }

    #[test]
    fn empties() {
        assert_eq!(geom("POINT EMPTY"), Geometry::MultiPoint(vec![]));
        assert_eq!(geom("linestring empty"), Geometry::LineString(vec![]));
        assert_eq!(geom("POLYGON Z EMPTY"), Geometry::Polygon(vec![]));
        assert_eq!(geom("MULTIPOLYGON EMPTY"), Geometry::MultiPolygon(vec![]));
        assert_eq!(
            geom("GEOMETRYCOLLECTION (POINT EMPTY, MULTIPOINT EMPTY)"),
            Geometry::Collection(vec![
                Geometry::MultiPoint(vec![]),
                Geometry::MultiPoint(vec![])
            ])
        );
        assert_eq!(
            geom("GEOMETRYCOLLECTION EMPTY"),
            Geometry::Collection(vec![])
        );
    }

    #[test]
    fn flexible_syntax() {
        let p = Geometry::Point((1.0, 2.0));
        for s in [
            "POINT(1 2)",
            "  point  (  1   2  )  ",
            "\n\tPoInT\n(\n1\t2\n)\n",
            "POINT Z (1 2 3)",
            "POINTZ(1 2 3)",
            "POINT M (1 2 3)",
            "POINT ZM (1 2 3 4)",
            "pointzm (1 2 3 4)",
            "POINT (1 2 3)",
            "POINT (1 2 3 4)",
            "POINT (1e0 2E0)",
            "POINT (+1 20e-1)",
            "POINT (1. 2.000)",
        ] {
            assert_eq!(geom(s), p, "{s:?}");
        }
        assert_eq!(geom("POINT (.5 -.5)"), Geometry::Point((0.5, -0.5)));
        assert_eq!(geom("POINT (1e-3 -0.5)"), Geometry::Point((1e-3, -0.5)));
        assert_eq!(
            geom("LINESTRING Z (1 2 3,4 5 6)"),
            Geometry::LineString(vec![(1.0, 2.0), (4.0, 5.0)])
        );
        assert_eq!(
            geom("MULTIPOINT ZM ((1 2 3 4), (5 6 7 8))"),
            Geometry::MultiPoint(vec![(1.0, 2.0), (5.0, 6.0)])
        );
    }

    #[test]
    fn crs_prefixes() {
        assert_eq!(crs("POINT (1 2)"), Crs::Crs84);
        assert_eq!(
            crs("<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POINT (1 2)"),
            Crs::Crs84
        );
        assert_eq!(
            crs("<https://www.opengis.net/def/crs/OGC/1.3/CRS84>POINT (1 2)"),
            Crs::Crs84
        );
        assert_eq!(
            crs("<http://www.opengis.net/def/crs/OGC/0/CRS84> POINT (1 2)"),
            Crs::Crs84
        );
        assert_eq!(
            crs("<http://www.opengis.net/def/crs/EPSG/0/4326> POINT (1 2)"),
            Crs::Epsg(4326)
        );
        assert_eq!(
            crs("  <http://www.opengis.net/def/crs/EPSG/9.9.1/31370>\nPOLYGON ((0 0, 1 0, 1 1, 0 0))"),
            Crs::Epsg(31370)
        );
        assert_eq!(
            crs("<http://example.org/crs/7> POINT (1 2)"),
            Crs::Other("http://example.org/crs/7".into())
        );
        assert_eq!(
            crs("<http://www.opengis.net/def/crs/EPSG/0/43x6> POINT (1 2)"),
            Crs::Other("http://www.opengis.net/def/crs/EPSG/0/43x6".into())
        );
        assert_eq!(
            crs("<http://www.opengis.net/def/crs/EPSG/0/99999999999> POINT (1 2)"),
            Crs::Other("http://www.opengis.net/def/crs/EPSG/0/99999999999".into())
        );
        assert_eq!(crs("SRID=4326;POINT (1 2)"), Crs::Crs84);
        assert_eq!(crs("srid=31370; POINT (1 2)"), Crs::Epsg(31370));
        assert_eq!(
            err("SRID=;POINT (1 2)"),
            WktError::Expected(5, "an SRID number")
        );
        assert_eq!(
            err("SRID=4326 POINT (1 2)"),
            WktError::Expected(10, "';' after the SRID")
        );
        assert_eq!(
            err("<http://x POINT (1 2)"),
            WktError::Expected(21, "'>' closing the CRS IRI")
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(err(""), WktError::Expected(0, "a geometry type"));
        assert_eq!(err("   "), WktError::Expected(3, "a geometry type"));
        assert_eq!(err("CIRCLE (1 2)"), WktError::UnknownType(0));
        assert_eq!(err("POINTX (1 2)"), WktError::UnknownType(0));
        assert_eq!(err("POINT (1 2) x"), WktError::Trailing(12));
        assert_eq!(err("POINT (1 2))"), WktError::Trailing(11));
        assert_eq!(err("POINT (1 2"), WktError::Expected(10, "')'"));
        assert_eq!(err("POINT (1)"), WktError::Expected(8, "a number"));
        assert_eq!(err("POINT (1,2)"), WktError::Expected(8, "a number"));
        assert_eq!(err("POINT (1 2,)"), WktError::Expected(10, "')'"));
        assert_eq!(err("POINT Z (1 2)"), WktError::Expected(12, "a number"));
        assert_eq!(err("POINT (1 2 3 4 5)"), WktError::Expected(15, "')'"));
        assert_eq!(err("POINT (1-2 3)"), WktError::Expected(7, "a number"));
        assert_eq!(err("POINT (1e 3)"), WktError::Expected(7, "a number"));
        assert_eq!(err("POINT (1 2 x)"), WktError::Expected(11, "a number"));
        assert_eq!(
            err("POINT 1 2"),
            WktError::Expected(6, "'(', EMPTY or a Z/M/ZM tag")
        );
        assert_eq!(err("POINT Z 1 2"), WktError::Expected(8, "'(' or EMPTY"));
        assert_eq!(err("LINESTRING (1 2)"), WktError::ShortLineString(11));
        assert_eq!(
            err("LINESTRING ((1 2, 3 4))"),
            WktError::Expected(12, "a number")
        );
        assert_eq!(err("POLYGON ((0 0, 1 0, 0 0))"), WktError::ShortRing(9));
        assert_eq!(err("POLYGON ((0 0, 1 0, 1 1, 0 1))"), WktError::OpenRing(9));
        assert_eq!(
            err("POLYGON ((0 0, 1 0, 1 1, 0 0), (0 0, 1 0, 1 1, 0 1))"),
            WktError::OpenRing(31)
        );
        assert_eq!(
            err("POLYGON (0 0, 1 0, 1 1, 0 0)"),
            WktError::Expected(9, "'(' opening a ring")
        );
        assert_eq!(
            err("MULTILINESTRING ((1 2, 3 4), (5 6))"),
            WktError::ShortLineString(29)
        );
        assert_eq!(
            err("MULTIPOINT (1 2, FOO)"),
            WktError::Expected(17, "a point")
        );
        assert_eq!(
            err("GEOMETRYCOLLECTION (POINT (1 2),)"),
            WktError::Expected(32, "a geometry type")
        );
    }

    #[test]
    fn rejects_non_finite() {
        assert_eq!(err("POINT (nan 2)"), WktError::NotFinite(7));
        assert_eq!(err("POINT (1 -inf)"), WktError::NotFinite(9));
        assert_eq!(err("POINT (1 Infinity)"), WktError::NotFinite(9));
        assert_eq!(err("POINT (1e999 2)"), WktError::NotFinite(7));
        assert_eq!(err("POINT (1 2 NaN)"), WktError::NotFinite(11));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            err("POINT (1 2, 3)").to_string(),
            "invalid WKT at byte 10: expected ')'"
        );
        assert_eq!(
            err("POINT (1 2) 17").to_string(),
            "invalid WKT at byte 12: unexpected text after the geometry"
        );
    }

    #[test]
    fn fast_numbers_equal_str_parse() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let mut fast = 0;
        for _ in 0..200_000 {
            let mut t = String::new();
            match rng.index(3) {
                0 => t.push('-'),
                1 => t.push('+'),
                _ => {}
            }
            let (int, frac) = (rng.index(8), rng.index(24));
            for _ in 0..int {
                t.push(char::from(b'0' + rng.index(10) as u8));
            }
            if rng.index(8) != 0 {
                t.push('.');
            }
            for _ in 0..frac {
                t.push(char::from(b'0' + rng.index(10) as u8));
            }
            let want = t.parse::<f64>().ok();
            if let Some(v) = fast_decimal(t.as_bytes()) {
                fast += 1;
                assert_eq!(Some(v.to_bits()), want.map(f64::to_bits), "{t}");
            }
        }
        assert!(fast > 50_000, "{fast}");
        for t in [
            "",
            ".",
            "-",
            "+.",
            "1..2",
            "1-2",
            "1e5",
            "--1",
            "9007199254740993",
        ] {
            assert_eq!(fast_decimal(t.as_bytes()), None, "{t}");
        }
        assert_eq!(
            fast_decimal(b"-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(fast_decimal(b"9007199254740992"), Some(9007199254740992.0));
    }

    #[test]
    fn nesting_limit() {
        let nested = |n: usize| {
            format!(
                "{}POINT (1 2){}",
                "GEOMETRYCOLLECTION (".repeat(n),
                ")".repeat(n)
            )
        };
        assert!(parse_wkt(&nested(MAX_DEPTH)).is_ok());
        assert!(matches!(
            parse_wkt(&nested(MAX_DEPTH + 1)),
            Err(WktError::TooDeep(_))
        ));
        // Deep hostile input fails fast instead of overflowing the stack.
        assert!(parse_wkt(&nested(100_000)).is_err());
    }

    #[test]
    fn never_panics_on_mutations_and_truncations() {
        let seeds = [
            "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON ((5.48 50.96, 5.48 50.95, 5.47 50.95, 5.48 50.96), (1 2, 3 4, 5 6, 1 2))",
            "SRID=4326;MULTIPOINT Z ((1 2 3), (4 5 6))",
            "GEOMETRYCOLLECTION (POINT (1 2), MULTILINESTRING ((1 2, 3 4), EMPTY), MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0))))",
            "LINESTRING (1e-3 .5, -5. +7E2, 3 4)",
            "pointé (1 2) ü",
        ];
        let alphabet: &[u8] = b"()<>,;.+-eE0123456789 \n\tZMPOINTEMPTYSRID=\xc3\xa9";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for seed in seeds {
            // Every prefix and suffix (valid UTF-8 only, as `&str` guarantees).
            for i in 0..=seed.len() {
                if let (Some(a), Some(b)) = (seed.get(..i), seed.get(i..)) {
                    let _ = parse_wkt(a);
                    let _ = parse_wkt(b);
                }
            }
            for _ in 0..20_000 {
                let mut bytes = seed.as_bytes().to_vec();
                for _ in 0..1 + rng.index(4) {
                    let at = rng.index(bytes.len() + 1);
                    match rng.index(3) {
                        0 if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        1 if at < bytes.len() => bytes[at] = alphabet[rng.index(alphabet.len())],
                        _ => bytes.insert(at, alphabet[rng.index(alphabet.len())]),
                    }
                }
                if let Ok(s) = std::str::from_utf8(&bytes) {
                    let _ = parse_wkt(s);
                }
            }
        }
    }
}
