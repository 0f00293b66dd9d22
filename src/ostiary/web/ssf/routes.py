"""The SSF route table (full paths, so metrics label each template)."""

from __future__ import annotations

from starlette.routing import Route

from ostiary.web.ssf import management, poll

routes = [
    Route("/.well-known/ssf-configuration", management.configuration, methods=["GET"]),
    Route("/ssf/jwks", management.jwks, methods=["GET"]),
    Route("/ssf/stream", management.stream, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
    Route("/ssf/status", management.status, methods=["GET", "POST"]),
    Route("/ssf/verify", management.verify, methods=["POST"]),
    Route("/ssf/subjects:add", management.add_subject, methods=["POST"]),
    Route("/ssf/subjects:remove", management.remove_subject, methods=["POST"]),
    Route("/ssf/poll/{stream_id}", poll.poll, methods=["POST"]),
]
