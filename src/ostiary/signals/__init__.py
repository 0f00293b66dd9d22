"""Deprovisioning fan-out: back-channel logout, SSF/CAEP, the outbox worker."""
