"""Browser tests: Debian's chromium driven by Playwright, a static test site on its own port, the real service.

The site is served from another port than the service, so the browser sends a real Origin and the site
key's origin check and CORS are exercised as on a customer's site.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from onevault.pipeline.runner import drain_once
from onevault.tracker.build import snippet
from tests.conftest import Database, RunningService

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Chrome's own line for a request that failed on the network (the service is down): not a script error.
NETWORK_FAILURE = ("Failed to load resource: net::ERR_",)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}: run `apt-get install -y chromium`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class StaticSite:
    """A customer's website: fixed pages by path, and `fallback` for any other path (an SPA's routes)."""

    def __init__(self, pages: dict[str, str], fallback: str | None = None) -> None:
        self.pages = dict(pages)
        self.fallback = fallback
        self.files: dict[str, tuple[str, bytes]] = {"/favicon.ico": ("image/x-icon", b"")}  # no 404 line
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0].split("#")[0]
                if path in site.files:
                    kind, body = site.files[path]
                elif path in site.pages or site.fallback is not None:
                    kind, body = "text/html; charset=utf-8", site.pages.get(path, site.fallback or "").encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StaticSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Console:
    """What a page said: uncaught errors (pageerror) and console lines of type error."""

    page_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("console", self._console)
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def script_errors(self) -> list[str]:
        """Uncaught errors and error lines, less the browser's own report of a failed network request."""
        return self.page_errors + [e for e in self.errors if not e.startswith(NETWORK_FAILURE)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (empty localStorage) per test."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()


def hide(page: Page) -> None:
    """Hide the tab. Headless Chromium keeps every page visible (switching or minimising changes nothing),
    so the page is told what a browser tells it on a tab switch: visibilityState 'hidden' and the event."""
    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )


def show(page: Page) -> None:
    page.evaluate(
        "delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange'))"
    )  # the own property goes, the real (visible) getter is back


def raw_payloads(database: Database) -> list[dict[str, Any]]:
    with database.admin() as conn:
        rows = conn.execute("SELECT raw_payload FROM raw.site_tracking_events ORDER BY raw_event_id").fetchall()
    return [row[0] for row in rows]


def wait_for_raw(database: Database, at_least: int, settle: float = 1.5, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The raw events once at least `at_least` have arrived and no more came for `settle` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        events = raw_payloads(database)
        if len(events) != seen:
            seen, since = len(events), time.monotonic()
        elif seen >= at_least and time.monotonic() - since >= settle:
            return events
        time.sleep(0.1)
    raise AssertionError(f"expected at least {at_least} raw events within {timeout} s, got {seen}")


def drain(database: Database) -> None:
    with database.app() as conn:
        while drain_once(conn, 1000).total:
            pass


@dataclass(frozen=True)
class Business:
    """What the business layer holds, as an admin sees it across the tenant."""

    events: list[tuple[str, str, str | None, dict[str, Any]]]  # (type, page url, session key, event data)
    visitors: set[str]
    sessions: dict[str, str]  # session key -> visitor key

    def of_type(self, event_type: str) -> list[tuple[str, str, str | None, dict[str, Any]]]:
        return [e for e in self.events if e[0] == event_type]


def business(database: Database) -> Business:
    drain(database)
    with database.admin() as conn:
        events = conn.execute(
            "SELECT d.event_type, d.page_url, sh.site_session_bk, d.event_data"
            "  FROM business.site_event_h e"
            "  JOIN business.site_event_details_s d USING (tenant_hk, site_event_hk)"
            "  LEFT JOIN business.site_event_session_l l USING (tenant_hk, site_event_hk)"
            "  LEFT JOIN business.site_session_h sh USING (tenant_hk, site_session_hk)"
            " ORDER BY d.event_time, e.site_event_bk"
        ).fetchall()
        visitors = {r[0] for r in conn.execute("SELECT site_visitor_bk FROM business.site_visitor_h")}
        sessions = dict(
            conn.execute(
                "SELECT s.site_session_bk, v.site_visitor_bk FROM business.site_session_visitor_l l"
                "  JOIN business.site_session_h s USING (tenant_hk, site_session_hk)"
                "  JOIN business.site_visitor_h v USING (tenant_hk, site_visitor_hk)"
            ).fetchall()
        )
        raw = conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone()
    assert raw is not None and raw[0] == len(events), "every raw event reached the business layer once"
    return Business([tuple(e) for e in events], visitors, sessions)  # type: ignore[misc]


@dataclass
class Visit:
    """Everything a browser test needs: the service, a fresh site with a site key for it, a profile."""

    service: RunningService
    database: Database
    context: BrowserContext
    console: Console
    site: StaticSite
    key: str

    def tag(self, *flags: str) -> str:
        """The snippet `onevault site snippet` prints, plus data-* flags. Tests that should count visits
        pass count-automated: Playwright's Chromium reports navigator.webdriver."""
        extra = "".join(f" data-{flag}" for flag in flags)
        return snippet(self.service.url, self.key).replace("<script defer", f"<script defer{extra}", 1)

    def page(self, context: BrowserContext | None = None) -> Page:
        return self.console.watch((context or self.context).new_page())


@pytest.fixture
def visit(  # type: ignore[no-untyped-def]
    service: RunningService, database: Database, context: BrowserContext, console: Console, make_tenant, make_site_key
) -> Iterator[Visit]:
    with StaticSite({}) as site:
        make_tenant("acme")
        yield Visit(service, database, context, console, site, make_site_key("acme", (site.origin,)))
