"""Wiring: configuration -> source, target client, journal -> plan -> apply."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ostiary.sync.apply import Applier, Progress, Summary
from ostiary.sync.auth import BearerAuth, ClientCredentialsAuth
from ostiary.sync.client import ScimClient
from ostiary.sync.config import SyncConfig, TargetConfig
from ostiary.sync.errors import ConfigInvalid
from ostiary.sync.journal import Journal
from ostiary.sync.plan import Plan, check_safety, make_plan
from ostiary.sync.remote import list_users, read_users, seen_entries
from ostiary.sync.sources import Source, desired_state, open_source


def target_auth(t: TargetConfig) -> httpx.Auth | None:
    if t.auth == "bearer":
        assert t.token is not None
        return BearerAuth(t.token.resolve())
    if t.auth == "private_key_jwt":
        assert t.private_key is not None and t.token_endpoint and t.client_id
        return ClientCredentialsAuth(
            token_endpoint=t.token_endpoint,
            client_id=t.client_id,
            private_key=t.private_key.resolve(),
            dpop=t.dpop,
            timeout=t.timeout,
        )
    return None


def target_client(t: TargetConfig) -> ScimClient:
    return ScimClient(
        t.url,
        auth=target_auth(t),
        timeout=t.timeout,
        max_retries=t.max_retries,
        # Connections for every request either bound lets out, or workers would queue for
        # one (LeanTransport's slots): Bulk batches and pages, or single requests.
        pool=max(4, t.concurrency, t.single_concurrency),
    )


@dataclass
class Agent:
    cfg: SyncConfig
    state_dir: Path
    _client: ScimClient | None = field(default=None, repr=False)
    _source: Source | None = field(default=None, repr=False)
    _opened: list[ScimClient] = field(default_factory=list, repr=False)

    @property
    def client(self) -> ScimClient:
        if self._client is None:
            self._client = target_client(self.cfg.target)
        return self._client

    @property
    def source(self) -> Source:
        if self._source is None:
            self._source = open_source(self.cfg.source, self.cfg.base_dir, self._source_client)
        return self._source

    def _source_client(self) -> ScimClient:
        opts = self.cfg.source.options
        url = opts.get("url")
        if not isinstance(url, str):
            raise ConfigInvalid("source.url is required for a SCIM source")
        secret = self.cfg.source.secret
        auth = BearerAuth(secret.resolve()) if secret else None
        client = ScimClient(url, auth=auth, timeout=self.cfg.target.timeout)
        self._opened.append(client)
        return client

    def journal(self) -> Journal:
        return Journal.open(self.state_dir, self.cfg.target.url)

    def plan(self, *, delete: bool = False, journal: Journal | None = None) -> Plan:
        journal = journal or self.journal()
        workers = self.cfg.target.concurrency
        paths = self.cfg.mapping.compare_paths
        # The target is listed while the source is read: the server works meanwhile.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="list") as pool:
            listing = pool.submit(list_users, self.client, journal, paths, workers)
            users, groups = desired_state(self.source.records(), self.cfg.mapping)
            listed = listing.result()
        remote = read_users(self.client, users, journal, paths, workers, listed)
        wanted = groups or journal.groups
        remote_groups = self.client.list_all("Groups", workers=workers) if wanted else []
        plan = make_plan(
            users,
            groups,
            remote.users,
            remote_groups,
            compare_paths=paths,
            known_users=journal.users,
            known_groups=journal.groups,
            scope=self.cfg.target.scope,
            delete=delete,
            fresh=remote.fresh,
            matched=remote.matched,
        )
        plan.hashes = remote.hashes
        # What was compared and found equal need not be compared next time (a cache).
        journal.append(*seen_entries(plan, remote, remote.users, journal))
        return plan

    def apply(
        self,
        plan: Plan,
        journal: Journal,
        *,
        allow_mass_deprovision: bool = False,
        progress: Progress | None = None,
    ) -> Summary:
        check_safety(plan, self.cfg.safety, allow_mass_deprovision=allow_mass_deprovision)
        applier = Applier(
            self.client,
            journal,
            concurrency=self.cfg.target.concurrency,
            single_concurrency=self.cfg.target.single_concurrency,
            use_bulk=self.cfg.target.bulk,
            bulk_batch=self.cfg.target.bulk_batch,
            progress=progress,
        )
        return applier.run(plan)

    def close(self) -> None:
        for client in [self._client, *self._opened]:
            if client is not None:
                client.close()
