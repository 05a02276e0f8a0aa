"""The HTTP core every collector shares: bearer tokens cached until shortly before they expire,
retries with exponential backoff and jitter on 429, 5xx and timeouts (honouring Retry-After and
X-Ratelimit-Reset), one token refresh on a 401, and secrets kept out of every message.
"""

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

TOKEN_MARGIN_SECONDS = 60  # a token is renewed this long before it expires


class CollectionError(RuntimeError):
    """A request that failed for good: the message names the request, never a secret."""


class CredentialsRefused(CollectionError):
    """The platform refused the client id and secret (the message says which status, never the secret)."""


class QuotaExhausted(CollectionError):
    """The platform's daily quota is spent: stop cleanly, the next run resumes where this one stopped."""


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


@dataclass
class BearerToken:
    """A token from `fetch` (returns the token and its lifetime in seconds), reused until near expiry."""

    fetch: Callable[[], tuple[str, float]]
    clock: Callable[[], float] = time.monotonic
    _token: str | None = None
    _expires_at: float = 0.0

    def get(self) -> str:
        if self._token is None or self.clock() >= self._expires_at - TOKEN_MARGIN_SECONDS:
            self._token, lifetime = self.fetch()
            self._expires_at = self.clock() + lifetime
        return self._token

    def invalidate(self) -> None:
        self._token = None

    @property
    def current(self) -> str | None:
        return self._token


@dataclass
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 300.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before the next attempt: what the server asks for, else backoff with jitter."""
        if response is not None:
            for header in ("Retry-After", "X-Ratelimit-Reset"):
                value = response.headers.get(header)
                if value:
                    try:
                        return min(float(value), self.max_delay)
                    except ValueError:
                        pass  # an HTTP date: fall back to backoff
        return min(self.base_delay * 2**attempt, self.max_delay) * random.uniform(0.5, 1.0)


@dataclass
class ApiClient:
    """Requests to one API. `is_quota_exhausted` tells a spent daily quota from a passing rate limit."""

    base_url: str
    user_agent: str
    token: BearerToken | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    secrets: tuple[str, ...] = ()
    is_quota_exhausted: Callable[[httpx.Response], bool] = lambda response: False
    after_response: Callable[[httpx.Response], None] = lambda response: None
    timeout: float = 60.0
    requests_sent: int = 0

    def __post_init__(self) -> None:
        self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout, headers={"User-Agent": self.user_agent})

    def close(self) -> None:
        self._http.close()

    def _message(self, text: str) -> str:
        return redact(text, [*self.secrets, self.token.current if self.token and self.token.current else ""])

    def send(self, method: str, path: str, **kwargs) -> httpx.Response:
        refreshed = False
        response: httpx.Response | None = None
        for attempt in range(self.policy.attempts):
            headers = {"Authorization": f"Bearer {self.token.get()}"} if self.token else {}
            try:
                self.requests_sent += 1
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as error:  # timeouts, refused or dropped connections
                if attempt + 1 == self.policy.attempts:
                    raise CollectionError(self._message(f"{method} {path}: {type(error).__name__}")) from None
                self.policy.sleep(self.policy.delay(attempt, None))
                continue
            if response.status_code == 401 and self.token and not refreshed:
                self.token.invalidate()  # expired or revoked mid-run: one new token, then the same request
                refreshed = True
                continue
            if self.is_quota_exhausted(response):
                raise QuotaExhausted(
                    self._message(f"{method} {path}: the daily quota is spent ({response.status_code})")
                )
            if response.status_code == 429 or response.status_code >= 500:
                if attempt + 1 < self.policy.attempts:
                    self.policy.sleep(self.policy.delay(attempt, response))
                continue
            if response.status_code >= 400:
                raise CollectionError(
                    self._message(f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}")
                )
            self.after_response(response)
            return response
        status = response.status_code if response is not None else "no response"
        raise CollectionError(
            self._message(f"{method} {path}: gave up after {self.policy.attempts} attempts ({status})")
        )
