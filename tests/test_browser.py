"""One real browser (Debian's chromium, headless, driven by Playwright) on the built site."""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading

import pytest

pytestmark = [pytest.mark.site, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def server(built_site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_site))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/ensure-chromium.sh should have installed it")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS)
        pg = browser.new_page()
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.console_errors = errors
        yield pg
        browser.close()


def test_home_lists_q08(page, server):
    page.goto(server + "/")
    link = page.locator('a[href="q08-defense-cost/"]').first
    assert link.is_visible()
    assert page.console_errors == []


def test_chinese_search_finds_q08(page, server):
    page.goto(server + "/", wait_until="networkidle")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    box = page.locator("input.md-search__input")
    box.fill("防御")
    box.press("End")  # Material searches on key events; fill() alone sends none
    result = page.locator('.md-search-result__item a[href*="q08-defense-cost"]').first
    result.wait_for(state="attached", timeout=15000)
    assert result.count() == 1


def test_citation_link_lands_on_its_reference(page, server):
    page.goto(server + "/q08-defense-cost/")
    cite = page.locator('a[href="#ref-xiang2022patchcleanser"]').first
    cite.click()
    page.wait_for_function("location.hash === '#ref-xiang2022patchcleanser'")
    target = page.locator("#ref-xiang2022patchcleanser")
    assert target.is_visible() and "PatchCleanser" in target.inner_text()
    assert target.bounding_box()["y"] < page.viewport_size["height"]


def test_q08_figures_load(page, server):
    page.goto(server + "/q08-defense-cost/")
    images = page.locator("img")
    assert images.count() >= 3  # pareto, calls vs k, latency vs calls
    for i in range(images.count()):  # figures load lazily: bring each into view, then it must have pixels
        images.nth(i).scroll_into_view_if_needed()
        images.nth(i).evaluate("img => img.complete || new Promise(r => { img.onload = r; img.onerror = r; })")
    widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    assert all(w > 0 for w in widths), widths
    assert page.console_errors == []


def test_every_contents_entry_scrolls_to_its_heading(page, server):
    from answers.kb import registry
    for a in registry.all_answers():
        page.goto(server + "/" + a.question.page_url)
        entries = page.locator(".md-sidebar--secondary a.md-nav__link")
        hrefs = [entries.nth(i).get_attribute("href") for i in range(entries.count())]
        assert hrefs, a.id
        for href in hrefs:
            assert href.startswith("#") and len(href) > 1, (a.id, href)
            page.locator(f'.md-sidebar--secondary a.md-nav__link[href="{href}"]').first.click()
            page.wait_for_function("h => decodeURIComponent(location.hash) === h", arg=href)
            heading = page.locator(f'[id="{href[1:]}"]')
            assert heading.count() == 1, (a.id, href)
            top = heading.bounding_box()["y"]
            assert 0 <= top < page.viewport_size["height"], (a.id, href, top)
        assert page.console_errors == [], page.console_errors


def test_prose_cells_show_sentences_not_code(page, server):
    page.goto(server + "/q08-defense-cost/")
    code = " ".join(page.locator(".jp-InputArea").all_inner_texts())
    assert "Markdown(" not in code
    assert "result.show(" in code   # the experiment's calls stay visible
    assert "PatchCleanser" in page.locator(".jp-RenderedMarkdown").first.inner_text() or \
        "PatchCleanser" in page.inner_text("article")
