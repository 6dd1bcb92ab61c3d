"""The headless-browser helper fails (never skips) naming the fix when Chromium is missing."""

from __future__ import annotations

import pytest

import tests.browser as browser


def test_missing_chromium_fails_naming_the_fix(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium "
                                                    "chromium-driver"), \
            browser.headless_chromium():
        pass
