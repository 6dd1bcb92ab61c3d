"""A real headless Chromium for the page tests (Debian's ``chromium`` and ``chromium-driver``,
driven with selenium): open a page, check it rendered and every image loaded, take a
screenshot. Not a test module.

Chromium is required: when it or its driver is missing, :func:`headless_chromium` fails the
test naming the fix (``scripts/setup.sh`` installs both as root), never skips. The flags are
those this machine kind needs: no sandbox (root), no GPU, no background networking (the
machine's closed network refuses Chromium's own connections), a fresh profile per browser.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("SKEWLESS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SKEWLESS_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1600")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """A selenium ``Chrome`` driver on headless Chromium with a fresh profile, quit after."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        pytest.fail(f"headless browser check: {missing} not found; install Chromium and its "
                    "driver (`apt-get install -y chromium chromium-driver` as root, or "
                    "scripts/setup.sh), or point SKEWLESS_CHROMIUM / SKEWLESS_CHROMEDRIVER "
                    "at them", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="skewless-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def check_page(driver: Any, page: Path, texts: Sequence[str], screenshot: Path,
               min_images: int = 1) -> dict[str, Any]:
    """Open ``page`` (a file), assert every one of ``texts`` is shown, at least
    ``min_images`` images are there and every image decoded (``naturalWidth > 0``), save a
    screenshot of the whole page to ``screenshot`` and assert it is a non-empty PNG. Returns
    the page's title, text and image sizes."""
    driver.get(page.resolve().as_uri())
    state = driver.execute_script("return document.readyState")
    assert state == "complete", state
    text = driver.execute_script("return document.body.innerText")
    for wanted in texts:
        assert wanted in text, f"{wanted!r} not shown on {page}"
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, "
        "i.naturalHeight])")
    assert len(images) >= min_images, images
    broken = [i for i in images if not (i[1] and i[2] > 0 and i[3] > 0)]
    assert not broken, f"images that did not load on {page}: {broken[:5]}"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 800), 6000))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(screenshot))
    data = screenshot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000, (screenshot, len(data))
    return {"title": driver.title, "text": text, "images": images}
