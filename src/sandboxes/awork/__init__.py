"""The awork sandbox (see docs/sandbox/awork.md)."""
