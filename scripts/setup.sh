#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine, idempotently:
#   a virtual environment in .venv with the project and its test extra installed,
#   Java 17+ (installed with apt-get when missing and we are root),
#   Chromium and its driver for the tests' headless browser checks of the HTML reports
#   (Debian's chromium + chromium-driver, installed with apt-get when missing and we are root),
#   a Redis server answering at SKEWLESS_REDIS_HOST:SKEWLESS_REDIS_PORT (started if none does).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BIN="${PYTHON:-python3}"
if ! "$PYTHON_BIN" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 14) else 1)'; then
  echo "setup: Python 3.10-3.13 is required (found $("$PYTHON_BIN" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON_BIN" -m venv .venv
fi
# pip runs only when pyproject.toml (or the interpreter) changed since the last install here:
# the stamp holds their hash, written after a successful install (the install is editable, so
# source edits need no reinstall). Delete .venv/.skewless-installed to force a reinstall.
STAMP=.venv/.skewless-installed
wanted="$(.venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read() + sys.version.encode()).hexdigest())')"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ] || [ ! -x .venv/bin/skewless ]; then
  rm -f "$STAMP"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
  echo "$wanted" > "$STAMP"
fi

java_ok() { java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; }
if ! java_ok; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup: Java 17+ not found; installing openjdk-17-jre-headless with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
fi
java_ok || { echo "setup: Java 17+ is required for Spark; install OpenJDK 17 (apt-get install openjdk-17-jre-headless) or put it on PATH" >&2; exit 1; }

CHROMIUM="${SKEWLESS_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${SKEWLESS_CHROMEDRIVER:-/usr/bin/chromedriver}"
browser_ok() { [ -x "$CHROMIUM" ] && [ -x "$CHROMEDRIVER" ]; }
if ! browser_ok; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup: Chromium or chromedriver not found; installing chromium chromium-driver with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
# only the tests need a browser: warn, the demo and the server run without one
browser_ok || echo "setup: warning: no $CHROMIUM / $CHROMEDRIVER; the tests' browser checks will fail until you install them (apt-get install chromium chromium-driver) or set SKEWLESS_CHROMIUM / SKEWLESS_CHROMEDRIVER" >&2

.venv/bin/python -m clusters.services ensure-redis
