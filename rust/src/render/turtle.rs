//! Turtle (and TriG: the same statements in the default graph, `{ … }`).
//!
//! Consecutive statements about one subject share it (`;`, `,`); relations and fragmentation
//! strategies are written as `[ … ]`, the strategy list as `( … )`.

use super::{
    write_blank_label, write_quoted, Graph, Lex, RenderError, Tag, Term, DCT, GEO, LDES, PROV, RDF,
    RDF_TYPE, TREE, XSD,
};

const PREFIXES: [(&str, &str); 7] = [
    ("tree", TREE),
    ("ldes", LDES),
    ("dct", DCT),
    ("xsd", XSD),
    ("rdf", RDF),
    ("geo", GEO),
    ("prov", PROV),
];

const INDENT: &[u8] = b"    ";

pub(super) fn write(g: &Graph<'_>, out: &mut Vec<u8>, trig: bool) -> Result<(), RenderError> {
    for (p, ns) in PREFIXES {
        out.extend_from_slice(b"@prefix ");
        out.extend_from_slice(p.as_bytes());
        out.extend_from_slice(b": <");
        out.extend_from_slice(ns.as_bytes());
        out.extend_from_slice(b"> .\n");
    }
    out.push(b'\n');
    if trig {
        out.extend_from_slice(b"{\n");
    }
    let mut prev: Option<(Term<'_>, &str)> = None;
    g.each(|t, _| {
        match prev {
            Some((s, p)) if s == t.s && p == t.p => {
                out.extend_from_slice(b",\n");
                indent(out, 2);
            }
            Some((s, _)) if s == t.s => {
                out.extend_from_slice(b" ;\n");
                indent(out, 1);
                predicate(out, t.p);
                out.push(b' ');
            }
            other => {
                if other.is_some() {
                    out.extend_from_slice(b" .\n\n");
                }
                term(g, out, t.s, 0);
                out.push(b' ');
                predicate(out, t.p);
                out.push(b' ');
            }
        }
        term(g, out, t.o, 1);
        prev = Some((t.s, t.p));
    })?;
    if prev.is_some() {
        out.extend_from_slice(b" .\n");
    }
    if trig {
        out.extend_from_slice(b"}\n");
    }
    Ok(())
}

fn indent(out: &mut Vec<u8>, depth: usize) {
    for _ in 0..depth {
        out.extend_from_slice(INDENT);
    }
}

/// A prefixed name's local part that needs no escaping.
fn plain_local(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

fn iri(out: &mut Vec<u8>, s: &str) {
    for (prefix, ns) in PREFIXES {
        // Most IRIs are in no namespace: the byte before the local part rejects them cheaply.
        if s.as_bytes().get(ns.len() - 1) != ns.as_bytes().last() {
            continue;
        }
        if let Some(local) = s.strip_prefix(ns) {
            if plain_local(local) {
                out.extend_from_slice(prefix.as_bytes());
                out.push(b':');
                out.extend_from_slice(local.as_bytes());
                return;
            }
        }
    }
    out.push(b'<');
    out.extend_from_slice(s.as_bytes());
    out.push(b'>');
}

fn predicate(out: &mut Vec<u8>, p: &str) {
    if p == RDF_TYPE {
        out.push(b'a');
    } else {
        iri(out, p);
    }
}

/// A term; `depth` is the indentation of the statement it is the object of.
fn term<'a>(g: &Graph<'a>, out: &mut Vec<u8>, t: Term<'a>, depth: usize) {
    match t {
        Term::Iri(s) => iri(out, s),
        Term::Blank(..) => write_blank_label(out, t, 0),
        Term::Inline(i) => {
            out.extend_from_slice(b"[\n");
            for (k, &(p, o)) in g.inlines[i as usize].iter().enumerate() {
                if k > 0 {
                    out.extend_from_slice(b" ;\n");
                }
                indent(out, depth + 1);
                predicate(out, p);
                out.push(b' ');
                term(g, out, o, depth + 1);
            }
            out.push(b'\n');
            indent(out, depth);
            out.push(b']');
        }
        Term::List(l) => {
            out.push(b'(');
            for &item in &g.lists[l as usize] {
                out.push(b' ');
                term(g, out, item, depth);
            }
            out.extend_from_slice(b" )");
        }
        Term::Literal(Lex::Integer(n), _) => out.extend_from_slice(n.to_string().as_bytes()),
        Term::Literal(Lex::Boolean(b), _) => {
            out.extend_from_slice(if b { b"true" } else { b"false" })
        }
        Term::Literal(lex, tag) => {
            write_quoted(out, lex);
            match tag {
                Tag::Lang(l) => {
                    out.push(b'@');
                    out.extend_from_slice(l.as_bytes());
                }
                Tag::Datatype(dt) => {
                    out.extend_from_slice(b"^^");
                    iri(out, dt);
                }
                Tag::None => {}
            }
        }
    }
}
