"""Reuse the SSF transmitter fixtures (an Ostiary that accepts http:// receivers)."""

from tests.ssf.conftest import ssf, ssf_deployment  # noqa: F401  (fixtures)
