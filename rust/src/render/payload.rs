//! Member descriptions: a strict N-Triples line parser that borrows its terms from the input,
//! and the IRI check for the IRIs a caller passes in.
//!
//! Terms keep their N-Triples spelling (escapes included) so the Turtle and N-Triples writers
//! can copy them; only JSON-LD decodes them (`unescape`).

use std::borrow::Cow;

use super::{Lex, Tag, Term, Triple};

/// Characters never allowed in an IRI reference as written between `<` and `>`.
fn forbidden_in_iri(b: u8) -> bool {
    b <= 0x20
        || matches!(
            b,
            b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'^' | b'`' | b'\\'
        )
}

/// Is `s` an absolute IRI that can be written as `<s>` without escapes?
pub fn check_iri(s: &str) -> Result<(), &'static str> {
    check_scheme(s)?;
    if s.bytes().any(forbidden_in_iri) {
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

type Res<T> = Result<T, String>;

impl<'a> Line<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn err<T>(&self, what: &str) -> Res<T> {
        Err(format!("{what} at column {}", self.i + 1))
    }

    fn hex(&mut self, n: usize) -> Res<()> {
        let end = self.i + n;
        if end > self.b.len() || !self.b[self.i..end].iter().all(u8::is_ascii_hexdigit) {
            return self.err(&format!("expected {n} hex digits after \\u / \\U"));
        }
        let code = u32::from_str_radix(&self.s[self.i..end], 16).unwrap_or(u32::MAX);
        if char::from_u32(code).is_none() {
            return self.err("escape of an invalid code point");
        }
        self.i = end;
        Ok(())
    }

    /// `<…>`: returns the text between the brackets.
    fn iri(&mut self) -> Res<&'a str> {
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
                    match self.peek() {
                        Some(b'u') => {
                            self.i += 1;
                            self.hex(4)?;
                        }
                        Some(b'U') => {
                            self.i += 1;
                            self.hex(8)?;
                        }
                        _ => return self.err("invalid escape in IRI"),
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
            match self.peek() {
                None => return self.err("unterminated literal"),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b't' | b'b' | b'n' | b'r' | b'f' | b'"' | b'\'' | b'\\') => {
                            self.i += 1
                        }
                        Some(b'u') => {
                            self.i += 1;
                            self.hex(4)?;
                        }
                        Some(b'U') => {
                            self.i += 1;
                            self.hex(8)?;
                        }
                        _ => return self.err("invalid escape in literal"),
                    }
                }
                Some(b'\r') => return self.err("raw carriage return in literal"),
                Some(_) => self.i += 1,
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

/// Parses N-Triples lines into `out`; blank nodes are tagged with the member's position.
/// Errors carry the 1-based line number.
pub(super) fn parse_into<'a>(
    payload: &'a str,
    member: u32,
    out: &mut Vec<Triple<'a>>,
) -> Result<(), (usize, String)> {
    for (n, line) in payload.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        parse_line(line, member, out).map_err(|e| (n + 1, e))?;
    }
    Ok(())
}

fn parse_line<'a>(line: &'a str, member: u32, out: &mut Vec<Triple<'a>>) -> Res<()> {
    let mut c = Line {
        s: line,
        b: line.as_bytes(),
        i: 0,
    };
    c.ws();
    if matches!(c.peek(), None | Some(b'#')) {
        return Ok(());
    }
    let s = c.subject(member)?;
    c.ws();
    if c.peek() != Some(b'<') {
        return c.err("expected a predicate IRI");
    }
    let p = c.iri()?;
    c.ws();
    let o = c.object(member)?;
    c.ws();
    if c.peek() != Some(b'.') {
        return c.err("expected '.' (one triple per line; no graph name)");
    }
    c.i += 1;
    c.ws();
    if !matches!(c.peek(), None | Some(b'#')) {
        return c.err("unexpected text after '.'");
    }
    out.push(Triple { s, p, o });
    Ok(())
}

/// Decodes N-Triples escapes (`\t`, `\"`, `\u00E9`, …) of a checked term.
pub(super) fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().unwrap_or('\\');
        match e {
            't' => out.push('\t'),
            'b' => out.push('\u{8}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' | 'U' => {
                let n = if e == 'u' { 4 } else { 8 };
                let hex: String = chars.by_ref().take(n).collect();
                let c = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}
