"""Foundations shared by every package: ids, clock, crypto, errors, settings.

Only the standard library, ``cryptography`` and ``joserfc`` may be imported here.
"""
