"""User-agent parsing with ua-parser, cached: the worker parses each distinct agent once and stores the
result in staging.user_agent_parsed, where the set-based SQL pipeline joins it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

# Headless and automated browsers that ua-parser names as ordinary browser families.
_AUTOMATED_FAMILIES = {"HeadlessChrome", "PhantomJS", "Electron"}
_AUTOMATION = re.compile(r"headless|phantomjs|selenium|webdriver|puppeteer|playwright|lighthouse", re.IGNORECASE)
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Firefox OS", "Tizen"}


@dataclass(frozen=True)
class ParsedAgent:
    device_type: str  # desktop, mobile, tablet, bot or other
    browser_name: str | None
    browser_version: str | None
    os_name: str | None
    os_version: str | None
    is_bot: bool


@lru_cache(maxsize=20_000)
def parse_agent(user_agent: str) -> ParsedAgent:
    """Device class, browser and OS of `user_agent` (cached: agents repeat heavily)."""
    result = parse(user_agent)
    browser, os_, device = result.user_agent, result.os, result.device
    browser_name = browser.family if browser and browser.family != "Other" else None
    os_name = os_.family if os_ and os_.family != "Other" else None
    device_family = device.family if device else None
    is_bot = device_family == "Spider" or browser_name in _AUTOMATED_FAMILIES or bool(_AUTOMATION.search(user_agent))
    return ParsedAgent(
        device_type=_device_type(user_agent, os_name, device_family, is_bot, browser_name),
        browser_name=browser_name,
        browser_version=_version(browser.major, browser.minor) if browser else None,
        os_name=os_name,
        os_version=_version(os_.major, os_.minor) if os_ else None,
        is_bot=is_bot,
    )


def _device_type(user_agent: str, os_name: str | None, device: str | None, is_bot: bool, browser: str | None) -> str:
    if is_bot:
        return "bot"
    if device == "iPad" or "Tablet" in (device or "") or (os_name == "Android" and "Mobile" not in user_agent):
        return "tablet"
    if os_name in _MOBILE_OS or "Mobile" in user_agent:
        return "mobile"
    if os_name is None and browser is None:
        return "other"  # HTTP libraries and the like: server-side senders, not people
    return "desktop"


def _version(major: str | None, minor: str | None) -> str | None:
    if not major:
        return None
    return f"{major}.{minor}" if minor else major
