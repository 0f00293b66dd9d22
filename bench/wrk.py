"""Drive ``wrk`` (a C load generator) with a file of pre-built raw HTTP/1.1 requests.

Why wrk: the asyncio generator in ``scim_seed.hammer`` costs about as much CPU per
request as the server's cheapest routes, and on a 2-core machine the generator shares the
cores with the server, so it capped the measured rate. wrk's event loop costs a few
microseconds per request.

Requests are raw bytes (``scim_seed.http_request``, ``loadgen.form_request``), so single-use
requests (DPoP proofs, client assertions with a fresh ``jti``, distinct userNames) are built
in Python beforehand and each is sent once (``once=True``: a connection stops when the
file is used up, and ``run`` raises: build more than the run can send) or the list is
cycled (``once=False``). A Lua script hands them out in
order across connections, counts statuses, and prints one JSON line that is parsed here.

``make bench-deps`` installs wrk (Debian package ``wrk``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

SEP = b"\n\x00\x00\n"  # never occurs in an HTTP request we build (no NUL bytes)

_SCRIPT = r"""
local sep = "\n\0\0\n"
local path = os.getenv("OSTIARY_WRK_REQUESTS")
local once = os.getenv("OSTIARY_WRK_ONCE") == "1"
local reqs = {}
local n = 0
local i = 0
local filler = "GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
statuses = {}
exhausted = 0
fillers = 0

function init(args)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local s, e = string.find(data, sep, pos, true)
    if not s then break end
    n = n + 1
    reqs[n] = string.sub(data, pos, s - 1)
    pos = e + 1
  end
end

function request()
  i = i + 1
  if i > n then
    if once then
      -- request() must return something: a health probe, never a replayed request,
      -- and not counted (subtracted in done()).
      exhausted = 1
      fillers = fillers + 1
      wrk.thread:stop()
      return filler
    end
    i = 1
  end
  return reqs[i]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local merged = {}
  local ran_out = 0
  local fill = 0
  for _, t in ipairs(threads) do
    fill = fill + t:get("fillers")
    for k, v in pairs(t:get("statuses")) do
      merged[tostring(k)] = (merged[tostring(k)] or 0) + v
    end
    ran_out = ran_out + t:get("exhausted")
  end
  -- a filler that was answered counted as a 200; one that was not is not in requests
  local answered_fill = math.min(fill, merged["200"] or 0)
  if answered_fill > 0 then merged["200"] = merged["200"] - answered_fill end
  local parts = {}
  for k, v in pairs(merged) do
    table.insert(parts, string.format('"%s": %d', k, v))
  end
  io.write(string.format(
    'OSTIARY_WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "socket_errors": %d, "exhausted": %d, "statuses": {%s}}\n',
    summary.requests - answered_fill, summary.duration,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    ran_out, table.concat(parts, ", ")))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    addr: str,
    requests: list[bytes],
    *,
    seconds: float,
    connections: int,
    once: bool = False,
    threads: int = 1,
) -> dict[str, Any]:
    """Send ``requests`` to ``addr`` (host:port) for ``seconds``; rates and latencies.

    One wrk thread by default: it is enough for tens of thousands of requests per second
    and leaves the second core to the server. With ``threads`` > 1 each thread replays the
    whole list, so single-use requests need ``threads=1``.
    """
    if not available():
        raise SystemExit("wrk is not installed: run `make bench-deps` (Debian package wrk)")
    if once and threads != 1:
        raise ValueError("single-use requests need one wrk thread")
    with tempfile.TemporaryDirectory(prefix="ostiary-wrk-") as tmp:
        req_file = Path(tmp) / "requests.bin"
        req_file.write_bytes(b"".join(r + SEP for r in requests))
        script = Path(tmp) / "replay.lua"
        script.write_text(_SCRIPT)
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{addr}/",
        ]
        env = {"OSTIARY_WRK_REQUESTS": str(req_file), "OSTIARY_WRK_ONCE": "1" if once else "0"}
        proc = subprocess.run(
            cmd, env={**_base_env(), **env}, capture_output=True, text=True, check=False
        )
    result = _parse(proc)
    if result["exhausted"]:
        # wrk keeps its clock running to -d after a thread stops, so a rate over a used-up
        # file would be understated: build more requests (rate x seconds x 1.5) instead.
        raise RuntimeError(
            f"the {len(requests):,} single-use requests ran out before {seconds} s: build more"
        )
    return result


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _parse(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    line = next((x for x in proc.stdout.splitlines() if x.startswith("OSTIARY_WRK ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (rc {proc.returncode}): {proc.stderr or proc.stdout}")
    data = json.loads(line[len("OSTIARY_WRK ") :])
    seconds = data["duration_us"] / 1e6
    return {
        "rps": data["requests"] / seconds if seconds else 0.0,
        "n": data["requests"],
        "seconds": seconds,
        "p50_ms": data["p50_us"] / 1000,
        "p90_ms": data["p90_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "socket_errors": data["socket_errors"],
        "exhausted": bool(data["exhausted"]),
        "statuses": {int(k): v for k, v in data["statuses"].items()},
    }
