"""Background workers that run inside ``ostiary serve`` (or alone via the CLI)."""
