"""The HTTP helpers a server embedding ldesfrag uses: ETag, If-None-Match, Cache-Control,
against hand-written RFC 9110 cases."""

from __future__ import annotations

import blake3
import pytest

import ldesfrag
from ldesfrag import LdesfragError, cache_control, etag, if_none_match

TAG = '"abc"'


@pytest.mark.parametrize(
    ("header", "tag", "matches"),
    [
        (None, TAG, False),  # no condition
        ("", TAG, False),
        ("*", TAG, True),  # any current representation (§13.1.2)
        (" * ", TAG, True),
        ('"abc"', TAG, True),
        ('"abd"', TAG, False),
        ('"ABC"', TAG, False),  # opaque tags compare case-sensitively
        ('W/"abc"', TAG, True),  # weak comparison: W/ on either side is ignored
        ('"abc"', 'W/"abc"', True),
        ('W/"abc"', 'W/"abc"', True),
        ('"xyz", "abc"', TAG, True),  # a list: any member
        ('"xyz",W/"abc"', TAG, True),
        (' , "xyz" ,, "abc" , ', TAG, True),  # empty list elements are allowed (§5.6.1)
        ('"xyz", "uvw"', TAG, False),
        ('"a,b"', '"a,b"', True),  # a comma inside a tag is part of it
        ('"a,b"', '"a"', False),
        ('"x", "a,b"', '"b"', False),
        ('""', '""', True),  # the empty opaque tag
        # Malformed: never a 304 (the full response is always right).
        ("abc", TAG, False),
        ('"abc', TAG, False),
        ('w/"abc"', TAG, False),  # W/ is case-sensitive
        ('W/ "abc"', TAG, False),
        ('"abc"x', TAG, False),
        ('"abc" "abc"', TAG, True),  # whitespace separates too; still both tags
        ('"abc", *', TAG, False),  # * only alone
    ],
)
def test_if_none_match(header, tag, matches):
    assert if_none_match(header, tag) is matches


def test_etag_is_the_native_one_and_a_strong_tag():
    body = b"<a> <b> <c> .\n"
    assert etag(body) == '"' + blake3.blake3(body).hexdigest()[:32] + '"'
    assert if_none_match(etag(body), etag(body))
    assert not if_none_match(etag(body), etag(body + b" "))
    page = ldesfrag.render_page(
        "https://ex.org/ldes/", stream="https://ex.org/ldes/#s", relations=[]
    )
    assert page.etag == etag(page.body)


def test_cache_control():
    assert cache_control(True) == "public, max-age=31536000, immutable"
    assert cache_control(True, max_age=5) == "public, max-age=31536000, immutable"
    assert cache_control(False) == "public, max-age=60"
    assert cache_control(False, max_age=0) == "public, max-age=0"
    assert cache_control(False, 3600) == "public, max-age=3600"
    for bad in (-1, 1.5, True, "60"):
        with pytest.raises(LdesfragError, match="max_age"):
            cache_control(False, bad)  # type: ignore[arg-type]
