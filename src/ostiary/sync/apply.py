"""Carry out a plan against a SCIM server: Bulk when advertised (``concurrency`` batches in
flight), else concurrent single requests (``single_concurrency`` in flight); PATCH when
supported, else GET + PUT; ``If-Match`` whenever ETags are.

Order: users are created first (their ids are needed for memberships), then updated,
then groups created with their members, memberships changed, and last users deprovisioned.
Every create is journalled (intent, then id) so a killed run resumes without duplicates.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from ostiary.scim import schemas
from ostiary.sync import ops as sync_ops
from ostiary.sync.client import ScimClient, error_for
from ostiary.sync.errors import TargetError
from ostiary.sync.journal import Journal
from ostiary.sync.ops import (
    Op,
    add_ops,
    chunks,
    meta_version,
    patch_ops,
    set_path,
    versioned,
)
from ostiary.sync.plan import Change, Deprovision, Membership, Plan, Update

Progress = Callable[[str, int], None]
# Whole-request Bulk refusals that one request per operation may well get past.
BULK_REFUSED = {401, 403, 404, 405, 413, 501}


@dataclass
class Summary:
    done: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, phase: str, n: int = 1) -> None:
        with self.lock:  # workers of the pool report concurrently
            self.done[phase] = self.done.get(phase, 0) + n


class Applier:
    def __init__(
        self,
        client: ScimClient,
        journal: Journal,
        *,
        concurrency: int = 4,
        single_concurrency: int | None = None,
        use_bulk: bool = True,
        progress: Progress | None = None,
        bulk_batch: int = 1000,
    ):
        self.client = client
        self.journal = journal
        self.features = client.features()
        self.use_bulk = use_bulk and self.features.bulk
        # Smaller than maxOperations: batches run concurrently (a server with several
        # workers serves them in parallel) and each stays well inside the request timeout.
        self.bulk_batch = bulk_batch
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sync")
        # One request per change gets its own bound: a group-committing server writes more
        # small requests per transaction with more in flight, while Bulk batches (hundreds
        # of operations each) gain nothing past ``concurrency`` (docs/sync.md). Threads
        # start on demand, so a run that only sends Bulk never starts these.
        self.singles = ThreadPoolExecutor(
            max_workers=single_concurrency or concurrency, thread_name_prefix="sync1"
        )
        self.progress = progress or (lambda phase, n: None)
        self.summary = Summary()
        self.ids: dict[str, str] = {}
        self.hashes: dict[str, str] = {}

    def run(self, plan: Plan) -> Summary:
        self.ids = dict(plan.matched)
        self.hashes = plan.hashes
        self.journal.append({"t": "begin", "counts": plan.counts()})
        try:
            try:
                self._creates(plan)
            finally:  # before any later phase's entry: replay keeps the file's order
                self.journal.flush()
            self._execute("update", [self._update_op(u) for u in plan.updates])
            self._groups(plan)
            self._execute("deprovision", [self._deprovision_op(d) for d in plan.deprovisions])
        finally:
            self.pool.shutdown(wait=True)
            self.singles.shutdown(wait=True)
        self.journal.append({"t": "end", "failures": len(self.summary.failures)})
        if not self.summary.failures:
            self.journal.compact()
        return self.summary

    # --- execution: Bulk batches or one request per op ----------------------------------

    def _execute(self, phase: str, ops: list[Op]) -> None:
        if not ops:
            return
        # A PUT merge needs a GET first, which Bulk cannot express: those go one by one.
        if self.use_bulk and not any(op.method == "PUT+" for op in ops):
            size = max(1, min(self.features.bulk_max_operations, self.bulk_batch))
            cap = int(self.features.bulk_max_payload * 0.9)
            batches = chunks(ops, size, cap)
            list(self.pool.map(lambda batch: self._bulk(phase, batch), batches))
        else:
            list(self.singles.map(lambda op: self._single(phase, op), ops))

    def _single(self, phase: str, op: Op, report: bool = True) -> None:
        try:
            if op.method == "PUT+":
                self._put_merge(op)
            else:
                headers = self.client.if_match(op.version)
                resp = self.client.request(op.method, op.path, body=op.body, headers=headers)
                # Written over someone else's change: not known to hold our values.
                rebased = resp.status_code == 412 and bool(op.version)
                if rebased:
                    # Someone changed it since we listed: our change still stands (the
                    # planner only touches mapped attributes), so retry on the new ETag.
                    current = self.client.call("GET", op.path)
                    resp = self.client.request(
                        op.method,
                        op.path,
                        body=op.body,
                        headers=self.client.if_match(meta_version(current)),
                    )
                found = self._existing(op) if resp.status_code == 409 else None
                if op.method == "DELETE" and resp.status_code == 404:
                    op.done(None, None)  # already gone: the goal of a delete
                elif found is not None:
                    op.done(found, None)  # created by an earlier, interrupted request
                elif resp.status_code >= 300:
                    raise error_for(op.method, op.path, resp)
                else:
                    doc = orjson.loads(resp.content) if resp.content else None
                    version = None if rebased else resp.headers.get("etag")
                    op.done(versioned(doc, version, rebased), resp.headers.get("location"))
            self.summary.count(phase)
        except TargetError as exc:
            self.summary.failures.append(f"{op.label}: {exc}")
        if report:
            self.progress(phase, 1)

    def _existing(self, op: Op) -> dict[str, Any] | None:
        """A 409 on create: the resource is there already (a retried POST whose first
        attempt succeeded, or a concurrent writer); adopt it instead of failing."""
        if op.method != "POST" or op.body is None:
            return None
        resource = op.path.strip("/")
        attrs = ("externalId", "userName") if resource == "Users" else ("externalId", "displayName")
        for attr in attrs:
            if op.body.get(attr):
                found = self.client.find(resource, attr, str(op.body[attr]))
                if found is not None:
                    return found
        return None

    def _bulk(self, phase: str, batch: list[Op]) -> None:
        operations = []
        for n, op in enumerate(batch):
            entry: dict[str, Any] = {"method": op.method, "path": op.path, "bulkId": f"b{n}"}
            if op.body is not None:
                entry["data"] = op.body
            if op.version and self.features.etag:
                entry["version"] = op.version
            operations.append(entry)
        try:
            results = self.client.bulk(operations)
        except TargetError as exc:
            if exc.status in BULK_REFUSED:
                # Advertised but not for us (a key without the bulk scope, a payload cap,
                # a proxy that blocks it): the same work, one request per operation.
                self.use_bulk = False
                for op in batch:
                    self._single(phase, op)
                return
            self.summary.failures.extend(f"{op.label}: {exc}" for op in batch)
            self.progress(phase, len(batch))
            return
        by_id = {r.get("bulkId"): r for r in results}
        failed = []
        with self.journal.deferred():  # the batch's outcomes: one journal write and fsync
            for n, op in enumerate(batch):
                r = by_id.get(f"b{n}") or (results[n] if n < len(results) else {})
                status = int(str(r.get("status", "0"))[:3] or 0)
                if 200 <= status < 300 or (op.method == "DELETE" and status == 404):
                    doc = versioned(r.get("response"), r.get("version"))
                    op.done(doc, r.get("location"))
                    self.summary.count(phase)
                else:
                    failed.append((op, status, r.get("response")))
        for op, status, response in failed:  # retried one by one: journalled as they go
            self._bulk_failure(phase, op, status, response)
        self.progress(phase, len(batch))

    def _bulk_failure(self, phase: str, op: Op, status: int, response: Any) -> None:
        if status == 409 and op.method == "POST":
            self._single(phase, op, report=False)  # resolves the conflict by lookup
            return
        if status == 412 and op.method in ("PATCH", "PUT", "PUT+"):
            # Changed since we listed it, e.g. by our own earlier attempt of this Bulk
            # request that timed out: one request re-reads the ETag and applies our change.
            self._single(phase, op, report=False)
            return
        detail = response.get("detail") if isinstance(response, dict) else None
        self.summary.failures.append(f"{op.label}: bulk status {status} {detail or ''}".strip())

    # --- users ----------------------------------------------------------------------------

    def _creates(self, plan: Plan) -> None:
        if not plan.creates:
            return
        self.journal.append(*({"t": "intent", "key": c.key} for c in plan.creates))
        ops = []
        for c in plan.creates:
            ops.append(
                Op(
                    "POST",
                    "/Users",
                    c.doc,
                    None,
                    f"create {c.user_name}",
                    self._created(c.key, c.doc, c.user_name),
                )
            )
        self._execute("create", ops)

    def _created(
        self, key: str, doc: dict[str, Any], name: str
    ) -> Callable[[Any, str | None], None]:
        def done(resp: dict[str, Any] | None, location: str | None) -> None:
            rid = (resp or {}).get("id") or (location or "").rstrip("/").rsplit("/", 1)[-1]
            if not rid:
                raise TargetError(f"create {name}: the server returned no id")
            self.ids[key] = rid
            # Batched: a kill -9 may lose it, and the next run matches the user by
            # externalId/userName instead (journal.py), so no fsync per create.
            self.journal.append_lazy(
                {"t": "user", "key": key, "id": rid}, *self._seen(key, rid, resp)
            )

        return done

    def _pushed(self, u: Update) -> Callable[[Any, str | None], None]:
        """Only a write made If-Match the version we compared yields a version known to
        hold every compared value (the others were equal at it); a 412 retry does not."""
        if not (u.version and self.features.etag):
            return lambda resp, location: None
        return lambda resp, location: self.journal.append(*self._seen(u.key, u.id, resp))

    def _seen(self, key: str, rid: str, resp: dict[str, Any] | None) -> list[dict[str, Any]]:
        """The version the server gave our write: the user holds our values at it (the
        next re-sync skips comparing it while both stay the same, sync/remote.py)."""
        version = meta_version(resp)
        digest = self.hashes.get(key)
        if not (version and digest):
            return []
        return [{"t": "seen", "key": key, "id": rid, "h": digest, "v": version}]

    def _update_op(self, u: Update) -> Op:
        path = f"/Users/{u.id}"
        if self.features.patch:
            body = {"schemas": [schemas.PATCH_OP], "Operations": patch_ops(u.changes)}
            return Op("PATCH", path, body, u.version, f"update {u.user_name}", self._pushed(u))
        return Op("PUT+", path, {"changes": u.changes}, u.version, f"update {u.user_name}")

    def _deprovision_op(self, d: Deprovision) -> Op:
        path, label = f"/Users/{d.id}", f"{'delete' if d.delete else 'deactivate'} {d.user_name}"
        if d.delete:
            key = next((k for k, v in self.journal.users.items() if v == d.id), None)
            return Op(
                "DELETE",
                path,
                None,
                d.version,
                label,
                lambda doc, loc: self.journal.append({"t": "forget", "key": key}) if key else None,
            )
        if self.features.patch:
            body = {
                "schemas": [schemas.PATCH_OP],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            }
            return Op("PATCH", path, body, d.version, label)
        return Op("PUT+", path, {"changes": (Change("active", True, False),)}, d.version, label)

    def _put_merge(self, op: Op) -> None:
        """No PATCH: read the resource, change only our attributes, PUT it back (If-Match)."""
        for _ in range(3):
            current = self.client.call("GET", op.path)
            doc = copy.deepcopy(current)
            doc.pop("meta", None)
            body = op.body or {}
            for change in body.get("changes", ()):
                set_path(doc, change.path, change.new)
            for m in body.get("members_add", ()):
                doc.setdefault("members", []).append({"value": m})
            drop = set(body.get("members_remove", ()))
            if drop:
                doc["members"] = [m for m in doc.get("members") or [] if m.get("value") not in drop]
            resp = self.client.request(
                "PUT", op.path, body=doc, headers=self.client.if_match(meta_version(current))
            )
            if resp.status_code != 412:  # 412: changed under us; read again
                if resp.status_code >= 300:
                    raise error_for("PUT", op.path, resp)
                return
        raise TargetError(f"PUT {op.path}: the resource kept changing (412)")

    # --- groups ---------------------------------------------------------------------------

    def _groups(self, plan: Plan) -> None:
        adds = {m.group: m for m in plan.memberships if m.group_id is None}
        ops: list[Op] = []
        later: list[Op] = []
        for name in plan.group_creates:
            ids = self._resolve(adds.get(name))
            # A 100,000-member group is ~5 MB of JSON, over a server's body limit (4 MiB in
            # Ostiary): with PATCH, create it with the first members and add the rest in
            # PATCH requests of MEMBERS_PER_REQUEST.
            first = ids[: sync_ops.MEMBERS_PER_REQUEST] if self.features.patch else ids
            rest = ids[len(first) :]
            body = {
                "schemas": [schemas.GROUP],
                "displayName": name,
                "externalId": name,
                "members": [{"value": i} for i in first],
            }
            created = self._group_created(name, rest, later)
            ops.append(Op("POST", "/Groups", body, None, f"create group {name}", created))
        self._execute("group", ops)
        later += [
            op for m in plan.memberships if m.group_id is not None for op in self._member_ops(m)
        ]
        self._execute("membership", later)

    def _group_created(
        self, name: str, rest: list[str], later: list[Op]
    ) -> Callable[[Any, str | None], None]:
        def done(resp: dict[str, Any] | None, location: str | None) -> None:
            gid = (resp or {}).get("id") or (location or "").rstrip("/").rsplit("/", 1)[-1]
            self.journal.append({"t": "group", "name": name, "id": gid})
            if rest:  # the members the create left out (list.extend is atomic)
                later.extend(add_ops(f"/Groups/{gid}", rest, None, f"members of {name}"))

        return done

    def _resolve(self, m: Membership | None) -> list[str]:
        if m is None:
            return []
        out = []
        for key in m.add:
            if key in self.ids:
                out.append(self.ids[key])
            else:
                self.summary.failures.append(f"group {m.group}: member {key} was not created")
        return out

    def _member_ops(self, m: Membership) -> list[Op]:
        path, label = f"/Groups/{m.group_id}", f"members of {m.group}"
        if m.delete_group:
            name = m.group
            forget = lambda doc, loc: self.journal.append({"t": "ungroup", "name": name})  # noqa: E731
            return [Op("DELETE", path, None, m.version, f"delete group {name}", forget)]
        add = self._resolve(m)
        if not self.features.patch:
            body: dict[str, Any] = {"members_add": add, "members_remove": m.remove}
            return [Op("PUT+", path, body, m.version, label)]
        removes = [{"op": "remove", "path": f'members[value eq "{i}"]'} for i in m.remove]
        if len(add) + len(removes) <= sync_ops.MEMBERS_PER_REQUEST:
            ops: list[dict[str, Any]] = []
            if add:
                ops.append({"op": "add", "path": "members", "value": [{"value": i} for i in add]})
            body = {"schemas": [schemas.PATCH_OP], "Operations": ops + removes}
            return [Op("PATCH", path, body, m.version, label)]
        # Too many for one request body: several PATCHes. The first carries If-Match; the
        # others follow our own change, so they go without (each add/remove is idempotent).
        out = add_ops(path, add, m.version, label)
        for i in range(0, len(removes), sync_ops.MEMBERS_PER_REQUEST):
            body = {
                "schemas": [schemas.PATCH_OP],
                "Operations": removes[i : i + sync_ops.MEMBERS_PER_REQUEST],
            }
            out.append(Op("PATCH", path, body, None if out else m.version, label))
        return out
