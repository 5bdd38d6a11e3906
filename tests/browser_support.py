"""A real browser for the tests: Debian's chromium driven by its chromedriver.

Nothing is downloaded: the driver's path is given, so Selenium Manager is never
run. Without chromium or chromedriver the browser tests are skipped with a
reason saying so; under CI=true that is a failure instead (CI must have them:
.ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = ("chromium", "chromium-browser")
CHROMEDRIVER = ("chromedriver",)
INSTALL = "apt-get install chromium chromium-driver"


def _find(env: str, names: tuple[str, ...]) -> str | None:
    given = os.environ.get(env)
    if given:
        return given if Path(given).is_file() else None
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file()
                                       else None)
        if found:
            return found
    return None


def browser_paths() -> tuple[str, str]:
    """(chromium, chromedriver), or skip (fail under CI=true) saying what is missing."""
    browser = _find("PUBLISHER_CHROMIUM", CHROMIUM)
    driver = _find("PUBLISHER_CHROMEDRIVER", CHROMEDRIVER)
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver))
               if path is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        what = f"{' and '.join(missing)} not found (install: {INSTALL})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run under CI=true: {what}", pytrace=False)
        pytest.skip(f"browser tests skipped: {what}")
    assert browser is not None and driver is not None
    return browser, driver


def start_browser(profile: Path) -> Any:
    """Headless chromium with a fresh profile and nothing that talks to the network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
        "--disable-default-apps", "--no-default-browser-check", "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


class Screenshots:
    """Each page at 375 px (a phone) and 1280 px, saved as test artifacts.

    They go to the test's tmp folder and, when PUBLISHER_ARTIFACTS is set,
    are copied under it (CI keeps that folder).
    """

    WIDTHS = (375, 1280)

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []

    def take(self, name: str) -> dict[int, int]:
        """Save both widths; returns each width's page scroll width (for overflow checks)."""
        widths: dict[int, int] = {}
        for width in self.WIDTHS:
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600},
            )
            height = int(self.driver.execute_script(
                "return Math.max(document.documentElement.scrollHeight, 600)"))
            self.driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": min(height, 4000), "deviceScaleFactor": 1,
                 "mobile": width < 600},
            )
            widths[width] = int(self.driver.execute_script(
                "return document.documentElement.scrollWidth"))
            path = self.folder / f"{name}-{width}.png"
            self.driver.get_screenshot_as_file(str(path))
            self.saved.append(path)
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        return widths

    def publish(self) -> None:
        target = os.environ.get("PUBLISHER_ARTIFACTS")
        if not target:
            return
        folder = Path(target) / "browser"
        folder.mkdir(parents=True, exist_ok=True)
        for path in self.saved:
            shutil.copy2(path, folder / path.name)
