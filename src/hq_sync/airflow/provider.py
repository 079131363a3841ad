"""hq-sync as an Airflow provider: the HQ, awork and Personio connection types of the Airflow UI.

Registered with the ``apache_airflow_provider`` entry point in pyproject.toml; Airflow's providers
manager reads ``get_provider_info()`` without importing the hooks (``conn-fields`` and
``ui-field-behaviour`` are the declarative form of Airflow >= 3.2; the hooks' own
``get_connection_form_widgets`` / ``get_ui_field_behaviour`` are deprecated there). The hooks
(``hq_sync.airflow.connection_types``) are imported only when a connection is used or tested.

The form fields write the connection's extra under the key of the field (``app_id``,
``requests_per_minute``, ...); empty fields are written as ``null``, which counts as not set
(``hq_sync.connection_extras``). Every other key can still be set in the Extra JSON box, and is
validated just the same.

No Airflow import here: this module is loaded by every Airflow process that lists providers.
"""

from __future__ import annotations

from typing import Any

PACKAGE_NAME = "hq-sync"
HOOKS = "hq_sync.airflow.connection_types"

# connection type -> (hook class, display name, base URL placeholder, login label, password label)
CONNECTION_TYPES: dict[str, tuple[str, str, str, str, str]] = {
    "hq": (
        "HqHook",
        "helloHQ (hq-sync)",
        "https://api.hellohq.io/v1",
        "App ID (OAuth only)",
        "Sync token (or App secret with OAuth)",
    ),
    "awork": (
        "AworkHook",
        "awork (hq-sync)",
        "https://api.awork.com/api/v1",
        "Client ID (OAuth only)",
        "API key (or client secret with OAuth)",
    ),
    "personio": ("PersonioHook", "Personio (hq-sync)", "https://api.personio.de", "Client ID", "Client secret"),
}

_COMMON_FIELDS: dict[str, dict[str, Any]] = {
    "requests_per_minute": {
        "label": "Rate limit share (requests per minute)",
        "description": "This vendor account's request budget per minute, shared by every task and worker "
        "(empty: hq-sync's default for the vendor; 0: no per-minute limit).",
        "schema": {"type": ["integer", "null"], "minimum": 0},
    },
    "rate_account": {
        "label": "Rate limit account",
        "description": "Connections with the same name share one request budget (empty: the same base URL "
        "and credentials share one).",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Read timeout (seconds)",
        "description": "Seconds to wait for one answer (empty: 30).",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
}

_APP_ID = {
    "app_id": {
        "label": "App ID (X-Personio-App-ID)",
        "description": "Identifies the integration to Personio (empty: HQ_SYNC).",
        "schema": {"type": ["string", "null"]},
    },
}


def conn_fields(conn_type: str) -> dict[str, dict[str, Any]]:
    """The connection form's extra fields of ``conn_type`` (each an extra key of its vendor model)."""
    return {**(_APP_ID if conn_type == "personio" else {}), **_COMMON_FIELDS}


def ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    _, _, base_url, login, password = CONNECTION_TYPES[conn_type]
    # The port stays visible: Airflow 3.3.2's Test button (connection list) sends port 0 for a
    # connection without one, and the API server then refuses the test ("host or port differs").
    # With the Base URL's port stored too (443 for https), the button works; the URL's port wins.
    return {
        "hidden-fields": ["schema"],
        "relabeling": {
            "host": "Base URL",
            "login": login,
            "password": password,
            "port": "Port (of the Base URL; the Test button needs it)",
        },
        "placeholders": {"host": base_url, "port": "443"},
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE_NAME,
        "name": "hq-sync",
        "description": "Connection types of hq-sync: helloHQ, awork and Personio (docs/runbook.md#connections).",
        "connection-types": [
            {
                "hook-class-name": f"{HOOKS}.{hook}",
                "hook-name": name,
                "connection-type": conn_type,
                "conn-fields": conn_fields(conn_type),
                "ui-field-behaviour": ui_field_behaviour(conn_type),
            }
            for conn_type, (hook, name, *_rest) in CONNECTION_TYPES.items()
        ],
    }
