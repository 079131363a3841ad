"""The HQ absence type catalogue and the Personio → HQ mapping in HQ's comma-separated form (B4)."""

import pytest

from hq_sync.mappings import MappingError, build_mapping, load_catalogue, load_default_setting

PRODUCT_LABELS = [
    "Krankheit", "Kind krank", "Unbezahlte Krankheit (>6 Wochen)", "Überstundenabbau", "Remote Arbeit",
    "Betriebliche Gründe", "Persönliche Gründe", "Fortbildung", "Berufsschule", "Mutterschutz",
    "Elternzeit", "Urlaub", "Unbezahlter Urlaub", "Sonderurlaub",
]


def test_catalogue_has_the_14_types_of_product_md_with_their_flags():
    catalogue = load_catalogue()
    assert [t.label for t in catalogue] == PRODUCT_LABELS
    assert {t.enum for t in catalogue if t.full_day_only} == {"OvertimeCompensation", "MaternityLeave", "ParentalLeave"}
    assert {t.enum for t in catalogue if t.hour_based} == {"CompanyAbsence", "PrivateAbsence"}


def test_default_setting_covers_every_hq_type():
    assert set(load_default_setting()) == set(PRODUCT_LABELS)


def test_several_personio_types_map_to_one_hq_type_case_and_space_insensitively():
    mapping = build_mapping()
    assert mapping.resolve("Urlaub").enum == "Vacation"
    assert mapping.resolve("  paid   VACATION ").enum == "Vacation"
    assert mapping.resolve("Homeoffice").enum == mapping.resolve("Mobiles Arbeiten").enum == "RemoteWork"


def test_unknown_personio_type_is_not_guessed():
    mapping = build_mapping()
    assert mapping.resolve("Urlaub2") is None
    assert mapping.resolve("Workation") is None


def test_override_replaces_a_whole_hq_type_by_label_or_enum():
    mapping = build_mapping({"RemoteWork": "Workation"})
    assert mapping.resolve("Workation").label == "Remote Arbeit"
    assert mapping.resolve("Homeoffice") is None  # the default list of that type was replaced
    assert build_mapping({"Remote Arbeit": ""}).resolve("Homeoffice") is None


def test_ambiguous_or_unknown_settings_are_errors():
    with pytest.raises(MappingError, match="mapped to both"):
        build_mapping({"Krankheit": "Urlaub"})
    with pytest.raises(MappingError, match="unknown HQ absence type"):
        build_mapping({"Holiday": "Urlaub"})
