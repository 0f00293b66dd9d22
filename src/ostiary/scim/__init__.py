"""SCIM 2.0 (RFC 7643/7644): resources, filters, patch, bulk, etags. No HTTP here."""
