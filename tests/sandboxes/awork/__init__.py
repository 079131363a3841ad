"""Tests of the awork sandbox."""
