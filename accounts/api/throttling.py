"""The limits of `POST /auth/refresh`.

A refresh token is signed with the server's key: it cannot be guessed, so THROTTLE_AUTH, a
limit on password guesses per client address, is not its limit. Counted per address, every
signed-in SPA behind one address (an office's NAT, a carrier's CGNAT) refreshing every 5
minutes shared 10 a minute with each other and with anyone there mistyping a password, and
past it they were all signed out. A refresh counts for the user its token names instead, as
the API's other requests do; only what is not a token this server signed counts for the
client address that sent it.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework.request import Request

from accounts import selectors
from common.api.throttling import FixedWindowRateThrottle


class RefreshThrottle(FixedWindowRateThrottle):
    """THROTTLE_REFRESH per user for a refresh token this server signed and that has not
    expired, from whatever client address (one its user can no longer use, after a new
    password or a deactivation, counts too: only its holder can send it).
    THROTTLE_INVALID_REFRESH per client address for anything else: an expired token, one not
    signed by this server, an access token, no token."""

    def __init__(self) -> None:
        """The scope, and with it the rate, is known only from the request's token (as in
        DRF's ScopedRateThrottle, from its view)."""

    def allow_request(self, request: Request, view: object) -> bool:
        body = request.data
        refresh = body.get("refresh") if isinstance(body, Mapping) else None
        self.user_id = selectors.refresh_token_user_id(refresh=refresh)
        self.scope = "invalid_refresh" if self.user_id is None else "refresh"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: object) -> str:
        ident = self.get_ident(request) if self.user_id is None else self.user_id
        return self.cache_format % {"scope": self.scope, "ident": ident}
