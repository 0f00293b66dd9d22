"""The provisioning key format: prefix, id, base62 secret, CRC32 checksum."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from ostiary.keys import format as key_format


def test_generated_keys_parse_and_match_the_published_pattern():
    token, parsed = key_format.generate()
    assert token.startswith("ost_pk_")
    assert re.fullmatch(key_format.KEY_PATTERN.replace(r"\b", ""), token)
    assert key_format.parse(token) == parsed


def test_secret_carries_at_least_160_bits():
    assert key_format.SECRET_LEN * math.log2(62) >= 160


def test_bad_checksum_is_rejected_offline():
    token, _ = key_format.generate()
    last = token[-1]
    bad = token[:-1] + ("0" if last != "0" else "1")
    assert key_format.parse(bad) is None


@given(st.integers(min_value=7, max_value=key_format.TOKEN_LEN - 1), st.sampled_from("aZ09x"))
def test_any_single_character_change_is_caught(position: int, replacement: str):
    token, _ = key_format.generate()
    if token[position] == replacement or token[position] == "_":
        return
    mutated = token[:position] + replacement + token[position + 1 :]
    assert key_format.parse(mutated) is None


@given(st.text(max_size=80))
def test_arbitrary_strings_never_parse_or_raise(text: str):
    assert key_format.parse(text) is None or text.startswith("ost_pk_")


def test_repr_hides_the_secret():
    _, parsed = key_format.generate()
    assert parsed.secret not in repr(parsed)
