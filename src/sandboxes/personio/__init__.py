"""The personio sandbox (see docs/sandbox/personio.md)."""
