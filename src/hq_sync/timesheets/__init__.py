"""Timesheet files (timeBro and agencies' own tools) → HQ reportings (product.md C1): reading, matching,
the drop folder."""
