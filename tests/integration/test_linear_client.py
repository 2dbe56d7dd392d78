"""The Linear client against the fake server: auth, errors, and a retry for every fault kind."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from engine.errors import MarathonError
from engine.trackers.linear import documents as docs
from engine.trackers.linear.auth import ApiKey
from engine.trackers.linear.client import (
    LinearAuthError,
    LinearClient,
    LinearError,
    LinearUnavailable,
)
from engine.trackers.linear.retry import RetryPolicy
from tests.fakes.linear_server import FakeLinear, Fault, client_for

SECRET = "lin_api_TOPSECRET0000000000"


def run(client: LinearClient, document: str, variables: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with client:
            return await client.execute(document, variables)

    return asyncio.run(go())


def team_query(fake: FakeLinear, client: LinearClient) -> Any:
    return run(client, docs.TEAM, {"key": "ENG", "project": "P"})


@pytest.fixture
def fake() -> Any:
    with FakeLinear(api_key=SECRET) as linear:
        linear.add_team("ENG")
        yield linear


class Sleeps:
    """An injectable sleep that records how long the client wanted to wait, and does not."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_personal_key_is_sent_raw(fake: FakeLinear) -> None:
    data = team_query(fake, client_for(fake))
    assert data["teams"]["nodes"][0]["key"] == "ENG"
    assert fake.requests[-1].authorization == SECRET


def test_oauth_token_is_sent_as_bearer() -> None:
    with FakeLinear(api_key="lin_oauth_token123") as linear:
        linear.add_team("ENG")
        team_query(linear, client_for(linear))
        assert linear.requests[-1].authorization == "Bearer lin_oauth_token123"


def test_wrong_key_is_a_one_line_error_naming_the_variable(
    fake: FakeLinear, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "lin_api_WRONGWRONGWRONG"
    client = client_for(fake, key=wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(LinearAuthError) as caught:
        team_query(fake, client)
    message = str(caught.value)
    assert "LINEAR_API_KEY" in message and "\n" not in message
    assert caught.value.exit_code == 2
    assert len(fake.requests) == 1  # a refused key is not retried
    for text in (message, repr(caught.value), repr(client), caplog.text):
        assert wrong not in text


def test_graphql_errors_with_http_200_are_errors(fake: FakeLinear) -> None:
    client = client_for(fake)
    with pytest.raises(LinearError) as caught:
        run(client, docs.ISSUE_UPDATE, {"id": "nope", "input": {"title": "x"}})
    assert "Entity not found" in str(caught.value)
    assert caught.value.problems[0].code == "INPUT_ERROR"
    assert len(fake.requests) == 1


def test_a_document_linear_would_reject_is_rejected(fake: FakeLinear) -> None:
    with pytest.raises(LinearError, match="Cannot query field"):
        run(client_for(fake), "query Bad { teams { nodes { nope } } }", {})


@pytest.mark.parametrize("status", [400, 429])
def test_rate_limit_waits_as_long_as_the_headers_say(fake: FakeLinear, status: int) -> None:
    now = 1_800_000_000.0
    reset_ms = str(int((now + 1.25) * 1000))
    fake.schedule.extend(
        [
            Fault("ratelimit", status=status, headers={"retry-after": "2"}),
            Fault(
                "ratelimit",
                status=status,
                headers={
                    "x-ratelimit-requests-remaining": "0",
                    "x-ratelimit-requests-reset": reset_ms,
                },
            ),
        ]
    )
    sleeps = Sleeps()
    client = client_for(fake, sleep=sleeps, clock=lambda: now)
    assert team_query(fake, client)["teams"]["nodes"]
    assert sleeps.waits == [2, pytest.approx(1.25)]
    assert [r.fault for r in fake.requests] == ["ratelimit", "ratelimit", ""]


def test_rate_limit_longer_than_we_will_wait_fails_clearly(fake: FakeLinear) -> None:
    fake.schedule.append(Fault("ratelimit", headers={"retry-after": "3600"}))
    with pytest.raises(LinearUnavailable, match="rate limiting"):
        team_query(fake, client_for(fake, sleep=Sleeps()))


@pytest.mark.parametrize("kind", ["error500", "drop", "drop_after", "slow"])
def test_transient_faults_are_retried_with_backoff(fake: FakeLinear, kind: str) -> None:
    fake.schedule.extend([Fault(kind, delay=0.6), Fault(kind, delay=0.6)])
    sleeps = Sleeps()
    policy = RetryPolicy(base_delay=0.1, max_delay=10, rand=lambda: 1.0)
    client = client_for(fake, sleep=sleeps, timeout=0.3, policy=policy)
    assert team_query(fake, client)["teams"]["nodes"]
    assert sleeps.waits == [0.1, 0.2]  # exponential; jitter pinned to its top here
    assert client.requests_sent == 3


def test_transient_faults_give_up_after_the_limit(fake: FakeLinear) -> None:
    fake.schedule.extend([Fault("error500")] * 3)
    policy = RetryPolicy(max_attempts=3, base_delay=0.001)
    with pytest.raises(LinearUnavailable, match="after 3 attempts"):
        team_query(fake, client_for(fake, policy=policy))


def test_network_down_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = LinearClient(
        ApiKey(SECRET, source="$LINEAR_API_KEY"),
        url=f"http://127.0.0.1:{port}/graphql",
        policy=RetryPolicy(max_attempts=2, base_delay=0.001),
    )
    with pytest.raises(MarathonError) as caught:
        run(client, docs.TEAM, {"key": "ENG", "project": "P"})
    assert "cannot reach Linear" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_requests_in_flight_are_bounded(fake: FakeLinear) -> None:
    fake.latency = 0.05
    client = client_for(fake, max_in_flight=3)

    async def go() -> None:
        async with client:
            variables = {"key": "ENG", "project": "P"}
            await asyncio.gather(*(client.execute(docs.TEAM, variables) for _ in range(9)))

    asyncio.run(go())
    assert len(fake.requests) == 9
    assert 1 < fake.peak_in_flight <= 3


def test_logs_never_contain_the_key(fake: FakeLinear, caplog: pytest.LogCaptureFixture) -> None:
    fake.schedule.extend([Fault("error500"), Fault("ratelimit", headers={"retry-after": "0"})])
    with caplog.at_level(logging.DEBUG):
        team_query(fake, client_for(fake))
    assert "retry" in caplog.text or "rate limited" in caplog.text
    assert SECRET not in caplog.text
