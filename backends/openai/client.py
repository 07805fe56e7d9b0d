"""HTTP for the OpenAI-compatible backend (httpx): timeouts, retries with exponential backoff and
jitter (honouring `Retry-After`), and an API key that lives only in the request headers.

Retried: connection failures, timeouts, dropped connections, and HTTP 408/409/425/429/5xx (a
server restarting mid-run answers again after a while: a vLLM restart took 85-95 s here). A
failing request is retried for `patience` seconds (default 300) with a countdown on stderr at
most every few seconds. Other 4xx answers are final. No message
this module raises contains the key: it is removed from any text before it is used.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jlce.errors import JLCEError, UserError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ApiError(JLCEError):
    """The server kept failing after every retry."""


class ApiRejected(UserError):
    """The server refused the request (a final 4xx answer)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


NOTICE_EVERY = 5.0  # seconds between two countdown lines on stderr


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 1000
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    backoff_max: float = 10.0
    patience: float = 300.0  # seconds a failing request is retried for

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `attempt` (0-based): full jitter over the doubled backoff,
        at least what `Retry-After` asks for (both capped by `backoff_max`)."""
        ceiling = min(self.backoff_max, self.backoff * 2 ** attempt)
        wait = ceiling * (0.5 + random.random() / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max))
        return wait


def clean_base_url(url: str) -> str:
    """`http(s)://host[:port]/path` without a trailing slash; credentials in the URL are refused
    (a key belongs in an environment variable), queries and fragments are dropped."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, not '{url}'")
    if parts.username or parts.password:
        raise UserError("base_url must not contain credentials; put the key in the environment variable "
                        "named by --backend-arg api_key_env (default OPENAI_API_KEY)")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class ApiClient:
    """A thread-safe client for one server. `request()` returns the decoded JSON answer."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float, retry: RetryPolicy,
                 connections: int = 8, sleep: Callable[[float], None] = time.sleep,
                 notice: Callable[[str], None] | None = None):
        import httpx

        self.base_url = clean_base_url(base_url)
        self.retry = retry
        self._secret = api_key or None
        self._sleep = sleep
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.retries = 0  # retries performed, for describe()
        self._notice = notice or (lambda text: sys.stderr.write(text + "\n"))
        self._last_notice = 0.0
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url + "/", headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def _clean(self, text: str) -> str:
        return text.replace(self._secret, "<redacted>") if self._secret else text

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        import httpx

        url = f"{self.base_url}/{path}"
        last = ""
        first_failure: float | None = None
        attempt = 0
        for attempt in range(self.retry.max_retries + 1):
            response = None
            try:
                response = self._http.request(method, path, json=payload)
            except httpx.TransportError as error:  # refused, reset, timed out
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        last = f"HTTP {response.status_code} with a body that is not JSON"
                elif response.status_code not in RETRY_STATUS:
                    raise self._rejected(method, url, response)
                else:
                    last = f"HTTP {response.status_code}: {_body_message(response)}"
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            left = self.retry.patience - (now - first_failure)
            if attempt == self.retry.max_retries or left <= 0 or self._closed.is_set():
                break
            delay = min(self.retry.delay(attempt, _retry_after(response)), left)
            with self._lock:
                self.retries += 1
                speak = now - self._last_notice >= NOTICE_EVERY
                if speak:
                    self._last_notice = now
            if speak:
                self._notice(self._clean(f"jlce: {self.base_url} is not answering ({last[:160]}); retrying in "
                                         f"{delay:.0f} s, giving up in {left:.0f} s"))
            self._sleep(delay)
        raise ApiError(self._clean(
            f"{method} {url} failed after {attempt + 1} attempts over {self.retry.patience:.0f} s at most (last: {last}); "
            "finished batches are cached: run the same command again to resume (--backend-arg patience=SECONDS "
            "waits longer)"))

    def _rejected(self, method: str, url: str, response: Any) -> ApiRejected:
        status = response.status_code
        detail = self._clean(_body_message(response))
        if status in (401, 403):
            return ApiRejected(f"{url} refused the API key (HTTP {status}: {detail}); check the environment "
                               "variable named by --backend-arg api_key_env", status)
        return ApiRejected(f"{method} {url}: HTTP {status}: {detail}", status)

    def close(self) -> None:
        self._closed.set()
        self._http.close()


def _body_message(response: Any) -> str:
    """The server's error message, short."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        error = error.get("message", error)
    return str(error)[:300]
