"""Loaders: make HQ match the planned state, idempotently (hq_links records what we wrote)."""
