use super::*;

const STREAM: &str = "http://ex.org/col";
const NODE: &str = "http://ex.org/col/view?tile=15/16882/10975&pageNumber=1";

fn text(page: &Page<'_>, members: &[Member<'_>], rels: &[Relation<'_>], f: Format) -> String {
    String::from_utf8(render(page, members, rels, f).expect("renders")).expect("utf-8")
}

fn member<'a>(id: &'a str, payload: &'a str, timestamp: Option<i64>) -> Member<'a> {
    Member {
        id,
        payload,
        timestamp,
    }
}

#[test]
fn leaf_page_ntriples() {
    let page = Page {
        immutable: true,
        ..Page::new(NODE, STREAM)
    };
    let m = member(
        "http://ex.org/m/1",
        "<http://ex.org/m/1> <http://ex.org/p> \"a \\\"b\\\"\"@en .\n",
        None,
    );
    let nt = text(&page, &[m], &[], Format::NTriples);
    let expected = format!(
        "<{NODE}> <{RDF_TYPE}> <{TREE_NODE_CLASS}> .\n\
         <{NODE}> <{DCT_IS_PART_OF}> <{STREAM}> .\n\
         <{NODE}> <{LDES_IMMUTABLE}> \"true\"^^<{XSD_BOOLEAN}> .\n\
         <{STREAM}> <{RDF_TYPE}> <{LDES_EVENT_STREAM}> .\n\
         <{STREAM}> <{TREE_MEMBER}> <http://ex.org/m/1> .\n\
         <http://ex.org/m/1> <http://ex.org/p> \"a \\\"b\\\"\"@en .\n"
    );
    assert_eq!(nt, expected);
}

#[test]
fn members_in_chronological_order_and_blank_nodes_apart() {
    let page = Page::new(NODE, STREAM);
    let p1 = "<http://ex.org/a> <http://ex.org/g> _:b0 .\n_:b0 <http://ex.org/w> \"1\" .";
    let p2 = "<http://ex.org/b> <http://ex.org/g> _:b0 .\r\n_:b0 <http://ex.org/w> \"2\" .\r\n";
    let p3 = "# a comment\n\n<http://ex.org/c> <http://ex.org/w> \"3\" . # trailing\n";
    let members = [
        member("http://ex.org/c", p3, None),
        member("http://ex.org/b", p2, Some(20)),
        member("http://ex.org/a", p1, Some(10)),
    ];
    let nt = text(&page, &members, &[], Format::NTriples);
    let pos = |s: &str| nt.find(s).expect(s);
    assert!(pos("<http://ex.org/a> <http") < pos("<http://ex.org/b> <http"));
    assert!(pos("<http://ex.org/b> <http") < pos("<http://ex.org/c> <http"));
    assert!(nt.contains("<http://ex.org/a> <http://ex.org/g> _:m0_b0 ."));
    assert!(nt.contains("<http://ex.org/b> <http://ex.org/g> _:m1_b0 ."));
    assert!(!nt.contains('\r'));
}

#[test]
fn relations_and_literal_escaping() {
    let page = Page::new(NODE, STREAM);
    let rels = [
        Relation {
            kind: "https://w3id.org/tree#GreaterThanOrEqualToRelation",
            node: "http://ex.org/col/view?year=2023",
            path: Some("http://www.w3.org/ns/prov#generatedAtTime"),
            value: Some("2023-01-01T00:00:00Z"),
            datatype: Some("http://www.w3.org/2001/XMLSchema#dateTime"),
            remaining_items: Some(12),
        },
        Relation {
            kind: "https://w3id.org/tree#EqualToRelation",
            node: "http://ex.org/col/view?reference=x",
            path: None,
            value: Some("http://ex.org/type/X"),
            datatype: Some(XSD_ANY_URI),
            remaining_items: None,
        },
        Relation {
            kind: "https://w3id.org/tree#Relation",
            node: "http://ex.org/col/view?k=1",
            path: None,
            value: Some("a\"b\\c\nd\u{1}é"),
            datatype: None,
            remaining_items: None,
        },
    ];
    let nt = text(&page, &[], &rels, Format::NTriples);
    assert!(nt.contains(&format!(
        "_:r0 <{TREE_VALUE}> \"2023-01-01T00:00:00Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime> ."
    )));
    assert!(nt.contains(&format!(
        "_:r0 <{TREE_REMAINING}> \"12\"^^<{XSD_INTEGER}> ."
    )));
    assert!(nt.contains(&format!("_:r1 <{TREE_VALUE}> <http://ex.org/type/X> .")));
    assert!(nt.contains(&format!(
        "_:r2 <{TREE_VALUE}> \"a\\\"b\\\\c\\nd\\u0001é\" ."
    )));
    let ttl = text(&page, &[], &rels, Format::Turtle);
    assert!(ttl.contains("tree:remainingItems 12"), "{ttl}");
    assert!(ttl.contains("tree:value \"2023-01-01T00:00:00Z\"^^xsd:dateTime"));
}

#[test]
fn root_page_with_view_description() {
    let view = View::from_json(
        r#"{"fragmentations":[{"type":"Geospatial","max_zoom":15},{"type":"HierarchicalTime","max_granularity":"day","timezone":"Europe/Brussels"},{"type":"Reference","key":"version"}],"page_size":100}"#,
    )
    .expect("view");
    let page = Page {
        root: true,
        view: Some(&view),
        timestamp_path: Some("http://www.w3.org/ns/prov#generatedAtTime"),
        version_of_path: Some("http://purl.org/dc/terms/isVersionOf"),
        ..Page::new("http://ex.org/col/view", STREAM)
    };
    let ttl = text(&page, &[], &[], Format::Turtle);
    for needle in [
        "tree:view <http://ex.org/col/view>",
        "tree:viewDescription <http://ex.org/col/view#description>",
        "tree:fragmentationStrategy ( [",
        "tree:maxZoom 15",
        "tree:maxGranularity \"day\"",
        "<https://w3id.org/ldesfrag#timezone> \"Europe/Brussels\"",
        "tree:fragmentationKey \"version\"",
        "tree:pageSize 100",
        "ldes:timestampPath prov:generatedAtTime",
    ] {
        assert!(ttl.contains(needle), "{needle} not in\n{ttl}");
    }
    assert!(!ttl.contains("isPartOf"));
    let nt = text(&page, &[], &[], Format::NTriples);
    assert_eq!(nt.matches(&format!("<{TREE_VIEW}>")).count(), 1);
    assert_eq!(nt.matches(RDF_FIRST).count(), 3);
    assert_eq!(nt.matches(RDF_NIL).count(), 1);
    let immutable = Page {
        immutable: true,
        ..page
    };
    assert!(matches!(
        render(&immutable, &[], &[], Format::Turtle),
        Err(RenderError::Page(_))
    ));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let page = Page::new(NODE, STREAM);
    for bad in [
        "<http://ex.org/a> <http://ex.org/p> \"x\"",
        "<http://ex.org/a> <http://ex.org/p> \"x .",
        "<http://ex.org/a> <http://ex.org/p> \"x\\q\" .",
        "<http://ex.org/a b> <http://ex.org/p> \"x\" .",
        "<a> <http://ex.org/p> \"x\" .",
        "<http://ex.org/a> \"p\" \"x\" .",
        "_:é <http://ex.org/p> \"x\" .",
        "<http://ex.org/a> <http://ex.org/p> \"x\"@ .",
        "<http://ex.org/a> <http://ex.org/p> \"x\"^^xsd:string .",
        "<http://ex.org/a> <http://ex.org/p> <http://ex.org/o> <http://ex.org/g> .",
        "<http://ex.org/a> <http://ex.org/p> \"\\u12\" .",
        "<http://ex.org/a> <http://ex.org/p> \"\\UFFFFFFFF\" .",
        "<http://ex.org/a> <http://ex.org/p> \"x\r\" .",
        "_:",
        "<",
        "\"",
    ] {
        let m = member("http://ex.org/a", bad, None);
        match render(&page, &[m], &[], Format::Turtle) {
            Err(RenderError::Payload {
                row: 0, line: 1, ..
            }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let m = member("not an iri", "", None);
    assert!(matches!(
        render(&page, &[m], &[], Format::Turtle),
        Err(RenderError::Payload { line: 0, .. })
    ));
    assert!(matches!(
        render(&Page::new("rel/ative", STREAM), &[], &[], Format::Turtle),
        Err(RenderError::Iri { .. })
    ));
}

#[test]
fn json_ld_decodes_ntriples_escapes() {
    let m = member(
        "http://ex.org/m",
        "<http://ex.org/m\\u00E9> <http://ex.org/p> \"a\\tb\\u00E9\\U0001F600\\\"\\\\\\b\\f\\r\\'\u{7f}\"^^<http://ex.org/d\\U0001F600> .",
        None,
    );
    let body = render(&Page::new(NODE, STREAM), &[m], &[], Format::JsonLd).expect("renders");
    let parsed: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    let nodes = parsed.as_array().expect("array");
    let member = nodes
        .iter()
        .find(|n| n["@id"] == "http://ex.org/m\u{e9}")
        .expect("member node");
    let value = &member["http://ex.org/p"][0];
    assert_eq!(
        value["@value"],
        "a\tb\u{e9}\u{1F600}\"\\\u{8}\u{c}\r'\u{7f}"
    );
    assert_eq!(value["@type"], "http://ex.org/d\u{1F600}");
}

#[test]
fn json_ld_is_json() {
    let view = View::from_json(r#"{"fragmentations":[{"type":"Geospatial","max_zoom":15}]}"#)
        .expect("view");
    let page = Page {
        root: true,
        view: Some(&view),
        ..Page::new("http://ex.org/col/view", STREAM)
    };
    let m = member(
        "http://ex.org/m",
        "<http://ex.org/m> <http://ex.org/p> \"\\u0001\\n\" .\n<http://ex.org/m> <http://ex.org/q> _:b0 .\n<http://ex.org/m> <http://ex.org/p> \"2\" .",
        None,
    );
    let body = render(&page, &[m], &[], Format::JsonLd).expect("renders");
    let parsed: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    let nodes = parsed.as_array().expect("array");
    let member = nodes
        .iter()
        .find(|n| n["@id"] == "http://ex.org/m")
        .expect("member node");
    assert_eq!(member["http://ex.org/p"][0]["@value"], "\u{1}\n");
    assert_eq!(member["http://ex.org/p"][1]["@value"], "2");
    assert_eq!(member["http://ex.org/q"][0]["@id"], "_:m0_b0");
}

#[test]
fn payload_errors_say_what_and_where() {
    let why = |payload: &str| match render(
        &Page::new(NODE, STREAM),
        &[member("http://ex.org/a", payload, None)],
        &[],
        Format::NTriples,
    ) {
        Err(RenderError::Payload { why, .. }) => why,
        other => panic!("{payload:?}: {other:?}"),
    };
    assert_eq!(
        why("<http://ex.org/a> <http://ex.org/p> \"\\u12\" ."),
        "expected 4 hex digits after \\u / \\U at column 40"
    );
    assert_eq!(
        why("<http://ex.org/a> <http://ex.org/p> \"\\U12\" ."),
        "expected 8 hex digits after \\u / \\U at column 40"
    );
    assert_eq!(
        why("<http://ex.org/a> x"),
        "expected a predicate IRI at column 19"
    );
}
