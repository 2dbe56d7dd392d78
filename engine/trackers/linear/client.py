"""A small async GraphQL client for Linear: auth, bounded concurrency, retries, rate limits.

Every request goes through `execute`, which is the only place that knows about HTTP. It answers
`data` or raises: `LinearError` for GraphQL errors (including HTTP 200 with `errors[]`, which is
never a success) and `MarathonError` for a bad key or an unreachable server. Nothing here ever
formats the key: it lives in `ApiKey`, which hides itself, and only reaches the wire.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from engine.errors import MarathonError
from engine.trackers.linear.auth import ApiKey
from engine.trackers.linear.retry import RetryPolicy, rate_limit_wait

log = logging.getLogger("engine.trackers.linear")

DEFAULT_URL = "https://api.linear.app/graphql"
_AUTH_CODES = {"AUTHENTICATION_ERROR", "FORBIDDEN", "UNAUTHENTICATED"}
_OPERATION = re.compile(r"\b(?:query|mutation)\s+(\w+)")

Sleep = Callable[[float], Awaitable[None]]

# Building an SSL context reads the CA bundle (tens of ms); every tracker call opens a fresh
# AsyncClient (one per asyncio.run), so the context is made once per process and shared.
_ssl_context = functools.cache(httpx.create_ssl_context)


@dataclass(frozen=True)
class GraphQLProblem:
    """One entry of `errors[]`, reduced to what callers decide on."""

    message: str
    code: str = ""
    path: tuple[str | int, ...] = ()


class LinearError(MarathonError):
    """Linear answered with GraphQL errors. `problems` keeps each one for callers to inspect."""

    def __init__(self, operation: str, problems: list[GraphQLProblem]) -> None:
        self.operation = operation
        self.problems = problems
        first = problems[0] if problems else GraphQLProblem("unknown error")
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        code = f" [{first.code}]" if first.code else ""
        super().__init__(f"Linear {operation}: {first.message}{code}{more}", exit_code=1)

    @property
    def already_exists(self) -> bool:
        """Linear's answer to a create whose client-made id is taken: "... already exists"."""
        return bool(self.problems) and all(
            "already exists" in p.message.lower() for p in self.problems
        )


class LinearUnavailable(MarathonError):
    """Linear could not be reached, or kept failing or rate limiting past our limits."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=1)


class LinearAuthError(MarathonError):
    """The key was refused: the user must fix it; retrying cannot help."""


class LinearClient:
    """`async with LinearClient(...) as client: await client.execute(doc, variables)`.

    The client can be entered again after it exits (each `asyncio.run` gets a fresh connection
    pool), so one instance serves a whole `LinearTracker`. `max_in_flight` bounds concurrent
    requests across every caller of this client: Linear limits requests per hour rather than
    concurrency, and 20 lets a typical spec's relations go out in one wave while staying polite.
    """

    def __init__(
        self,
        key: ApiKey,
        *,
        url: str = DEFAULT_URL,
        timeout: float = 30.0,
        max_in_flight: int = 20,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._key = key
        self.url = url
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._gate: asyncio.Semaphore | None = None
        self._depth = 0
        self.requests_sent = 0  # every HTTP attempt, retries included (benchmarks report it)

    def __repr__(self) -> str:
        return f"LinearClient(url={self.url!r}, key={self._key!r})"

    async def __aenter__(self) -> LinearClient:
        if self._depth == 0:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                verify=_ssl_context(),
                transport=self._transport,
                limits=httpx.Limits(max_connections=self.max_in_flight),
                headers={"Content-Type": "application/json", "User-Agent": "marathon-engine"},
            )
            self._gate = asyncio.Semaphore(self.max_in_flight)
        self._depth += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0 and self._http is not None:
            await self._http.aclose()
            self._http = None
            self._gate = None

    async def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> Any:
        """Send one GraphQL document; retry what is safe to retry; answer its `data`."""
        if self._http is None or self._gate is None:
            raise RuntimeError("use `async with LinearClient(...)` before execute()")
        match = _OPERATION.search(document)
        operation = match.group(1) if match else "request"
        body = {"query": document, "variables": dict(variables or {}), "operationName": operation}
        payload = json.dumps(body).encode()
        attempt = 0  # transient faults so far
        limited = 0  # rate-limit answers so far
        while True:
            async with self._gate:
                self.requests_sent += 1
                try:
                    response = await self._http.post(
                        self.url, content=payload, headers={"Authorization": self._key.header()}
                    )
                except httpx.TransportError as exc:
                    reason = _transport_reason(exc)
                    response = None
            if response is None:
                attempt += 1
                if attempt >= self.policy.max_attempts:
                    raise LinearUnavailable(
                        f"cannot reach Linear at {self.url}: {reason} "
                        f"(gave up after {attempt} attempts; check the network or tracker.url)"
                    ) from None
                await self._back_off(operation, attempt, reason)
                continue
            outcome, data = self._classify(operation, response)
            if outcome == "ratelimited":
                limited += 1
                wait = rate_limit_wait(
                    response.headers, self._clock(), self.policy.rate_limit_fallback
                )
                if limited >= self.policy.max_attempts or wait > self.policy.max_rate_limit_wait:
                    raise LinearUnavailable(
                        f"Linear is rate limiting this key; it resets in about {wait:.0f}s "
                        "(try again then)"
                    )
                log.info("linear %s: rate limited, waiting %.2fs", operation, wait)
                await self._sleep(wait)
                continue
            if outcome == "transient":
                attempt += 1
                reason = f"HTTP {response.status_code}"
                if attempt >= self.policy.max_attempts:
                    raise LinearUnavailable(
                        f"Linear keeps failing ({reason}) for {operation} "
                        f"after {attempt} attempts; try again later"
                    )
                await self._back_off(operation, attempt, reason)
                continue
            return data

    async def _back_off(self, operation: str, attempt: int, reason: str) -> None:
        delay = self.policy.backoff(attempt - 1)
        log.info("linear %s: %s, retry %d in %.2fs", operation, reason, attempt, delay)
        await self._sleep(delay)

    def _classify(self, operation: str, response: httpx.Response) -> tuple[str, Any]:
        """`("ok", data)`, `("ratelimited", None)`, `("transient", None)`, or raise."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        problems = _problems(body)
        codes = {p.code for p in problems}
        if "RATELIMITED" in codes or status == 429:
            return "ratelimited", None
        if status in (401, 403) or codes & _AUTH_CODES:
            raise LinearAuthError(
                f"Linear rejected the API key from {self._key.source} (HTTP {status}); "
                f"{self._key.fix_hint()}",
                exit_code=2,
            )
        if status >= 500 or status == 408:  # the server or a proxy in front of it hiccuped
            return "transient", None
        if problems:
            raise LinearError(operation, problems)
        if not isinstance(body, dict) or body.get("data") is None:
            raise LinearError(operation, [GraphQLProblem(f"unexpected answer (HTTP {status})")])
        return "ok", body["data"]


def _problems(body: object) -> list[GraphQLProblem]:
    if not isinstance(body, dict) or not body.get("errors"):
        return []
    found = []
    for error in body["errors"]:
        if not isinstance(error, dict):
            continue
        extensions = error.get("extensions") or {}
        found.append(
            GraphQLProblem(
                message=" ".join(str(error.get("message", "")).split()),
                code=str(extensions.get("code", "")) if isinstance(extensions, dict) else "",
                path=tuple(error.get("path") or ()),
            )
        )
    return found


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or no route"
    return f"connection dropped ({type(exc).__name__})"
