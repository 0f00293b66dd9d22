"""Provisioning keys at run time: cache, limits, usage, anomalies, notifications, admin."""
