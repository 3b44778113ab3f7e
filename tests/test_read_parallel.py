"""N-Triples/N-Quads read in parallel byte ranges: the same members as one uninterrupted read.

A line-format input is read in blocks of about 128 bytes a window statement (at most 4 MiB);
the lines of a block are found and parsed on every core, and the next window's lines are parsed
while the current window's members are extracted (rust/src/rdf/parse.rs, reader.rs). A small
window cuts the input into blocks of a few hundred bytes, so members, blank nodes, comments,
CRLF line ends, bad lines and lines over the limit fall on every side of a cut; the members,
their payloads and columns, their order and the problems must be those of reading the whole
input as one block (a window larger than the input).
"""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from ldesfrag import DCT_IS_VERSION_OF, GEO_AS_WKT, Geospatial, MemberReader, View

VIEW = View([Geospatial(max_zoom=14)])
VO = f"<{DCT_IS_VERSION_OF}>"
WKT = f"<{GEO_AS_WKT}>"


@st.composite
def member_lines(draw, k: int) -> list[str]:
    """One member's statements (its blank nodes nested), in a drawn order, some of them broken."""
    m = f"<http://e/m{k}>"
    lines = [f"{m} {VO} <http://e/x{k}> .", f"{m} <http://e/p> _:a{k} ."]
    depth = draw(st.integers(0, 2))
    for d in range(depth):
        lines.append(f"_:a{k}{'n' * d} <http://e/q> _:a{k}{'n' * (d + 1)} .")
    lines.append(f'_:a{k}{"n" * depth} {WKT} "POINT ({k % 7} 51)" .')
    if draw(st.booleans()):
        lines.append(f'{m} <http://e/v> "{"long value " * draw(st.integers(1, 30))}" .')
    if draw(st.booleans()):
        lines.append(f'{m} <http://e/n> "in its graph" {m} .')
    broken = draw(
        st.sampled_from(
            [
                None,
                f'{m} <http://e/p> "unterminated .',
                f"{m} <http://e/p> <http://e/a b> .",
                f"{m} <http://e/p> <relative> .",
                "<http://e/orphan> <http://e/p> garbage",
            ]
        )
    )
    if broken:
        lines.append(broken)
    return draw(st.permutations(lines))


@st.composite
def dumps(draw) -> bytes:
    """Members one after another (a member's lines possibly interleaved with the next one's),
    with comments, blank lines and CRLF line ends between them."""
    n = draw(st.integers(1, 12))
    members = [draw(member_lines(k)) for k in range(n)]
    out: list[str] = []
    for k, lines in enumerate(members):
        if k and draw(st.booleans()):
            # The previous member's last line after this one's first.
            out.insert(len(out) - 1, lines[0])
            lines = lines[1:]
        for line in lines:
            out.append(line)
            extra = draw(st.sampled_from(["", "", "", "# a comment <http://e/m0> .", "", "  "]))
            if extra or draw(st.integers(0, 9)) == 0:
                out.append(extra)
    ends = draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(out), max_size=len(out)))
    text = "".join(line + end for line, end in zip(out, ends, strict=True))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no line end after the last line
    return text.encode()


def read(data: bytes, window: int, member: str, max_line_bytes: int):
    reader = MemberReader(
        data=data,
        format="nquads",
        view=VIEW,
        member=member,
        window=window,
        batch_size=3,
        max_line_bytes=max_line_bytes,
    )
    rows = [row for t in reader for row in pa.table(t).to_pylist()]
    return rows, pa.table(reader.problems()).to_pylist()


@settings(max_examples=150, deadline=None)
@given(
    dumps(),
    st.sampled_from([3, 5, 8, 40]),
    st.sampled_from(["version-of", "named-graph", "subject"]),
    st.sampled_from([1 << 20, 200]),
)
def test_cut_reads_give_the_members_of_one_read(data, window, member, max_line_bytes):
    whole = read(data, 1 << 20, member, max_line_bytes)
    assert read(data, window, member, max_line_bytes) == whole


def test_a_dump_over_many_blocks_and_windows():
    """Thousands of members across hundreds of blocks: every member, once, in order."""
    lines = []
    for k in range(3000):
        lines += [
            f"<http://e/m{k}> {VO} <http://e/x{k}> .",
            f'_:g{k} {WKT} "POINT ({k % 7} 51)" .',
            f"<http://e/m{k}> <http://e/shape> _:g{k} .",
        ]
    data = ("\n".join(lines) + "\n").encode()
    rows, problems = read(data, 64, "version-of", 1 << 20)
    assert [r["id"] for r in rows] == [f"http://e/m{k}" for k in range(3000)]
    assert problems == []
    assert (rows, problems) == read(data, 1 << 20, "version-of", 1 << 20)
