"""Shared Signals Framework 1.0 transmitter: the pure parts (events, subjects, stream
configuration rules, SET signing). Persistence is in ``ostiary.store.repositories.ssf``,
HTTP in ``ostiary.web.ssf``."""
