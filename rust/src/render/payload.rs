//! Member descriptions: a strict N-Triples line parser that borrows its terms from the input,
//! and the IRI check for the IRIs a caller passes in.
//!
//! Terms keep their N-Triples spelling (escapes included) so the Turtle and N-Triples writers
//! can copy them; only JSON-LD decodes them (`decode_escape`).

use memchr::{memchr, memchr3};

use super::{Lex, Tag, Term, Triple};

/// Characters never allowed in an IRI reference as written between `<` and `>`, as a table
/// (the backslash too: it starts an escape, handled apart).
const IRI_FORBIDDEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b <= 0x20
            || matches!(
                b as u8,
                b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'^' | b'`' | b'\\'
            );
        b += 1;
    }
    t
};

fn forbidden_in_iri(b: u8) -> bool {
    IRI_FORBIDDEN[b as usize]
}

/// The offset of the first byte of `s` that is at most `ctl` or one of `set`: where a run of
/// bytes to copy as they are ends. Sixteen bytes at a time.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn first_special<const N: usize>(s: &[u8], ctl: u8, set: [u8; N]) -> Option<usize> {
    use std::arch::x86_64::*;
    let mut i = 0;
    while i + 16 <= s.len() {
        // SAFETY: the 16 bytes at `i` are in `s`; SSE2 is part of x86_64.
        let mask = unsafe {
            let v = _mm_loadu_si128(s.as_ptr().add(i).cast());
            let mut m = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(ctl as i8)), v);
            for c in set {
                m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)));
            }
            _mm_movemask_epi8(m) as u32
        };
        if mask != 0 {
            return Some(i + mask.trailing_zeros() as usize);
        }
        i += 16;
    }
    s[i..]
        .iter()
        .position(|b| *b <= ctl || set.contains(b))
        .map(|k| i + k)
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn first_special<const N: usize>(s: &[u8], ctl: u8, set: [u8; N]) -> Option<usize> {
    s.iter().position(|b| *b <= ctl || set.contains(b))
}

/// The offset of the first byte of `s` forbidden in an IRI (`>` and `\\` included): where a
/// plain IRI ends, or where the byte-by-byte scan must take over.
fn iri_stop(s: &[u8]) -> Option<usize> {
    first_special(s, 0x20, *b"<>\"{}|^`\\")
}

/// Is `s` an absolute IRI that can be written as `<s>` without escapes?
pub(crate) fn check_iri(s: &str) -> Result<(), &'static str> {
    check_scheme(s)?;
    if iri_stop(s.as_bytes()).is_some() {
        return Err("it holds a space, a control character or one of <>\"{}|^`\\");
    }
    Ok(())
}

fn check_scheme(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return Err("it does not start with a scheme"),
    }
    for &c in &b[1..] {
        match c {
            b':' => return Ok(()),
            c if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.') => {}
            _ => break,
        }
    }
    Err("it does not start with a scheme")
}

struct Line<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Why a payload line is not N-Triples: what was expected or found, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at column {column}")]
pub(super) struct SyntaxError {
    what: &'static str,
    /// 1-based.
    column: usize,
}

type Res<T> = Result<T, SyntaxError>;

impl<'a> Line<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    /// Is the next byte one space, followed by no other blank?
    fn one_space(&self) -> bool {
        self.b.get(self.i) == Some(&b' ') && !matches!(self.b.get(self.i + 1), Some(b' ' | b'\t'))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn err<T>(&self, what: &'static str) -> Res<T> {
        Err(SyntaxError {
            what,
            column: self.i + 1,
        })
    }

    fn hex(&mut self, n: usize) -> Res<()> {
        let end = self.i + n;
        if end > self.b.len() || !self.b[self.i..end].iter().all(u8::is_ascii_hexdigit) {
            return self.err(if n == 4 {
                "expected 4 hex digits after \\u / \\U"
            } else {
                "expected 8 hex digits after \\u / \\U"
            });
        }
        let code = u32::from_str_radix(&self.s[self.i..end], 16).unwrap_or(u32::MAX);
        if char::from_u32(code).is_none() {
            return self.err("escape of an invalid code point");
        }
        self.i = end;
        Ok(())
    }

    /// After a backslash: `\uXXXX` or `\UXXXXXXXX` (shared by IRIs and literals); false when
    /// the byte there starts neither, for the caller to report.
    fn uchar(&mut self) -> Res<bool> {
        let n = match self.peek() {
            Some(b'u') => 4,
            Some(b'U') => 8,
            _ => return Ok(false),
        };
        self.i += 1;
        self.hex(n)?;
        Ok(true)
    }

    /// `<…>`: returns the text between the brackets.
    fn iri(&mut self) -> Res<&'a str> {
        // Fast path: the first `>` ends an IRI without escapes or forbidden characters.
        let start = self.i + 1;
        if let Some(len) = iri_stop(&self.b[start..]) {
            let end = start + len;
            let iri = &self.s[start..end];
            if self.b[end] == b'>'
                && (iri.starts_with("http:")
                    || iri.starts_with("https:")
                    || check_scheme(iri).is_ok())
            {
                self.i = end + 1;
                return Ok(iri);
            }
        }
        self.iri_escaped()
    }

    /// `iri` byte by byte: escapes, and the exact column of an error.
    fn iri_escaped(&mut self) -> Res<&'a str> {
        let start = self.i + 1;
        self.i = start;
        while let Some(c) = self.peek() {
            match c {
                b'>' => {
                    let iri = &self.s[start..self.i];
                    self.i += 1;
                    if check_scheme(iri).is_err() {
                        self.i = start;
                        return self.err("relative or scheme-less IRI");
                    }
                    return Ok(iri);
                }
                b'\\' => {
                    self.i += 1;
                    if !self.uchar()? {
                        return self.err("invalid escape in IRI");
                    }
                }
                c if forbidden_in_iri(c) => return self.err("character not allowed in an IRI"),
                _ => self.i += 1,
            }
        }
        self.err("unterminated IRI")
    }

    /// `_:label`, ASCII labels only (`[A-Za-z0-9_]` then `[A-Za-z0-9_.-]`, no trailing `.`).
    fn blank(&mut self) -> Res<&'a str> {
        if self.b.get(self.i + 1) != Some(&b':') {
            return self.err("expected '_:'");
        }
        let start = self.i + 2;
        let mut end = start;
        match self.b.get(end) {
            Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => end += 1,
            _ => {
                self.i = start;
                return self.err("blank node label must start with [A-Za-z0-9_]");
            }
        }
        while end < self.b.len()
            && (self.b[end].is_ascii_alphanumeric() || matches!(self.b[end], b'_' | b'-' | b'.'))
        {
            end += 1;
        }
        while self.b[end - 1] == b'.' {
            end -= 1;
        }
        if end < self.b.len() && !matches!(self.b[end], b' ' | b'\t' | b'.' | b'<' | b'"') {
            self.i = end;
            return self.err("blank node labels are limited to ASCII [A-Za-z0-9_.-]");
        }
        self.i = end;
        Ok(&self.s[start..end])
    }

    fn literal(&mut self) -> Res<Term<'a>> {
        let start = self.i + 1;
        self.i = start;
        loop {
            // Jump to the next quote, backslash or carriage return (the only bytes that matter).
            match memchr3(b'"', b'\\', b'\r', &self.b[self.i..]) {
                Some(k) => self.i += k,
                None => self.i = self.b.len(),
            }
            match self.peek() {
                None => return self.err("unterminated literal"),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b't' | b'b' | b'n' | b'r' | b'f' | b'"' | b'\'' | b'\\') => {
                            self.i += 1
                        }
                        _ if self.uchar()? => {}
                        _ => return self.err("invalid escape in literal"),
                    }
                }
                Some(_) => return self.err("raw carriage return in literal"),
            }
        }
        let lex = &self.s[start..self.i];
        self.i += 1;
        let tag = match self.peek() {
            Some(b'@') => {
                self.i += 1;
                let ls = self.i;
                while self.i < self.b.len()
                    && (self.b[self.i].is_ascii_alphanumeric() || self.b[self.i] == b'-')
                {
                    self.i += 1;
                }
                let lang = &self.s[ls..self.i];
                let mut parts = lang.split('-');
                let first_ok = parts
                    .next()
                    .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphabetic()));
                if !first_ok || parts.any(str::is_empty) {
                    return self.err("invalid language tag");
                }
                Tag::Lang(lang)
            }
            Some(b'^') => {
                if self.b.get(self.i + 1) != Some(&b'^') || self.b.get(self.i + 2) != Some(&b'<') {
                    return self.err("expected ^^<datatype>");
                }
                self.i += 2;
                Tag::Datatype(self.iri()?)
            }
            _ => Tag::None,
        };
        Ok(Term::Literal(Lex::Escaped(lex), tag))
    }

    fn subject(&mut self, member: u32) -> Res<Term<'a>> {
        match self.peek() {
            Some(b'<') => Ok(Term::Iri(self.iri()?)),
            Some(b'_') => Ok(Term::Blank(member, self.blank()?)),
            _ => self.err("expected a subject (<IRI> or _:label)"),
        }
    }

    fn object(&mut self, member: u32) -> Res<Term<'a>> {
        match self.peek() {
            Some(b'<') => Ok(Term::Iri(self.iri()?)),
            Some(b'_') => Ok(Term::Blank(member, self.blank()?)),
            Some(b'"') => self.literal(),
            _ => self.err("expected an object (<IRI>, _:label or \"literal\")"),
        }
    }
}

/// Parses N-Triples lines, handing each triple to `f` with its line when that line is already
/// the triple's canonical N-Triples (`s p o .`, single spaces, no blank node: it can be copied
/// as it is). Blank nodes are tagged with the member's position. Errors carry the 1-based
/// line number.
pub(super) fn parse_each<'a>(
    payload: &'a str,
    member: u32,
    mut f: impl FnMut(Triple<'a>, Option<&'a str>),
) -> Result<(), (usize, SyntaxError)> {
    let bytes = payload.as_bytes();
    let mut start = 0;
    let mut n = 1;
    loop {
        let end = memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |k| start + k);
        let line = &payload[start..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some((t, canonical)) = parse_line(line, member).map_err(|e| (n, e))? {
            f(t, canonical.then_some(line));
        }
        if end == bytes.len() {
            return Ok(());
        }
        start = end + 1;
        n += 1;
    }
}

/// One line: its triple (if any) and whether the line is the triple's canonical spelling.
fn parse_line(line: &str, member: u32) -> Res<Option<(Triple<'_>, bool)>> {
    let mut c = Line {
        s: line,
        b: line.as_bytes(),
        i: 0,
    };
    c.ws();
    if matches!(c.peek(), None | Some(b'#')) {
        return Ok(None);
    }
    let mut canonical = c.i == 0;
    let s = c.subject(member)?;
    canonical &= c.one_space();
    c.ws();
    if c.peek() != Some(b'<') {
        return c.err("expected a predicate IRI");
    }
    let p = c.iri()?;
    canonical &= c.one_space();
    c.ws();
    let o = c.object(member)?;
    canonical &= c.one_space();
    c.ws();
    if c.peek() != Some(b'.') {
        return c.err("expected '.' (one triple per line; no graph name)");
    }
    c.i += 1;
    canonical &= c.i == c.b.len();
    c.ws();
    if !matches!(c.peek(), None | Some(b'#')) {
        return c.err("unexpected text after '.'");
    }
    canonical &= !matches!(s, Term::Blank(..)) && !matches!(o, Term::Blank(..));
    Ok(Some((Triple { s, p, o }, canonical)))
}

/// Decodes the N-Triples escape at the start of `s` (a checked term): the character and the
/// escape's length.
pub(super) fn decode_escape(s: &[u8]) -> (char, usize) {
    let hex = |n: usize| {
        s.get(2..2 + n)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .map_or(('\u{FFFD}', 2), |c| (c, 2 + n))
    };
    match s.get(1) {
        Some(b't') => ('\t', 2),
        Some(b'b') => ('\u{8}', 2),
        Some(b'n') => ('\n', 2),
        Some(b'r') => ('\r', 2),
        Some(b'f') => ('\u{c}', 2),
        Some(b'u') => hex(4),
        Some(b'U') => hex(8),
        Some(&c) if c.is_ascii() => (c as char, 2),
        _ => ('\\', 1),
    }
}
