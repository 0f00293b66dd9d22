"""Leak response: GitHub secret-scanning partner alerts, self-reports and the CLI.

GitHub POSTs a JSON array of ``{token, type, url, source}``, signed with ECDSA P-256 /
SHA-256 over the raw body: ``Github-Public-Key-Identifier`` names the key,
``Github-Public-Key-Signature`` is the base64 DER signature. The configured keys
(``OSTIARY_GITHUB_SECRET_SCANNING_KEYS``: identifier -> PEM, as published at
``api.github.com/meta/public_keys/secret_scanning``) are the only ones trusted. The answer
is GitHub's feedback format: one ``{token_hash, token_type, label}`` per match, where the
label is ``true_positive`` for a genuine Ostiary key and ``false_positive`` otherwise (the
token is answered by its SHA-256, never echoed).

A reported key whose secret matches is revoked at once (one transaction with its audit
events) and its owner notified through the key webhook.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.keys.models import KeyStatus
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.keys import KeyRepository
from ostiary.web.keys.runtime import DbKeyReader
from ostiary.web.keys.service import TARGET, KeyService

GITHUB = Actor(kind="system", id="github-secret-scanning", auth="ecdsa_p256")
MAX_ALERTS = 1000


class BadSignature(Exception):
    pass


def verify_github_signature(
    keys: dict[str, str], key_id: str | None, sig: str | None, body: bytes
) -> None:
    if not key_id or not sig or key_id not in keys:
        raise BadSignature("unknown or missing GitHub public key identifier")
    try:
        public = serialization.load_pem_public_key(keys[key_id].encode())
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
            raise BadSignature("the configured GitHub key is not ECDSA P-256")
        public.verify(base64.b64decode(sig, validate=True), body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature("the signature does not verify") from exc


def parse_alerts(body: bytes) -> list[dict[str, str]]:
    doc = orjson.loads(body)
    if not isinstance(doc, list) or len(doc) > MAX_ALERTS:
        raise ValueError(f"expected a JSON array of at most {MAX_ALERTS} alerts")
    alerts = []
    for item in doc:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            raise ValueError("each alert needs a string 'token'")
        alerts.append({k: str(item.get(k) or "") for k in ("token", "type", "url", "source")})
    return alerts


def report_leak(
    svc: KeyService,
    token: str,
    actor: Actor,
    *,
    source: str,
    url: str | None = None,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """Revoke the key ``token`` belongs to, if it is one of ours. Idempotent."""
    record = svc.runtime.verifier.possessed(token.strip(), DbKeyReader(svc.db))
    if record is None:
        return {"known": False, "revoked": False, "key_id": None}
    now = svc.clock.now()
    was = record.status
    with svc.db.begin() as conn:
        repo = KeyRepository(conn)
        if was is not KeyStatus.REVOKED:
            repo.set_status(record.id, KeyStatus.REVOKED, now)
        AuditLog(conn).append(
            AuditEvent(
                action="key.leak.reported",
                actor=actor,
                target_type=TARGET,
                target_id=record.id,
                request=request or RequestInfo(),
                detail={
                    "source": source,
                    "url": url,
                    "was": was.value,
                    "revoked": was is not KeyStatus.REVOKED,
                    "owner": record.created_by,
                },
            ),
            now,
        )
    svc.runtime.invalidate(record.id)
    svc.runtime.notifier.emit(
        {
            "event": "key.leaked",
            "key_id": record.id,
            "name": record.name,
            "owner": record.created_by,
            "source": source,
            "url": url,
            "revoked": was is not KeyStatus.REVOKED,
            "time": now.isoformat(),
        }
    )
    return {"known": True, "revoked": was is not KeyStatus.REVOKED, "key_id": record.id}


def github_feedback(
    svc: KeyService, alerts: list[dict[str, str]], request: RequestInfo
) -> list[dict[str, str]]:
    out = []
    for alert in alerts:
        result = report_leak(
            svc,
            alert["token"],
            GITHUB,
            source=f"github:{alert['source']}",
            url=alert["url"] or None,
            request=request,
        )
        out.append(
            {
                "token_hash": hashlib.sha256(alert["token"].encode()).hexdigest(),
                "token_type": alert["type"],
                "label": "true_positive" if result["known"] else "false_positive",
            }
        )
    return out
