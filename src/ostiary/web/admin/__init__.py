"""The admin REST API (FastAPI, documented in OpenAPI at /api/docs)."""
