"""The 14 HQ absence types and the mapping of Personio absence types onto them.

HQ's own Personio setting is, per HQ absence type, a comma-separated list of Personio type names
(product.md B4). We keep exactly that form: ``include/mappings/personio_to_hq_default.yaml`` holds
the defaults, a tenant file overrides whole HQ types. Names match after trimming and case-folding;
anything else (typos, near matches) is left unmapped and quarantined by the pipeline, not guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from hq_sync.paths import mappings_dir

CATALOGUE_FILE = "hq_absence_types.yaml"
DEFAULT_MAPPING_FILE = "personio_to_hq_default.yaml"


class MappingError(ValueError):
    """A mapping setting that cannot be applied (unknown HQ type, ambiguous Personio type)."""


@dataclass(frozen=True)
class HqAbsenceType:
    label: str  # German label, as HQ shows it and keys its setting
    enum: str  # value of the v1 API's UserAbsence.Type
    full_day_only: bool  # "nur ganztägig"
    hour_based: bool  # HQ takes UTC date-times instead of days


# libyaml's safe loader where PyYAML has it, as for tenant files (the catalogue is read by every
# DAG parse, issue #11); the same safe constructor either way.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def normalize_type_name(name: str) -> str:
    """The form in which Personio type names are compared: trimmed, inner spaces folded, casefolded."""
    return " ".join(name.split()).casefold()


def load_catalogue(path: Path | None = None) -> tuple[HqAbsenceType, ...]:
    """Read and check the HQ absence type catalogue; returns the 14 types in HQ's order."""
    return _load_catalogue(path or mappings_dir() / CATALOGUE_FILE)


@cache
def _load_catalogue(path: Path) -> tuple[HqAbsenceType, ...]:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506
    types = tuple(
        HqAbsenceType(
            label=str(item["label"]),
            enum=str(item["enum"]),
            full_day_only=bool(item["full_day_only"]),
            hour_based=bool(item["hour_based"]),
        )
        for item in raw
    )
    labels = {t.label for t in types}
    enums = {t.enum for t in types}
    if len(types) != 14 or len(labels) != 14 or len(enums) != 14:
        raise MappingError(f"{path}: expected 14 distinct HQ absence types, found {len(types)}")
    return types


def load_default_setting(path: Path | None = None) -> dict[str, str]:
    """The default mapping setting: HQ type label → comma-separated Personio type names.

    Read once per process and file version (validating hundreds of tenant files needs it for
    each; a changed file is read again): returns a fresh dict each call.
    """
    path = path or mappings_dir() / DEFAULT_MAPPING_FILE
    stat = path.stat()
    return dict(_load_default_setting(path, stat.st_mtime_ns, stat.st_size))


@cache
def _load_default_setting(path: Path, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}  # noqa: S506
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: expected a mapping of HQ type to a comma-separated list")
    return tuple((str(k), "" if v is None else str(v)) for k, v in raw.items())


@dataclass(frozen=True)
class AbsenceTypeMapping:
    """Personio type name → HQ absence type, built from HQ-style settings."""

    by_personio_name: Mapping[str, HqAbsenceType]
    setting: Mapping[str, str]  # the effective setting, per HQ label (for reports and docs)

    def resolve(self, personio_type_name: str) -> HqAbsenceType | None:
        """The HQ type for a Personio type name, or None when the name is not mapped."""
        return self.by_personio_name.get(normalize_type_name(personio_type_name))


def _find_type(key: str, catalogue: tuple[HqAbsenceType, ...]) -> HqAbsenceType:
    wanted = normalize_type_name(key)
    for hq_type in catalogue:
        if wanted in (normalize_type_name(hq_type.label), hq_type.enum.casefold()):
            return hq_type
    known = ", ".join(t.label for t in catalogue)
    raise MappingError(f"unknown HQ absence type {key!r}; known types: {known}")


def build_mapping(
    overrides: Mapping[str, str] | None = None,
    *,
    defaults: Mapping[str, str] | None = None,
    catalogue: tuple[HqAbsenceType, ...] | None = None,
) -> AbsenceTypeMapping:
    """Combine the default setting with a tenant's overrides (whole HQ types replaced).

    Keys may be an HQ label ("Urlaub") or its API enum ("Vacation"). Raises MappingError for an
    unknown HQ type or a Personio type listed under two HQ types.
    """
    catalogue = catalogue or load_catalogue()
    defaults = load_default_setting() if defaults is None else defaults
    effective: dict[str, str] = {}
    for key, value in defaults.items():
        effective[_find_type(key, catalogue).label] = value
    for key, value in (overrides or {}).items():
        effective[_find_type(key, catalogue).label] = value or ""

    by_name: dict[str, HqAbsenceType] = {}
    for label, value in effective.items():
        hq_type = _find_type(label, catalogue)
        for name in value.split(","):
            norm = normalize_type_name(name)
            if not norm:
                continue
            other = by_name.get(norm)
            if other is not None and other != hq_type:
                raise MappingError(
                    f"Personio type {name.strip()!r} is mapped to both {other.label!r} and "
                    f"{hq_type.label!r}; list it under one HQ type only"
                )
            by_name[norm] = hq_type
    return AbsenceTypeMapping(by_personio_name=by_name, setting=effective)
