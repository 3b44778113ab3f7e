//! JSON-LD in expanded form: no context to resolve, so any processor reads the same graph.
//!
//! Each run of statements about one subject is one node object (a subject may appear in
//! several; JSON-LD merges them). Relations and strategies are embedded node objects, the
//! strategy list an `@list`. Lexical forms are written as strings with their `@type`, so
//! they round-trip exactly.

use super::payload::{decode_escape, first_special};
use super::{write_blank_label, Graph, Lex, RenderError, Tag, Term};

pub(super) fn write(g: &Graph<'_>, out: &mut Vec<u8>) -> Result<(), RenderError> {
    out.extend_from_slice(b"[");
    // The current run of statements about one subject: its (predicate, object) pairs.
    let mut subject = None;
    let mut pairs: Vec<(&str, Term<'_>)> = Vec::new();
    let mut first = true;
    let mut node = |out: &mut Vec<u8>, s, pairs: &[(&str, Term<'_>)]| {
        out.extend_from_slice(if first { b"\n  {" } else { b",\n  {" });
        first = false;
        out.extend_from_slice(b"\"@id\": ");
        id(out, s);
        properties(g, out, pairs, true);
        out.push(b'}');
    };
    g.each(|t, _| {
        if subject != Some(t.s) {
            if let Some(s) = subject {
                node(out, s, &pairs);
            }
            subject = Some(t.s);
            pairs.clear();
        }
        pairs.push((t.p, t.o));
    })?;
    if let Some(s) = subject {
        node(out, s, &pairs);
    }
    out.extend_from_slice(b"\n]\n");
    Ok(())
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
        nt_string(out, p);
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
        Term::Iri(s) => nt_string(out, s),
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
                Lex::Escaped(s) => nt_string(out, s),
                Lex::Raw(s) => string(out, s),
                Lex::Integer(n) => string(out, &n.to_string()),
                Lex::Boolean(b) => string(out, if b { "true" } else { "false" }),
            }
            if let Tag::Lang(l) = tag {
                out.extend_from_slice(b", \"@language\": ");
                string(out, l);
            } else if let Some(dt) = t.datatype() {
                out.extend_from_slice(b", \"@type\": ");
                nt_string(out, dt);
            }
            out.push(b'}');
        }
    }
}

/// A JSON string.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s.as_bytes());
    out.push(b'"');
}

/// A JSON string of a term as written in N-Triples: its escapes decoded, then escaped for JSON.
fn nt_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let b = s.as_bytes();
    let mut start = 0;
    while let Some(k) = first_special(&b[start..], 0x1f, *b"\"\\") {
        let i = start + k;
        out.extend_from_slice(&b[start..i]);
        let (c, len) = match b[i] {
            b'\\' => decode_escape(&b[i..]),
            _ => (b[i] as char, 1),
        };
        escaped(out, c.encode_utf8(&mut [0; 4]).as_bytes());
        start = i + len;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

/// Text escaped for a JSON string (without the quotes).
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    while let Some(k) = first_special(&bytes[start..], 0x1f, *b"\"\\") {
        let i = start + k;
        out.extend_from_slice(&bytes[start..i]);
        match bytes[i] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}
