"""Ostiary: a self-hosted identity provider."""

__version__ = "0.1.0"
