"""Local, vendor-faithful copies of the awork, Personio and HQ APIs (see docs/sandbox.md).

Each vendor lives in its own subpackage exposing ``create_app(data_dir) -> ASGI app``; the
launcher in ``sandboxes.__main__`` serves all three, and ``sandboxes.testing`` starts them for tests.
"""

VENDORS = ("awork", "personio", "hq")
DEFAULT_PORTS = {"awork": 8301, "personio": 8302, "hq": 8303}
