"""Transforms: staged source records → the HQ state we want (pure functions, no API calls)."""
