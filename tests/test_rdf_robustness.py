"""The RDF reader on bad input: every member is published whole or reported with file, line and
IRI; memory is bounded by the configured limits; a truncated input publishes no half member."""

from __future__ import annotations

import gzip
import warnings
import zlib
from pathlib import Path

import pyarrow as pa
import pytest
import rdflib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import (
    DCT_IS_VERSION_OF,
    Geospatial,
    HierarchicalTime,
    MemberReader,
    RdfWarning,
    View,
    publish,
    read_members,
    render_page,
)

VO = f"<{DCT_IS_VERSION_OF}>"
WKT = f"<{ldesfrag.GEO_AS_WKT}>"
TIME = f"<{ldesfrag.PROV_GENERATED_AT_TIME}>"
XSD_DT = "<http://www.w3.org/2001/XMLSchema#dateTime>"
VIEW = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=20)


def rows(table) -> list[dict]:
    return pa.table(table).to_pylist()


def read(path: Path, **kw) -> tuple[dict[str, str], list[dict]]:
    """Member id → payload, and the problems."""
    reader = MemberReader(path, View(), **kw)
    members = {r["id"]: r["payload"] for t in reader for r in rows(t)}
    return members, rows(reader.problems())


def member_lines(i: int, extra: str = "") -> list[str]:
    m = f"<http://e.org/m{i}>"
    lines = [
        f"{m} {VO} <http://e.org/s> .",
        f'{m} {TIME} "2023-05-1{i % 3}T10:00:00Z"^^{XSD_DT} .',
        f'{m} {WKT} "POINT (3.7{i} 51.05)" .',
    ]
    if extra:
        lines.insert(1, f"{m} {extra} .")
    return lines


def write(tmp_path: Path, lines: list[str], name: str = "d.nt") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


# --- 1. a statement that cannot be published --------------------------------------------------

BAD_TERMS = [
    "<http://e.org/p> <http://e.org/a b>",  # a space
    "<http://e.org/p> <relative>",  # a relative IRI (N-Triples has no base)
    "<http://e.org/p> <http://e.org/{x}>",  # braces
    "<http://e.org/p> <http://e.org/\\u0020x>",  # an escaped space
    "<http://e.org/p> <http://e.org/a\u00a0b>",  # a Unicode space (rdflib splits there)
    '<http://e.org/p> "x"^^<not a datatype>',  # a bad datatype IRI
    '<http://e.org/p> "x"@en_GB',  # a bad language tag
    "<http://e.org/not an iri> <http://e.org/o>",  # a bad predicate
    '<http://e.org/p> "unterminated',  # a syntax error
    "<http://e.org/p> <http://e.org/o> <http://e.org/g>",  # four terms in N-Triples
]


@pytest.mark.parametrize("bad", BAD_TERMS)
def test_a_bad_statement_is_reported_with_its_line_and_member_and_the_rest_goes_through(
    tmp_path, bad
):
    lines = member_lines(0) + member_lines(1, extra=bad) + member_lines(2)
    path = write(tmp_path, lines)
    members, problems = read(path)
    # The member is published whole or not at all: m1 is left out.
    assert set(members) == {"http://e.org/m0", "http://e.org/m2"}
    assert [(p["file"], p["line"], p["member"], p["dropped"]) for p in problems] == [
        (str(path), 5, "http://e.org/m1", True)
    ]
    assert problems[0]["reason"].endswith("member not published")
    for payload in members.values():
        rdflib.Graph().parse(data=payload, format="nt")
    # The same as Turtle: the statement's member is named too.
    ttl = write(tmp_path, lines, "d.ttl")
    members, problems = read(ttl)
    assert set(members) == {"http://e.org/m0", "http://e.org/m2"}
    assert [(p["line"], p["member"], p["dropped"]) for p in problems] == [
        (5, "http://e.org/m1", True)
    ]


def test_a_bad_member_iri_leaves_out_that_member_only(tmp_path):
    lines = [
        f"<http://e.org/bad member> {VO} <http://e.org/s> .",
        '<http://e.org/bad member> <http://e.org/p> "x" .',
        *member_lines(1),
        "<http://e.org/es> <https://w3id.org/tree#member> <http://e.org/a|b> .",
    ]
    path = write(tmp_path, lines)
    members, problems = read(path)
    assert set(members) == {"http://e.org/m1"}
    by_line = {p["line"]: p for p in problems}
    assert by_line[1]["member"] == "http://e.org/bad member"
    assert by_line[2]["member"] == "http://e.org/bad member"
    assert by_line[6]["member"] is None  # a statement of no member: skipped
    assert all(p["dropped"] for p in problems)
    # tree-member mode: a member named by an invalid IRI, without statements of its own.
    members, problems = read(path, member="tree-member")
    assert members == {}
    named = [(p["line"], p["member"], p["dropped"]) for p in problems if p["member"]]
    assert named == [(6, "http://e.org/a|b", True)]


def test_the_issue_repro_publishes_the_good_member_and_reruns(tmp_path):
    lines = [
        f"<http://e.org/m1> {VO} <http://e.org/s> .",
        "<http://e.org/m1> <http://e.org/p> <http://e.org/a b> .",
        f"<http://e.org/m2> {VO} <http://e.org/s> .",
    ]
    path = write(tmp_path, lines, "bad.nt")
    out = tmp_path / "o"
    first = publish([str(path)], VIEW, out, base_url="http://h/")
    # The run that read the input says where: the file, the line and the member left out.
    (row,) = first.problem_rows
    assert (row.file, row.line, row.member, row.dropped) == (str(path), 2, "http://e.org/m1", True)
    assert str(row).startswith(f"{path}:2: member <http://e.org/m1>: ")
    summary = publish([str(path)], VIEW, out, base_url="http://h/")  # a rerun goes through
    assert first.members == summary.members == 1
    assert summary.problem_rows == []  # it read nothing again
    assert sum(summary.problems.values()) == 1  # counted once over the stream
    published = "".join(p.read_text() for p in out.rglob("*.ttl"))
    assert "<http://e.org/m2>" in published
    assert "http://e.org/m1" not in published


def test_publish_bounds_lines_and_members_as_asked_and_the_cli_says_where(tmp_path, capsys):
    from ldesfrag.cli import main

    big = '"' + "x" * 500 + '"'
    lines = [*member_lines(1), *member_lines(2, f"<http://e.org/p> {big}"), *member_lines(3)]
    path = write(tmp_path, lines)
    out = tmp_path / "o"
    args = ["publish", str(path), "--view", str(tmp_path / "v.json"), "--out", str(out)]
    (tmp_path / "v.json").write_text(VIEW.to_json())
    assert main([*args, "--base-url", "http://h/", "--max-line-bytes", "300", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2 members published" in printed
    assert f"{path}:5: member <http://e.org/m2>: " in printed  # the long line, and whose
    # Too small a limit is refused before anything is written.
    with pytest.raises(ldesfrag.LdesfragError, match="max_member_bytes 0"):
        publish([str(path)], VIEW, tmp_path / "o2", base_url="http://h/", max_member_bytes=0)
    assert not (tmp_path / "o2").exists()


# A random IRI: a scheme (or none, or a bad one) and characters that N-Triples, the renderer or
# rdflib may refuse, each written as is or as an escape.
IRI_CHARS = st.sampled_from(
    [*"az09/#?%.-_~:", *' {}|^`\\<>"\t\x00\x7f\x85\xa0\u2028\u3000é😀\ufffe']
)
LITERAL_CHARS = st.sampled_from([*"az \"'\\#<>@^.\n\r\t\x00\x7f\u2028\ufffeé😀"])


def escape(c: str) -> str:
    return f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}"


@st.composite
def iris(draw) -> tuple[str, bool]:
    """An IRI as written between < and >, and whether it is certainly publishable."""
    scheme = draw(st.sampled_from(["http://e.org/", "urn:x:", "", "1x:", "a b:"]))
    chars = draw(st.lists(IRI_CHARS, max_size=8))
    out = []
    for c in scheme + "".join(chars):
        # `>`, `\` and line ends cannot be written as they are; the rest is a coin toss.
        raw = c not in '<>\\\n\r"' and draw(st.booleans())
        out.append(c if raw else escape(c))
    safe = scheme in ("http://e.org/", "urn:x:") and all(
        c.isalnum() or c in "/#?%.-_~:" for c in chars
    )
    return "".join(out), safe


@st.composite
def literals(draw) -> tuple[str, bool]:
    value = draw(st.lists(LITERAL_CHARS, max_size=8))
    text = "".join(
        {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r"}.get(c, c)
        if draw(st.booleans())
        else escape(c)
        for c in value
    )
    kind = draw(st.sampled_from(["plain", "lang", "datatype"]))
    if kind == "lang":
        tag = draw(st.sampled_from(["en", "nl-BE", "EN-gb", "x-private-1", "en_US", "1en", "e-"]))
        ok = tag in ("en", "nl-BE", "EN-gb", "x-private-1")
        return f'"{text}"@{tag}', ok
    if kind == "datatype":
        iri, ok = draw(iris())
        return f'"{text}"^^<{iri}>', ok
    return f'"{text}"', True


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(iris(), literals()), min_size=1, max_size=6), st.booleans())
def test_every_payload_is_accepted_by_the_renderer_and_rdflib(tmp_path, terms, turtle):
    lines = []
    safe = {}
    for i, (term, ok) in enumerate(terms):
        m = f"http://e.org/m{i}"
        obj = term if term.startswith('"') else f"<{term}>"
        lines += [f"<{m}> {VO} <http://e.org/s> .", f"<{m}> <http://e.org/p> {obj} ."]
        if not term.startswith('"'):
            lines.append(f"<{m}> <{term}> <http://e.org/o> .")  # as a predicate too
        safe[m] = ok
    path = write(tmp_path, lines, "r.ttl" if turtle else "r.nt")
    reader = MemberReader(path, View())
    table = pa.concat_tables([pa.table(t) for t in reader] or [pa.table(reader.empty())])
    problems = rows(reader.problems())
    out = set(table["id"].to_pylist())
    reported = {p["member"] for p in problems if p["dropped"]}
    for m, ok in safe.items():
        # Every member is either out or reported by its IRI; a clean one is always out.
        assert (m in out) != (m in reported), (m, problems)
        if ok:
            assert m in out, (m, problems)
    for payload in table["payload"].to_pylist():
        rdflib.Graph().parse(data=payload, format="nt")
    if table.num_rows:
        page = render_page("http://h/p.ttl", stream="http://h/#s", members=table, format="ntriples")
        rdflib.Graph().parse(data=page.body, format="nt")


# --- 2. memory bounds --------------------------------------------------------------------------


def test_a_line_longer_than_the_limit_is_reported_and_reading_goes_on(tmp_path):
    long_wkt = "POINT (" + "1" * 5000 + " 2)"
    lines = member_lines(0) + member_lines(1) + member_lines(2)
    lines[5] = f'<http://e.org/m1> {WKT} "{long_wkt}" .'
    for name in ("d.nt", "d.ttl"):
        path = write(tmp_path, lines, name)
        members, problems = read(path, max_line_bytes=1000)
        assert set(members) == {"http://e.org/m0", "http://e.org/m2"}
        assert [(p["line"], p["member"], p["dropped"]) for p in problems] == [
            (6, "http://e.org/m1", True)
        ]
        assert "max_line_bytes" in problems[0]["reason"]
        # the default limit takes it
        members, problems = read(path)
        assert len(members) == 3
        assert problems == []


def test_a_gzip_whose_end_has_no_newline_is_read_in_bounded_lines(tmp_path):
    # What a 3 GB line without a newline looks like, small: a 200 kB tail after the members.
    lines = member_lines(0) + member_lines(1)
    data = "".join(line + "\n" for line in lines) + "<http://e.org/x> " + "y" * 200_000
    path = tmp_path / "tail.nt.gz"
    path.write_bytes(gzip.compress(data.encode()))
    members, problems = read(path, max_line_bytes=4096)
    assert set(members) == {"http://e.org/m0", "http://e.org/m1"}
    (p,) = problems
    assert p["line"] == 7
    assert p["dropped"]
    assert "200017 bytes, longer than max_line_bytes (4096)" in p["reason"]


def test_a_member_larger_than_the_limit_is_reported_and_the_others_go_through(tmp_path):
    big = [f'<http://e.org/big> <http://e.org/p> "value {i}" .' for i in range(3000)]
    lines = [
        *member_lines(0),
        f"<http://e.org/big> {VO} <http://e.org/s> .",
        *big,
        *member_lines(1),
        *member_lines(2),
    ]
    path = write(tmp_path, lines)
    for window in (16, 65_536):
        members, problems = read(path, max_member_bytes=20_000, window=window)
        assert set(members) == {"http://e.org/m0", "http://e.org/m1", "http://e.org/m2"}
        big_reports = [p for p in problems if p["member"] == "http://e.org/big"]
        assert len(big_reports) == 1
        assert big_reports[0]["line"] == 4
        assert "max_member_bytes" in big_reports[0]["reason"]
        assert all(p["dropped"] for p in problems)
        full, _ = read(path, window=window)
        for m in ("http://e.org/m0", "http://e.org/m1", "http://e.org/m2"):
            assert members[m] == full[m]
    # document mode: the input is the member
    members, problems = read(path, member="document", max_member_bytes=20_000)
    assert members == {}
    assert problems[0]["member"] == "http://e.org/m0"
    assert "max_member_bytes" in problems[0]["reason"]


def test_statements_of_no_member_do_not_change_the_members(tmp_path):
    orphans = [f'<http://e.org/x{i}> <http://e.org/p> "no member {i}" .' for i in range(5000)]
    lines = member_lines(0) + orphans + member_lines(1)
    path = write(tmp_path, lines)
    members, problems = read(path, max_member_bytes=20_000)
    assert set(members) == {"http://e.org/m0", "http://e.org/m1"}
    assert problems == []


def test_limits_are_checked(tmp_path):
    path = write(tmp_path, member_lines(0))
    for kw in ({"max_line_bytes": 0}, {"max_member_bytes": 0}):
        with pytest.raises(ldesfrag.RdfError, match="at least 1"):
            MemberReader(path, View(), **kw)


# --- 4. a truncated gzip -----------------------------------------------------------------------


def test_a_truncated_gzip_publishes_no_half_member_and_names_the_one_cut_off(tmp_path):
    lines = [line for i in range(400) for line in member_lines(i)]
    text = "".join(line + "\n" for line in lines).encode()
    data = gzip.compress(text)
    # A cut that leaves a member's statements partly readable.
    for cut in range(len(data) // 2, len(data)):
        readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:cut])
        whole = readable[: readable.rfind(b"\n") + 1].count(b"\n")
        if whole % 3 == 2:  # the member's geometry is the line cut off
            break
    path = tmp_path / "cut.nt.gz"
    path.write_bytes(data[:cut])
    cut_off = whole // 3
    members, problems = read(path, window=64)
    assert set(members) == {f"http://e.org/m{i}" for i in range(cut_off)}
    for payload in members.values():
        assert str(ldesfrag.GEO_AS_WKT) in payload  # no member without its geometry
    assert [(p["line"], p["member"]) for p in problems[:1]] == [
        (3 * cut_off + 1, f"http://e.org/m{cut_off}")
    ]
    assert "incomplete" in problems[0]["reason"]
    assert "read error" in problems[-1]["reason"]
    assert all(p["dropped"] for p in problems)


# --- 5. attribution in the warnings --------------------------------------------------------------


def test_the_warning_names_file_line_and_member(tmp_path):
    lines = member_lines(0) + member_lines(1, extra='<http://e.org/p> "bad') + member_lines(2)
    path = write(tmp_path, lines)
    with pytest.warns(RdfWarning) as caught:
        table = read_members(path, View())
    assert table["id"].to_pylist() == ["http://e.org/m0", "http://e.org/m2"]
    message = str(caught[0].message)
    assert f"{path}:5: member <http://e.org/m1>: syntax error" in message
    assert "1 member(s) not published" in message


def test_a_turtle_error_names_the_member_it_is_in(tmp_path):
    text = (
        "@prefix ex: <http://e.org/> .\n"
        f"ex:m0 {VO} ex:s ; ex:p 1 .\n"
        f"ex:m1 {VO} ex:s ;\n"
        "    ex:p [ ex:q 1 ;\n"
        '           ex:r "broken ] ;\n'
        "    ex:t 2 .\n"
        f"<http://e.org/m2> {VO} ex:s .\n"
    )
    path = tmp_path / "d.ttl"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        members, problems = read(path)
    assert set(members) == {"http://e.org/m0", "http://e.org/m2"}
    assert [(p["line"], p["member"], p["dropped"]) for p in problems] == [
        (5, "http://e.org/m1", True)
    ]
