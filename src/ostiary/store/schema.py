"""The whole schema: importing this registers every table module on ``metadata``.

Each area keeps its tables in its own module (``tables_<area>.py``); add its import here.
"""

from __future__ import annotations

from ostiary.store import (  # noqa: F401  (registration)
    tables,
    tables_audit,
    tables_console,
    tables_keys,
    tables_oidc,
    tables_oidc_code,
    tables_oidc_logout,
    tables_owners,
    tables_provisioning,
    tables_scim_query,
    tables_signals,
    tables_ssf,
    tables_totp,
)
from ostiary.store.tables import metadata

__all__ = ["metadata"]
