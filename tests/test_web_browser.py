"""The whole journey in a real browser: subscribe, confirm from the mail, receive a
digest, unsubscribe from its link. Screenshots of every page at 375 and 1280 px."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from .browser_support import Screenshots, browser_paths, start_browser
from .web_support import (
    Served,
    body_text,
    free_port,
    links,
    outbox,
    publish,
    status_of,
    wait_for_files,
    write_post,
    write_site,
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    browser_paths()  # skips (or fails under CI=true) with the reason
    driver = start_browser(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links.append((data.strip(), self._href))
            self._href = None


def anchors(html: str) -> dict[str, str]:
    parser = Anchors()
    parser.feed(html)
    return dict(parser.links)


def heading(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "h1").text)


def press(driver: Any, label: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    button = driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(driver, 10).until(lambda _driver: _left(old, expected_conditions))


def _left(old: Any, expected_conditions: Any) -> bool:
    """True once `old` (the previous page's root) is gone. Caught mid-navigation,
    chromedriver can answer "Node with given id does not belong to the document"
    as an unknown error instead of a stale element: that is gone too."""
    from selenium.common.exceptions import WebDriverException

    try:
        return bool(expected_conditions.staleness_of(old)(None))
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise


def test_subscribe_confirm_receive_unsubscribe_in_a_browser(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    port = free_port()
    site = tmp_path / "site"
    write_site(site, port)
    write_post(site, "hello", "Hello, readers", "2026-03-01T08:00:00")
    shots = Screenshots(driver, tmp_path / "screenshots")
    server = Served(site, port)
    try:
        # The subscribe page, then a mistake, then the real thing (Enter submits).
        driver.get(server.base + "/")
        assert heading(driver) == "Get Example News by email"
        widths = shots.take("subscribe")
        assert widths[375] <= 375, "the page scrolls sideways on a phone"
        driver.find_element(By.ID, "email").send_keys("not-an-address@")
        driver.find_element(By.ID, "email").get_attribute("required")
        # Let the server judge it, not the browser's own check.
        driver.execute_script("document.querySelector('form').noValidate = true")
        press(driver, "Subscribe")
        assert driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
        shots.take("subscribe-error")
        field = driver.find_element(By.ID, "email")
        field.clear()
        field.send_keys("reader@example.com")
        name = driver.find_element(By.ID, "name")
        name.send_keys("Rea Der")
        old = driver.find_element(By.TAG_NAME, "html")
        name.send_keys(Keys.ENTER)
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        WebDriverWait(driver, 10).until(expected_conditions.staleness_of(old))
        assert heading(driver) == "Check your inbox"
        shots.take("check-inbox")
        assert status_of(site, "reader@example.com") == "pending"

        # The confirmation link from the mail that arrived.
        (mail,) = wait_for_files(site, 1)
        msg = _read(mail)
        (link,) = links(body_text(msg), "/confirm")
        driver.get(link)
        assert heading(driver) == "Confirm your subscription"
        assert "r•••@example.com" in driver.page_source
        shots.take("confirm")
        assert status_of(site, "reader@example.com") == "pending"  # looking changed nothing
        press(driver, "Confirm subscription")
        assert heading(driver) == "You are subscribed"
        shots.take("confirmed")
        assert status_of(site, "reader@example.com") == "active"

        # A digest goes out; it links to its web copy and to the unsubscribe page.
        done = publish(site, "--now", "2026-03-02T08:00:00+00:00")
        assert done.returncode == 0, done.stderr
        (digest,) = [p for p in outbox(site) if p.name.startswith("2026-03-02-")]
        letter = _read(digest)
        assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        found = anchors(body_text(letter, "html"))
        assert found["View in browser"] == "https://news.example.org/digest/2026-03-02.html"
        unsubscribe = found["Unsubscribe"]
        assert unsubscribe in letter["List-Unsubscribe"]
        driver.get(unsubscribe)
        assert heading(driver) == "Unsubscribe from Example News?"
        assert "r•••@example.com" in driver.page_source
        assert "reader@example.com" not in driver.page_source
        shots.take("unsubscribe")
        assert status_of(site, "reader@example.com") == "active"
        press(driver, "Unsubscribe")
        assert heading(driver) == "You are unsubscribed"
        shots.take("unsubscribed")
        assert status_of(site, "reader@example.com") == "unsubscribed"

        # Managing: the link offered after unsubscribing, then the archive.
        driver.find_element(By.LINK_TEXT, "Subscribe again").click()
        assert heading(driver) == "Your subscription"
        shots.take("manage")
        driver.get(server.base + "/archive/")
        assert heading(driver) == "Past digests"
        assert driver.find_element(By.PARTIAL_LINK_TEXT, "Hello, readers").get_attribute(
            "href") == "https://news.example.org/digest/2026-03-02.html"
        shots.take("archive")
        driver.get(unsubscribe[:-5])
        assert heading(driver) in ("This link is damaged", "This link is not valid")
        shots.take("error")
        # No script ran anywhere: the pages have none and the policy forbids it.
        assert driver.execute_script("return document.scripts.length") == 0
    finally:
        shots.publish()
        assert server.stop() == 0, server.log()
    assert len(shots.saved) == 2 * 10
    for path in shots.saved:
        assert path.stat().st_size > 2000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_browser_is_a_skip_here_and_a_failure_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLISHER_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("CI", raising=False)
    # (with chromedriver missing too, the message names both)
    skipped = "browser tests skipped: chromium (and chromedriver )?not found"
    with pytest.raises(pytest.skip.Exception, match=skipped):
        browser_paths()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run under CI=true"):
        browser_paths()


def _read(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg
