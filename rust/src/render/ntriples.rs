//! N-Triples (and N-Quads in the default graph, the same lines).

use super::{
    write_blank_label, write_quoted, Graph, Lex, RenderError, Tag, Term, RDF_FIRST, RDF_NIL,
    RDF_REST, XSD_BOOLEAN, XSD_INTEGER,
};

pub(super) fn write(g: &Graph<'_>, out: &mut Vec<u8>) -> Result<(), RenderError> {
    g.each(|t, line| match line {
        Some(line) => {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        None => triple(g, out, t.s, t.p, t.o),
    })
}

fn iri(out: &mut Vec<u8>, iri: &str) {
    out.push(b'<');
    out.extend_from_slice(iri.as_bytes());
    out.push(b'>');
}

fn term(out: &mut Vec<u8>, t: Term<'_>) {
    match t {
        Term::Iri(s) => iri(out, s),
        Term::Blank(..) | Term::Inline(_) | Term::List(_) => write_blank_label(out, t, 0),
        Term::Literal(lex, tag) => {
            write_quoted(out, lex);
            match (lex, tag) {
                (Lex::Integer(_), _) => {
                    out.extend_from_slice(b"^^");
                    iri(out, XSD_INTEGER);
                }
                (Lex::Boolean(_), _) => {
                    out.extend_from_slice(b"^^");
                    iri(out, XSD_BOOLEAN);
                }
                (_, Tag::Lang(l)) => {
                    out.push(b'@');
                    out.extend_from_slice(l.as_bytes());
                }
                (_, Tag::Datatype(dt)) => {
                    out.extend_from_slice(b"^^");
                    iri(out, dt);
                }
                (_, Tag::None) => {}
            }
        }
    }
}

fn line(out: &mut Vec<u8>, s: impl FnOnce(&mut Vec<u8>), p: &str, o: impl FnOnce(&mut Vec<u8>)) {
    s(out);
    out.push(b' ');
    iri(out, p);
    out.push(b' ');
    o(out);
    out.extend_from_slice(b" .\n");
}

/// One triple, then the triples of the blank node or collection it points to (if any).
fn triple<'a>(g: &Graph<'a>, out: &mut Vec<u8>, s: Term<'a>, p: &'a str, o: Term<'a>) {
    line(out, |out| term(out, s), p, |out| term(out, o));
    match o {
        Term::Inline(i) => {
            for &(p, v) in &g.inlines[i as usize] {
                triple(g, out, o, p, v);
            }
        }
        Term::List(l) => {
            let items = &g.lists[l as usize];
            for (j, &item) in items.iter().enumerate() {
                let cell = |out: &mut Vec<u8>| write_blank_label(out, o, j as u32);
                line(out, cell, RDF_FIRST, |out| term(out, item));
                if let Term::Inline(i) = item {
                    for &(p, v) in &g.inlines[i as usize] {
                        triple(g, out, item, p, v);
                    }
                }
                if j + 1 < items.len() {
                    let next = |out: &mut Vec<u8>| write_blank_label(out, o, j as u32 + 1);
                    line(out, cell, RDF_REST, next);
                } else {
                    line(out, cell, RDF_REST, |out| iri(out, RDF_NIL));
                }
            }
        }
        _ => {}
    }
}
