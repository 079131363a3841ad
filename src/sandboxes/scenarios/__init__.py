"""Scenarios for the sandboxes (the demo scenario is generated, deterministic)."""
