//! JSON-LD in expanded form: no context to resolve, so any processor reads the same graph.
//!
//! Each run of statements about one subject is one node object (a subject may appear in
//! several; JSON-LD merges them). Relations and strategies are embedded node objects, the
//! strategy list an `@list`. Lexical forms are written as strings with their `@type`, so
//! they round-trip exactly.

use super::payload::unescape;
use super::{write_blank_label, Graph, Lex, Tag, Term};

pub(super) fn write(g: &Graph<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"[");
    let triples = &g.triples;
    let mut i = 0;
    let mut first = true;
    while i < triples.len() {
        let s = triples[i].s;
        let mut j = i;
        while j < triples.len() && triples[j].s == s {
            j += 1;
        }
        out.extend_from_slice(if first { b"\n  {" } else { b",\n  {" });
        first = false;
        out.extend_from_slice(b"\"@id\": ");
        id(out, s);
        let pairs: Vec<(&str, Term<'_>)> = triples[i..j].iter().map(|t| (t.p, t.o)).collect();
        properties(g, out, &pairs, true);
        out.push(b'}');
        i = j;
    }
    out.extend_from_slice(b"\n]\n");
}

/// Writes `"p": [values], …`, grouping the values of each predicate (keys must be unique).
fn properties(g: &Graph<'_>, out: &mut Vec<u8>, pairs: &[(&str, Term<'_>)], after_id: bool) {
    let mut seen: Vec<&str> = Vec::new();
    for (k, &(p, _)) in pairs.iter().enumerate() {
        if seen.contains(&p) {
            continue;
        }
        seen.push(p);
        if after_id || seen.len() > 1 {
            out.extend_from_slice(b", ");
        }
        string(out, &unescape(p));
        out.extend_from_slice(b": [");
        let mut first = true;
        for &(q, o) in &pairs[k..] {
            if q == p {
                if !first {
                    out.extend_from_slice(b", ");
                }
                first = false;
                value(g, out, o);
            }
        }
        out.push(b']');
    }
}

fn id(out: &mut Vec<u8>, t: Term<'_>) {
    match t {
        Term::Iri(s) => string(out, &unescape(s)),
        _ => {
            let mut label = Vec::new();
            write_blank_label(&mut label, t, 0);
            out.push(b'"');
            out.extend_from_slice(&label);
            out.push(b'"');
        }
    }
}

fn value(g: &Graph<'_>, out: &mut Vec<u8>, t: Term<'_>) {
    match t {
        Term::Iri(_) | Term::Blank(..) => {
            out.extend_from_slice(b"{\"@id\": ");
            id(out, t);
            out.push(b'}');
        }
        Term::Inline(i) => {
            out.push(b'{');
            properties(g, out, &g.inlines[i as usize], false);
            out.push(b'}');
        }
        Term::List(l) => {
            out.extend_from_slice(b"{\"@list\": [");
            for (k, &item) in g.lists[l as usize].iter().enumerate() {
                if k > 0 {
                    out.extend_from_slice(b", ");
                }
                value(g, out, item);
            }
            out.extend_from_slice(b"]}");
        }
        Term::Literal(lex, tag) => {
            out.extend_from_slice(b"{\"@value\": ");
            match lex {
                Lex::Escaped(s) => string(out, &unescape(s)),
                Lex::Raw(s) => string(out, s),
                Lex::Integer(n) => string(out, &n.to_string()),
                Lex::Boolean(b) => string(out, if b { "true" } else { "false" }),
            }
            if let Tag::Lang(l) = tag {
                out.extend_from_slice(b", \"@language\": ");
                string(out, l);
            } else if let Some(dt) = t.datatype() {
                out.extend_from_slice(b", \"@type\": ");
                string(out, &unescape(dt));
            }
            out.push(b'}');
        }
    }
}

/// A JSON string.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
