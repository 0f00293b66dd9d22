"""Authentication context class from amr (OIDC Core section 2 ``acr``, 3.1.2.1
``acr_values``; RFC 8176 amr values) as TOTP sign-in sets it."""

from __future__ import annotations

from ostiary.oidc import acr


def test_password_alone_is_pwd_and_password_with_totp_is_mfa():
    assert acr.of(["pwd"]) == acr.PWD and not acr.is_mfa(["pwd"])
    assert acr.of(["pwd", "otp"]) == acr.MFA and acr.is_mfa(("pwd", "otp"))
    assert acr.MFA in acr.SUPPORTED and acr.PWD in acr.SUPPORTED


def test_oidc_core_3_1_2_1_acr_values_in_order_of_preference():
    assert acr.chosen(["pwd", "otp"], f"{acr.MFA} {acr.PWD}") == acr.MFA
    assert acr.chosen(["pwd"], f"{acr.MFA} {acr.PWD}") == acr.PWD
    assert acr.chosen(["pwd"], acr.MFA) is None
    assert acr.chosen(["pwd", "otp"], acr.PWD) == acr.PWD  # mfa satisfies pwd
    assert acr.chosen(["pwd", "otp"], None) == acr.MFA
