"""Provisioning keys: format, scopes, verification, rotation, rate limits, anomalies."""
