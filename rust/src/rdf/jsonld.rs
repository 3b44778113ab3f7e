//! JSON-LD documents to N-Quads (with oxjsonld), so that the reader's N-Quads path takes a POSTed
//! JSON-LD body like any other. Nothing is ever fetched: a remote `@context` must be one of the
//! documents the caller gives beforehand, or the document is refused (a server must not make
//! requests on behalf of the bodies it is sent).

use std::collections::HashMap;
use std::fmt::Write;

use oxjsonld::{JsonLdParser, JsonLdRemoteDocument};

/// Why a JSON-LD document cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonLdError(pub String);

/// The statements of a JSON-LD document as N-Quads lines, in document order. `base_iri`
/// resolves relative IRIs; `contexts` maps remote context URLs to their documents.
pub fn to_nquads(
    data: &[u8],
    base_iri: Option<&str>,
    contexts: HashMap<String, Vec<u8>>,
) -> Result<String, JsonLdError> {
    let mut parser = JsonLdParser::new();
    if let Some(base) = base_iri {
        parser = parser
            .with_base_iri(base)
            .map_err(|e| JsonLdError(format!("base IRI {base:?}: {e}")))?;
    }
    let quads = parser
        .for_slice(data)
        .with_load_document_callback(move |url, _| match contexts.get(url) {
            Some(document) => Ok(JsonLdRemoteDocument {
                document: document.clone(),
                document_url: url.to_owned(),
            }),
            None => Err(format!(
                "the remote context {url} is not given (ldesfrag never fetches one: pass its \
                 document in contexts)"
            )
            .into()),
        });
    let mut out = String::with_capacity(data.len());
    for quad in quads {
        let quad = quad.map_err(|e| JsonLdError(e.to_string()))?;
        writeln!(out, "{quad} .").expect("writing to a String");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_with_an_inline_and_a_given_context_becomes_nquads() {
        let doc = br#"{"@context": ["http://ex.org/ctx", {"label": "http://www.w3.org/2000/01/rdf-schema#label"}],
            "@id": "obs/1", "label": "one \"quoted\"", "when": {"@value": "2023-05-12T10:00:00Z", "@type": "xsd:dateTime"},
            "@graph": []}"#;
        let ctx = br#"{"@context": {"xsd": "http://www.w3.org/2001/XMLSchema#", "when": "http://www.w3.org/ns/prov#generatedAtTime"}}"#;
        let contexts = HashMap::from([("http://ex.org/ctx".to_owned(), ctx.to_vec())]);
        let nq = to_nquads(doc, Some("http://ex.org/"), contexts).expect("JSON-LD");
        let mut lines: Vec<&str> = nq.lines().collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            [
                r#"<http://ex.org/obs/1> <http://www.w3.org/2000/01/rdf-schema#label> "one \"quoted\"" ."#,
                r#"<http://ex.org/obs/1> <http://www.w3.org/ns/prov#generatedAtTime> "2023-05-12T10:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> ."#,
            ]
        );
    }

    #[test]
    fn remote_contexts_are_never_fetched_and_bad_documents_are_refused() {
        let doc = br#"{"@context": "https://example.org/remote.jsonld", "@id": "http://ex.org/a"}"#;
        let e = to_nquads(doc, None, HashMap::new()).expect_err("remote");
        assert!(e.0.contains("never fetches"), "{e}");
        for bad in [&b"{"[..], b"[1, 2", b"{\"@id\": 5}", b"\xff"] {
            assert!(to_nquads(bad, None, HashMap::new()).is_err(), "{bad:?}");
        }
        assert!(to_nquads(b"{}", Some("not an IRI"), HashMap::new()).is_err());
    }
}
