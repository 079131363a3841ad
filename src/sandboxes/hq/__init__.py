"""The hq sandbox (see docs/sandbox/hq.md)."""
