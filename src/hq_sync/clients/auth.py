"""Bearer credentials, shared by the awork and HQ clients.

- ``BearerAuth``: what a client needs from its credentials: ``authorization()`` returns the
  ``Authorization`` header value for the next request, ``invalidate()`` drops cached credentials
  after a 401 and returns whether a retry can help.
- ``StaticBearerToken``: a token that never changes (an awork API key, HQ's sync token); a 401 is
  final. OAuth tokens: ``hq_sync.clients.oauth.RotatingOAuthTokens``.
"""

from __future__ import annotations

from typing import Protocol


class BearerAuth(Protocol):
    """How a client authenticates: a static token or OAuth tokens."""

    def authorization(self) -> str:
        """The ``Authorization`` header value for the next request."""
        ...

    def invalidate(self) -> bool:
        """Drop cached credentials after a 401; True when a retry can help."""
        ...


class StaticBearerToken:
    """A static bearer token; never shown (``repr`` hides it), never renewed."""

    what = "token"  # what the token is called in errors

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError(f"empty {self.what}")
        self._token = token

    def __repr__(self) -> str:  # never show the token
        return f"{type(self).__name__}(***)"

    def authorization(self) -> str:
        return f"Bearer {self._token}"

    def invalidate(self) -> bool:
        return False  # a rejected token stays rejected: fail with the 401
