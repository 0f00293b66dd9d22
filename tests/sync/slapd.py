"""A real OpenLDAP ``slapd`` for the tests: a private cn=config built with ``slapadd`` in a
temp dir, listening on a free 127.0.0.1 port. Missing slapd fails under CI=true, skips on
a laptop (``make test`` installs it through scripts/system-deps.sh)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import free_port
from tests.support.services import missing

SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "ldap-test-secret"  # a throwaway test directory's password
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")

CONFIG = """dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {dir}/slapd.pid

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{includes}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {suffix}
olcDbDirectory: {dir}/data
olcDbMaxSize: 67108864
olcRootDN: {root}
olcRootPW: {pw}
olcAccess: {{0}}to * by * read
"""


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name,) if p.exists()), None
    )


@contextmanager
def slapd(tmp: Path) -> Iterator[str]:
    slapd_bin, slapadd_bin = _binary("slapd"), _binary("slapadd")
    if not slapd_bin or not slapadd_bin:
        missing("OpenLDAP slapd", "run 'make system-deps' (installs slapd and ldap-utils)")
    assert slapd_bin and slapadd_bin
    base = tmp / "slapd"
    (base / "conf").mkdir(parents=True)
    (base / "data").mkdir()
    includes = "\n".join(f"include: file:///etc/ldap/schema/{s}.ldif" for s in SCHEMAS)
    ldif = base / "config.ldif"
    ldif.write_text(
        CONFIG.format(dir=base, includes=includes, suffix=SUFFIX, root=ROOT_DN, pw=ROOT_PW)
    )
    subprocess.run(
        [slapadd_bin, "-n0", "-F", str(base / "conf"), "-l", str(ldif)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    log = (base / "slapd.log").open("wb")
    proc = subprocess.Popen(
        [slapd_bin, "-d", "0", "-h", url, "-F", str(base / "conf")], stdout=log, stderr=log
    )
    try:
        import ldap3

        deadline = time.monotonic() + 30
        while True:
            # A plain socket first: ldap3 leaks the socket of a refused connection.
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"slapd did not start: {(base / 'slapd.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        conn = ldap3.Connection(ldap3.Server(url), ROOT_DN, ROOT_PW, auto_bind=True)
        conn.add(SUFFIX, ["dcObject", "organization"], {"o": "Example", "dc": "example"})
        for ou in ("people", "groups"):
            conn.add(f"ou={ou},{SUFFIX}", ["organizationalUnit"], {"ou": ou})
        conn.unbind()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
