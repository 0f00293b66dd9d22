"""Cryptographic building blocks: the envelope vault, keyed hashes, token secrets."""
