"""The tracker in headless Chromium against the running service: what a visit leaves in the business layer."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page

from onevault.tracker.build import tracker_build
from tests.conftest import free_port
from tests.tracker.conftest import Visit, business, hide, raw_payloads, show, wait_for_raw

pytestmark = pytest.mark.browser
# Queue calls made before the deferred script has loaded; the tracker replays them.
STUB = "<script>window.onevault=window.onevault||function(){(onevault.q=onevault.q||[]).push(arguments)}</script>"


def html(title: str, body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


def settle(page: Page) -> None:
    """Long enough for the tracker's 100 ms look at the new route."""
    page.wait_for_timeout(400)


def test_static_site_visit_is_three_page_views_two_events_one_visitor_one_session(visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    script = visit.tag("count-automated")
    nav = '<a id=home href="/">Home</a> <a id=pricing href="/pricing">Pricing</a> <a id=about href="/about">About</a>'
    early = "<script>onevault('trackEvent', 'newsletter_seen', {position: 'footer'})</script>"
    signup = "<button id=signup onclick=\"onevault('trackEvent', 'signup', {plan: 'pro', seats: 3})\">Sign up</button>"
    misuse = "<button id=misuse onclick=\"onevault('noSuchMethod'); onevault('trackEvent')\">x</button>"
    site.pages.update(
        {
            "/": html("Home", nav, STUB + early + script),
            "/pricing": html("Pricing", nav, script),
            "/about": html("About", nav + signup + misuse, script),
        }
    )
    page = visit.page()
    page.goto(site.origin + "/")
    page.click("#pricing")
    page.wait_for_url("**/pricing")
    page.click("#about")
    page.wait_for_url("**/about")
    page.click("#signup")
    page.click("#misuse")
    page.close()  # the last events leave with the page (sendBeacon on pagehide)

    raw = wait_for_raw(database, at_least=5)
    assert len({e["event_id"] for e in raw}) == len(raw)
    views = [e for e in raw if e["event_type"] == "page_view"]
    assert [e.get("referrer") for e in views] == [None, site.origin + "/", site.origin + "/pricing"]
    vault = business(database)
    assert [e[1] for e in vault.of_type("page_view")] == [site.origin + p for p in ("/", "/pricing", "/about")]
    assert [e[3]["title"] for e in vault.of_type("page_view")] == ["Home", "Pricing", "About"]
    assert [e[3]["properties"] for e in vault.of_type("newsletter_seen")] == [{"position": "footer"}]
    assert [(e[1], e[3]["properties"]) for e in vault.of_type("signup")] == [
        (site.origin + "/about", {"plan": "pro", "seats": 3})
    ]
    assert {e[0] for e in vault.events} <= {"page_view", "newsletter_seen", "signup", "engagement"}
    assert len(vault.visitors) == 1
    assert len(vault.sessions) == 1
    assert {e[2] for e in vault.events} == set(vault.sessions)
    assert console.script_errors() == []


SPA = """<nav><a data-route href="/app/a">A</a> <a data-route href="/app/b">B</a>
<a data-route href="/app/c">C</a></nav>
<script>
document.addEventListener('click', function (e) {
  var link = e.target.closest('a[data-route]');
  if (!link) return;
  e.preventDefault();
  history.pushState({}, '', link.getAttribute('href'));
  document.title = 'Page ' + link.textContent;
});
</script>"""


def test_single_page_app_counts_route_changes_and_starts_a_session_after_30_idle_minutes(visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    site.fallback = html("App", SPA, STUB + visit.tag("count-automated"))
    page = visit.page()
    page.clock.install()  # real time flows; fast_forward below jumps it
    page.goto(site.origin + "/app/")
    for step in ("a", "b"):
        page.click(f"a[href='/app/{step}']")
        settle(page)
    page.evaluate("history.replaceState({}, '', location.href)")  # same route: no page view
    page.evaluate("location.hash = '#details'")  # an anchor, not a route (no hash routing)
    settle(page)
    page.go_back()  # drops the hash: still /app/b
    settle(page)
    page.go_back()  # popstate to /app/a
    settle(page)
    page.evaluate("onevault('trackEvent', 'add_to_cart', {sku: 'X1'})")
    page.clock.fast_forward("31:00")
    page.click("a[href='/app/c']")
    settle(page)
    page.close()

    wait_for_raw(database, at_least=6)
    vault = business(database)
    views = vault.of_type("page_view")
    assert [e[1] for e in views] == [site.origin + p for p in ("/app/", "/app/a", "/app/b", "/app/a", "/app/c")]
    assert [e[3]["title"] for e in views[1:3]] == ["Page A", "Page B"]  # read after the router set it
    first, later = {e[2] for e in views[:4]}, {views[4][2]}
    assert len(first) == 1 and first != later
    assert [e[2] for e in vault.of_type("add_to_cart")] == list(first)
    assert set(vault.sessions) == first | later
    assert len(vault.visitors) == 1
    assert console.script_errors() == []


def test_hash_routing_counts_hash_routes_when_asked(visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    site.pages["/h"] = html("Hash app", "", visit.tag("count-automated", "hash-routing"))
    page = visit.page()
    page.goto(site.origin + "/h#/inbox")
    for route in ("#/settings", "#/inbox"):
        page.evaluate(f"location.hash = '{route}'")
        settle(page)
    page.close()
    raw = wait_for_raw(database, at_least=3)
    urls = [e["page_url"] for e in raw if e["event_type"] == "page_view"]
    assert urls == [site.origin + "/h#/inbox", site.origin + "/h#/settings", site.origin + "/h#/inbox"]
    assert console.script_errors() == []


def test_engaged_time_counts_visible_time_only_and_is_sent_when_the_tab_is_hidden(visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    site.pages["/article"] = html("Article", "<p>text</p>", visit.tag("count-automated"))
    page = visit.page()
    page.goto(site.origin + "/article")
    page.wait_for_timeout(1500)
    hide(page)
    first = [e for e in wait_for_raw(database, at_least=2) if e["event_type"] == "engagement"]
    assert len(first) == 1 and 1400 <= first[0]["event_data"]["engaged_ms"] < 5000

    page.wait_for_timeout(2500)  # hidden: not engaged
    show(page)
    page.wait_for_timeout(1500)
    hide(page)
    second = [e for e in wait_for_raw(database, at_least=3) if e["event_type"] == "engagement"][1:]
    assert len(second) == 1 and 1400 <= second[0]["event_data"]["engaged_ms"] < 3500

    show(page)
    page.wait_for_timeout(1200)
    page.close()  # a real unload: the browser hides the page, the tracker sends what is left
    engaged = [e[3]["engaged_ms"] for e in business(database).of_type("engagement")]
    assert len(engaged) == 3 and engaged[2] >= 1100
    assert console.script_errors() == []


BLOCKERS = {
    "do_not_track": "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
    "global_privacy_control": "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
    "opt_out": "localStorage.setItem('onevault_ignore', 'true')",
    "automated_browser": "",  # navigator.webdriver is true here; the tag below does not say count-automated
}


@pytest.mark.parametrize("blocker", BLOCKERS)
def test_privacy_signals_and_automation_mean_nothing_is_sent_or_stored(blocker: str, visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    flags = () if blocker == "automated_browser" else ("count-automated",)
    body = "<a id=next href=\"/two\">next</a><button id=b onclick=\"onevault('trackEvent', 'clicked')\">b</button>"
    site.pages.update({"/one": html("One", body, visit.tag(*flags)), "/two": html("Two", "", visit.tag(*flags))})
    sent: list[str] = []
    blocked = visit.context
    blocked.on("request", lambda r: sent.append(r.url) if "/api/v1/track" in r.url else None)
    if BLOCKERS[blocker]:
        blocked.add_init_script(BLOCKERS[blocker])
    page = visit.page(blocked)
    page.goto(site.origin + "/one")
    page.click("#b")
    page.click("#next")
    page.wait_for_url("**/two")
    page.wait_for_timeout(1500)
    page.close()

    # The control: the same site in a browser without the signal is counted, so the setup itself works.
    control = visit.context.browser.new_context()  # type: ignore[union-attr]
    page = visit.page(control)
    site.pages["/control"] = html("Control", "", visit.tag("count-automated"))
    page.goto(site.origin + "/control")
    page.close()
    raw = wait_for_raw(database, at_least=1)  # before closing the profile, which would cut the beacon off
    control.close()
    assert sent == []
    assert [(e["event_type"], e["page_url"]) for e in raw] == [("page_view", site.origin + "/control")]
    assert console.script_errors() == []


def test_outbound_links_and_downloads_are_tracked_only_when_asked(visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    links = (
        '<a id=out href="https://example.org/partner?x=1">partner</a> <a id=in href="/pricing">pricing</a> '
        '<a id=mail href="mailto:hi@example.org">mail</a> <a id=pdf href="/files/report.PDF">report</a> '
        '<a id=export href="/export?id=1" download>export</a> '
        '<span id=deep><a href="https://example.net/"><b id=inner>x</b></a></span>'
        # Navigation would end the test page: the site swallows clicks after the tracker has seen them.
        "<script>['click','auxclick'].forEach(function(t){document.addEventListener(t,function(e){e.preventDefault()})})</script>"
    )
    site.pages.update(
        {
            "/links": html("Links", links, visit.tag("count-automated", "outbound-links", "file-downloads")),
            "/plain": html("Plain", links, visit.tag("count-automated")),
        }
    )
    page = visit.page()
    for path in ("/links", "/plain"):
        page.goto(site.origin + path)
        for target in ("#out", "#in", "#mail", "#pdf", "#export", "#inner"):
            page.click(target)
        page.click("#out", button="middle")
        page.click("#out", button="right")
    page.close()
    wait_for_raw(database, at_least=6)
    vault = business(database)
    clicks = [
        (e[0], e[1], e[3]["properties"]["url"]) for e in vault.events if e[0] in ("outbound_link", "file_download")
    ]
    links_page = site.origin + "/links"
    assert sorted(clicks) == sorted(
        [
            ("outbound_link", links_page, "https://example.org/partner?x=1"),
            ("file_download", links_page, site.origin + "/files/report.PDF"),
            ("file_download", links_page, site.origin + "/export?id=1"),
            ("outbound_link", links_page, "https://example.net/"),
            ("outbound_link", links_page, "https://example.org/partner?x=1"),  # the middle click
        ]
    )
    assert console.script_errors() == []


def test_spec_constructor_tracks_page_views_and_events_and_never_throws(visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    code = f"""<script src="{visit.service.url}/tracker.js"></script><script>
    var tracker = new OneVaultTracker({{apiBaseUrl: '{visit.service.url}', customerId: 'acme', apiToken: '{visit.key}',
                                         useAsync: false, countAutomated: true}});
    tracker.trackPageView();
    tracker.trackEvent('button_click', {{buttonId: 'signup-btn', section: 'hero'}});
    var cyclic = {{}}; cyclic.self = cyclic;
    tracker.trackEvent('cyclic', cyclic);
    tracker.trackEvent();
    tracker.trackEvent('too_big', {{blob: new Array(40000).join('x')}});
    new OneVaultTracker(null);
    new OneVaultTracker({{apiBaseUrl: 42, apiToken: {{}}}});
    window.done = true;
    </script>"""
    site.pages["/spec"] = html("Spec", "", code)
    requests: list[str] = []
    visit.context.on("request", lambda r: requests.append(r.method) if "/api/v1/track/batch" in r.url else None)
    page = visit.page()
    page.goto(site.origin + "/spec")
    assert page.evaluate("window.done") is True
    raw = wait_for_raw(database, at_least=2)
    assert requests == ["POST", "POST"]  # useAsync false: each event leaves at once, in its own request
    vault = business(database)
    assert [e[0] for e in vault.events] == ["page_view", "button_click"]
    assert vault.events[1][3]["properties"] == {"buttonId": "signup-btn", "section": "hero"}
    assert all(e["visitor_id"].startswith("visitor_") and e["session_id"].startswith("sess_") for e in raw)
    page.close()
    assert console.script_errors() == []


def test_service_down_costs_no_error_and_the_bounded_retry_queue_delivers_later_once_each(visit: Visit) -> None:
    site, database, console = visit.site, visit.database, visit.console
    site.files["/tracker.js"] = ("application/javascript", tracker_build().script)  # the site hosts a copy
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    burst = (
        "<button id=burst onclick=\"for (var i = 0; i < 130; i++) onevault('trackEvent', 'tick', {i: i})\">b</button>"
    )

    def page_for(api: str, body: str = "") -> str:
        return html(
            "Shop",
            body,
            f'<script defer data-site-key="{visit.key}" data-api="{api}" data-count-automated '
            'src="/tracker.js"></script>',
        )

    site.pages.update({"/one": page_for(down, '<a id=next href="/two">next</a>' + burst), "/two": page_for(down)})
    site.pages.update({"/plain": html("Plain", ""), "/back": page_for(visit.service.url)})
    page = visit.page()
    page.goto(site.origin + "/one")
    page.click("#burst")
    page.wait_for_timeout(2500)  # the first sends fail and are kept for retry
    page.click("#next")
    page.wait_for_url("**/two")
    page.wait_for_timeout(1500)
    page.goto(site.origin + "/plain")  # the same origin's storage, without the tracker
    kept = json.loads(page.evaluate("localStorage.getItem('onevault_retry')"))
    assert 50 <= len(kept) <= 100  # bounded: the oldest of the 130+ were dropped
    assert raw_payloads(database) == []
    assert console.script_errors() == []

    page.goto(site.origin + "/back")  # the service is reachable again from this page
    wait_for_raw(database, at_least=len(kept) + 1)
    assert page.evaluate("localStorage.getItem('onevault_retry')") is None  # confirmed, so forgotten
    page.close()
    vault = business(database)  # (which also checks every raw event reached the business layer)
    ids = [e["event_id"] for e in raw_payloads(database)]
    assert len(ids) == len(set(ids))
    assert {item[0]["event_id"] for item in kept} <= set(ids)
    assert len(vault.visitors) == 1
    assert console.script_errors() == []
