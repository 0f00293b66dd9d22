"""Repositories: one per aggregate, each bound to a connection (one unit of work)."""
