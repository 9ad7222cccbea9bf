"""Rate limits as fixed-window counters.

DRF's throttles keep the time of every request in the window and pickle that list on every
request, so their cost grows with the rate. These count requests per fixed window instead:
two cache operations whatever the rate. A client can spend two windows' worth across a window
boundary, which is acceptable for abuse protection.
"""

from __future__ import annotations

from rest_framework.throttling import (
    AnonRateThrottle,
    ScopedRateThrottle,
    SimpleRateThrottle,
    UserRateThrottle,
)


class FixedWindowRateThrottle(SimpleRateThrottle):
    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window_start = int(self.now // self.duration) * self.duration
        self.window_end = window_start + self.duration
        counter = f"{self.key}:{window_start}"
        self.cache.add(counter, 0, timeout=self.duration + 1)
        try:
            count = self.cache.incr(counter)
        except ValueError:
            self.cache.set(counter, 1, timeout=self.duration + 1)
            count = 1
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_end - self.now, 1)


class AnonThrottle(AnonRateThrottle, FixedWindowRateThrottle):
    """THROTTLE_ANON, per client address."""


class UserThrottle(UserRateThrottle, FixedWindowRateThrottle):
    """THROTTLE_USER, per signed-in user."""


class AuthThrottle(ScopedRateThrottle, FixedWindowRateThrottle):
    """THROTTLE_AUTH for views with `throttle_scope = "auth"`, per client address."""


class FormThrottle(FixedWindowRateThrottle):
    """THROTTLE_AUTH for the sign-in and sign-up pages, per client address (its own count)."""

    scope = "auth"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": "auth-form", "ident": self.get_ident(request)}
