"""Absence type catalogue and Personio → HQ type mapping (product.md B4, B5)."""

from hq_sync.mappings.absence_types import (
    AbsenceTypeMapping,
    HqAbsenceType,
    MappingError,
    build_mapping,
    load_catalogue,
    load_default_setting,
)

__all__ = [
    "AbsenceTypeMapping",
    "HqAbsenceType",
    "MappingError",
    "build_mapping",
    "load_catalogue",
    "load_default_setting",
]
