"""HOTP (RFC 4226) and TOTP (RFC 6238) against the RFCs' own test vectors, and the
verification rules the sign-in relies on (window, replay, malformed input)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from ostiary.directory import totp

RFC4226_SECRET = b"12345678901234567890"
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890" * 6 + b"1234",
}
# RFC 6238 Appendix B: (time, algorithm, 8-digit TOTP)
APPENDIX_B = [
    (59, "sha1", "94287082"),
    (59, "sha256", "46119246"),
    (59, "sha512", "90693936"),
    (1111111109, "sha1", "07081804"),
    (1111111109, "sha256", "68084774"),
    (1111111109, "sha512", "25091201"),
    (1111111111, "sha1", "14050471"),
    (1111111111, "sha256", "67062674"),
    (1111111111, "sha512", "99943326"),
    (1234567890, "sha1", "89005924"),
    (1234567890, "sha256", "91819424"),
    (1234567890, "sha512", "93441116"),
    (2000000000, "sha1", "69279037"),
    (2000000000, "sha256", "90698825"),
    (2000000000, "sha512", "38618901"),
    (20000000000, "sha1", "65353130"),
    (20000000000, "sha256", "77737706"),
    (20000000000, "sha512", "47863826"),
]


def test_rfc4226_appendix_d_hotp_values():
    """RFC 4226 Appendix D: HOTP of the ASCII secret for counters 0..9."""
    expected = [
        "755224", "287082", "359152", "969429", "338314",
        "254676", "287922", "162583", "399871", "520489",
    ]  # fmt: skip
    assert [totp.hotp(RFC4226_SECRET, c) for c in range(10)] == expected


@pytest.mark.parametrize(("when", "algorithm", "code"), APPENDIX_B)
def test_rfc6238_appendix_b_vectors(when: int, algorithm: str, code: str):
    """RFC 6238 Appendix B: 8-digit TOTP, T0 = 0, X = 30, three HMAC algorithms."""
    assert totp.totp(SEEDS[algorithm], when, digits=8, digest=algorithm) == code


def test_rfc6238_section_4_step_counts_from_the_epoch():
    assert totp.step_at(59) == 1 and totp.step_at(1111111109) == 0x23523EC
    assert totp.step_at(20000000000) == 0x27BC86AA


def test_rfc6238_section_5_2_window_is_one_step_either_side():
    secret = SEEDS["sha1"]
    now = 1111111111
    for offset, accepted in [(-60, False), (-30, True), (0, True), (30, True), (60, False)]:
        code = totp.totp(secret, now + offset)
        step = totp.verify(secret, code, now, None)
        assert (step == totp.step_at(now + offset)) is accepted, offset
        if not accepted:
            assert step is None


def test_rfc6238_section_5_2_a_used_step_is_refused():
    secret = SEEDS["sha1"]
    now = 1234567890
    code = totp.totp(secret, now)
    step = totp.verify(secret, code, now, None)
    assert step == totp.step_at(now)
    assert totp.verify(secret, code, now, last_step=step) is None
    # An older code inside the window is refused once a newer step was accepted.
    previous = totp.totp(secret, now - 30)
    assert totp.verify(secret, previous, now, last_step=step) is None
    # The next code is accepted.
    assert totp.verify(secret, totp.totp(secret, now + 30), now, last_step=step) == step + 1


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "１２３４５６", "12345\x00"])
def test_malformed_codes_never_match(bad: str):
    secret = SEEDS["sha1"]
    assert totp.verify(secret, bad, 59, None) is None


def test_spaces_in_a_typed_code_are_ignored():
    secret = SEEDS["sha1"]
    code = totp.totp(secret, 59)
    assert totp.verify(secret, f" {code[:3]} {code[3:]} ", 59, None) == 1


def test_secret_is_160_bits_and_round_trips_base32():
    """RFC 4226 section 4 R6: 160-bit shared secrets (and base32 for typing it in)."""
    secret = totp.new_secret()
    assert len(secret) == 20 and secret != totp.new_secret()
    text = totp.to_base32(secret)
    assert "=" not in text and totp.from_base32(text.lower()) == secret


def test_otpauth_uri_names_the_profile():
    uri = totp.otpauth_uri(b"12345678901234567890", "ada@example.com", "Ostiary")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == "/Ostiary:ada@example.com"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "issuer": "Ostiary",
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
    }
