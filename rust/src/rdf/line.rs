//! A strict parser for the common forms of one N-Triples/N-Quads line, ahead of oxttl.
//!
//! Dumps are mostly lines like `<s> <p> "v"^^<d> .`: absolute IRIs without escapes, plain blank
//! node labels, literals without escapes. Such a line is read here in one pass with no token
//! machinery; anything else (escapes, relative IRIs, two statements on a line, a syntax error,
//! invalid UTF-8) returns `None` and goes to oxttl, which stays the judge of what the line means
//! and of its error message. The differential tests hold the two to the same quads.

use oxrdf::{BlankNode, GraphName, Literal, NamedNode, NamedOrBlankNode, Quad, Term};

/// The quad on `line` (its `\n` or `\r\n` included or not), when the line has one of the forms
/// read here; `graphs`: whether a graph name may follow the object (N-Quads).
pub(super) fn parse(line: &[u8], graphs: bool) -> Option<Quad> {
    let text = std::str::from_utf8(line).ok()?;
    let mut c = Cursor { text, pos: 0 };
    c.space();
    let subject: NamedOrBlankNode = match c.peek()? {
        b'<' => c.iri()?.into(),
        b'_' => c.blank()?.into(),
        _ => return None,
    };
    c.space();
    if c.peek()? != b'<' {
        return None;
    }
    let predicate = c.iri()?;
    c.space();
    let object: Term = match c.peek()? {
        b'<' => c.iri()?.into(),
        b'_' => c.blank()?.into(),
        b'"' => c.literal()?.into(),
        _ => return None,
    };
    c.space();
    let graph = match c.peek()? {
        b'<' if graphs => c.iri()?.into(),
        b'_' if graphs => c.blank()?.into(),
        _ => GraphName::DefaultGraph,
    };
    c.space();
    if c.peek()? != b'.' {
        return None;
    }
    c.pos += 1;
    c.space();
    match c.peek() {
        None | Some(b'\n' | b'\r' | b'#') => {}
        Some(_) => return None, // another statement, or garbage: oxttl decides
    }
    // A comment may hold anything but a line end; oxttl would read on after an inner `\r`.
    let rest = &c.text.as_bytes()[c.pos..];
    let end = rest
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .unwrap_or(rest.len());
    match &rest[end..] {
        b"" | b"\n" | b"\r\n" => {}
        _ => return None,
    }
    Some(Quad::new(subject, predicate, object, graph))
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().first().copied()
    }

    fn space(&mut self) {
        self.pos += self
            .bytes()
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
    }

    /// `<iri>`: absolute (a scheme first), every character allowed unescaped in an IRIREF.
    fn iri(&mut self) -> Option<NamedNode> {
        let b = &self.bytes()[1..];
        let len = b.iter().position(|&c| !IRI_CHAR[c as usize])?;
        if b[len] != b'>' {
            return None;
        }
        let iri = &b[..len];
        if !iri.is_ascii()
            && self.text[self.pos + 1..self.pos + 1 + len].contains(char::is_whitespace)
        {
            return None; // a Unicode space: oxttl reads it, and the reader marks it invalid
        }
        let scheme = iri.iter().position(|&c| c == b':')?;
        let scheme_ok = scheme > 0
            && iri[0].is_ascii_alphabetic()
            && iri[1..scheme]
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return None;
        }
        let start = self.pos + 1;
        self.pos += len + 2;
        Some(NamedNode::new_unchecked(&self.text[start..start + len]))
    }

    /// `_:label` of ASCII letters, digits, `_` and `-` (not first), ended by a space, a tab,
    /// `<`, `"` or `.` (which is then the statement's end, never part of the label).
    fn blank(&mut self) -> Option<BlankNode> {
        let b = self.bytes();
        if b.get(1) != Some(&b':') {
            return None;
        }
        let label = &b[2..];
        let len = label
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
            .unwrap_or(label.len());
        if len == 0 || label[0] == b'-' {
            return None;
        }
        match label.get(len) {
            Some(b' ' | b'\t' | b'<' | b'.') => {}
            _ => return None,
        }
        if label.get(len) == Some(&b'.') && label.get(len + 1).is_some_and(|&c| !is_end(c)) {
            return None; // `_:a.b`: a dot inside a label
        }
        let start = self.pos + 2;
        self.pos += 2 + len;
        Some(BlankNode::new_unchecked(&self.text[start..start + len]))
    }

    /// `"value"`, `"value"@lang` or `"value"^^<datatype>`, the value without escapes.
    fn literal(&mut self) -> Option<Literal> {
        let b = self.bytes();
        let len = b[1..]
            .iter()
            .position(|&c| matches!(c, b'"' | b'\\' | b'\n' | b'\r'))?;
        if b[1 + len] != b'"' {
            return None;
        }
        let start = self.pos + 1;
        let value = &self.text[start..start + len];
        self.pos += len + 2;
        match self.peek() {
            Some(b'@') => {
                let tag = &self.bytes()[1..];
                let mut n = 0;
                let mut first = true;
                loop {
                    let part = tag[n..]
                        .iter()
                        .take_while(|c| {
                            if first {
                                c.is_ascii_alphabetic()
                            } else {
                                c.is_ascii_alphanumeric()
                            }
                        })
                        .count();
                    if part == 0 {
                        return None;
                    }
                    n += part;
                    first = false;
                    if tag.get(n) == Some(&b'-') {
                        n += 1;
                    } else {
                        break;
                    }
                }
                match tag.get(n) {
                    None | Some(b' ' | b'\t' | b'.' | b'<' | b'_' | b'\n' | b'\r') => {}
                    _ => return None,
                }
                let language = self.text[self.pos + 1..self.pos + 1 + n].to_ascii_lowercase();
                self.pos += 1 + n;
                Some(Literal::new_language_tagged_literal_unchecked(
                    value, language,
                ))
            }
            Some(b'^') => {
                if self.bytes().get(1) != Some(&b'^') {
                    return None;
                }
                self.pos += 2;
                if self.peek()? != b'<' {
                    return None;
                }
                let datatype = self.iri()?;
                Some(Literal::new_typed_literal(value, datatype))
            }
            _ => Some(Literal::new_simple_literal(value)),
        }
    }
}

/// The bytes an IRIREF holds unescaped (UTF-8 beyond ASCII included).
static IRI_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x21;
    while c < 256 {
        t[c] = !matches!(
            c as u8,
            b'<' | b'>' | b'"' | b'{' | b'}' | b'|' | b'^' | b'`' | b'\\'
        );
        c += 1;
    }
    t
};

fn is_end(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'#')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use oxttl::{NQuadsParser, NTriplesParser};

    /// What oxttl (lenient, as the reader runs it) reads on one line: its quads, or an error.
    fn oxttl(line: &[u8], graphs: bool) -> Result<Vec<Quad>, ()> {
        if graphs {
            NQuadsParser::new()
                .lenient()
                .for_slice(line)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ())
        } else {
            NTriplesParser::new()
                .lenient()
                .for_slice(line)
                .map(|r| r.map(|t| t.in_graph(GraphName::DefaultGraph)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ())
        }
    }

    /// The fast path answers only where oxttl reads exactly one quad, and then the same one.
    fn check(line: &str) -> bool {
        let mut taken = false;
        for graphs in [false, true] {
            if let Some(q) = parse(line.as_bytes(), graphs) {
                assert_eq!(oxttl(line.as_bytes(), graphs), Ok(vec![q]), "{line:?}");
                taken = true;
            }
        }
        taken
    }

    #[test]
    fn common_lines_are_read_as_oxttl_reads_them() {
        let lines = [
            "<http://e/s> <http://e/p> <http://e/o> .",
            "<http://e/s> <http://e/p> <http://e/o> .\n",
            "<http://e/s> <http://e/p> <http://e/o> .\r\n",
            "  <http://e/s>\t<http://e/p>  _:b1 .  # a comment\n",
            "_:b-1_x <http://e/p> \"v\" .",
            "_:b <http://e/p> \"v\"@en-GB .",
            "_:b <http://e/p> \"v\"@EN .",
            "<http://e/s> <http://e/p> \"12\"^^<http://www.w3.org/2001/XMLSchema#integer> .",
            "<http://e/s> <http://e/p> \"s\"^^<http://www.w3.org/2001/XMLSchema#string> .",
            "<http://e/s> <http://e/p> \"é ∀ 😀\" .",
            "<http://e/s> <http://e/p> \"\" .",
            "<http://e/s> <http://e/p> <http://e/o> <http://e/g> .",
            "<http://e/s> <http://e/p> \"v\"@nl <http://e/g> .",
            "<http://e/s> <http://e/p> \"v\"^^<http://e/d> _:g .",
            "<http://e/s><http://e/p><http://e/o>.",
            "_:a <http://e/p> _:b.",
            "<urn:x-a:b+c> <http://e/p> \"POINT (4.1 51.2)\"^^<http://www.opengis.net/ont/geosparql#wktLiteral> .",
        ];
        for l in lines {
            assert!(check(l), "not on the fast path: {l:?}");
        }
    }

    #[test]
    fn other_lines_go_to_oxttl() {
        let lines = [
            "<http://e/s> <http://e/p> \"a\\\"b\" .",         // escape
            "<http://e/s> <http://e/p> <http://e/\\u0041> .", // escaped IRI
            "<s> <http://e/p> <http://e/o> .",                // relative IRI
            "<http://e/s> <http://e/p> <http://e/o> . <http://e/s> <http://e/p> <http://e/o2> .",
            "<http://e/s> <http://e/p> <http://e/o>", // no dot
            "<http://e/s> <http://e/p> \"v\"^^<http://e/d> . x",
            "<http://e/s> <http://e/p> \"v\"@ .",
            "<http://e/s> <http://e/p> \"v\"@en--ltr .",
            "<http://e/s> <http://e/p> \"v .",
            "<http://e/s> <http://e/p> <http://e/a b> .",
            "_:a.b <http://e/p> <http://e/o> .",
            "<http://e/s> <http://e/p> <http://e/o> .\r# x\n",
            "",
            "# only a comment",
        ];
        for l in lines {
            for graphs in [false, true] {
                assert!(parse(l.as_bytes(), graphs).is_none(), "{l:?}");
            }
        }
        assert!(parse(b"<http://e/s> <http://e/p> \xff .", false).is_none());
    }

    /// Random lines built from the pieces of real and broken statements, mutated byte by byte:
    /// whenever the fast path answers, oxttl reads exactly that quad.
    #[test]
    fn random_and_mutated_lines_agree_with_oxttl() {
        let iris = [
            "<http://e/s>",
            "<https://ex.org/a/b#c>",
            "<s>",
            "<http://e/a b>",
            "<http://e/\\u00e9>",
        ];
        let blanks = ["_:b0", "_:x-y_z", "_:a.b", "_:-a"];
        let literals = [
            "\"v\"",
            "\"a b\"@nl-BE",
            "\"12\"^^<http://www.w3.org/2001/XMLSchema#integer>",
            "\"x\"^^<http://www.w3.org/1999/02/22-rdf-syntax-ns#langString>",
            "\"q\\\"\"",
            "\"\"",
            "\"é\"@EN",
            "\"2023-01-01T00:00:00Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime>",
        ];
        let seps = [" ", "\t", "  ", ""];
        let ends = [" .", ".", " . # c", " .\r\n", " .\n", " . .", ""];
        let mut rng = Rng(0x11e5);
        let mut pick = |from: &[&[&'static str]]| {
            let kind = from[rng.index(from.len())];
            kind[rng.index(kind.len())]
        };
        let mut lines = Vec::new();
        for _ in 0..20_000 {
            let mut terms = vec![
                pick(&[&iris, &blanks]),
                pick(&[&iris]),
                pick(&[&iris, &blanks, &literals]),
            ];
            if lines.len() % 3 == 0 {
                terms.push(pick(&[&iris, &blanks, &literals]));
            }
            lines.push(terms);
        }
        let mut taken = 0;
        for (k, terms) in lines.iter().enumerate() {
            let mut line = String::new();
            for (j, t) in terms.iter().enumerate() {
                if j > 0 {
                    line.push_str(seps[rng.index(seps.len())]);
                }
                line.push_str(t);
            }
            line.push_str(ends[k % ends.len()]);
            let mut bytes = line.into_bytes();
            if rng.index(3) == 0 {
                let i = rng.index(bytes.len());
                let noise = b" .<>\"_:@^#\\\r\nAz9-";
                bytes[i] = noise[rng.index(noise.len())];
            }
            let line = String::from_utf8_lossy(&bytes).into_owned();
            if check(&line) {
                taken += 1;
            }
        }
        assert!(taken > 500, "the fast path took only {taken} lines");
    }
}
