"""The web page in a real headless Chromium (Debian's, driven by Playwright) against `rag serve`."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic"]  # fmt: skip
TACNA = "How long will the state of emergency in Tacna last?"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed: run `make browser`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(live_server.url)
    yield page
    context.close()
    assert errors == []


def ask(page: Page, question: str) -> None:
    """Type a question and send it with the keyboard alone."""
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")


def test_ask_see_cited_answer_and_highlighted_source(page: Page, artifacts: Path) -> None:
    expect(page.locator("#documents li")).to_have_count(5)
    ask(page, TACNA)
    answer = page.locator(".turn .answer-text").last
    cite = answer.get_by_role("link", name="[1]")
    expect(cite).to_be_visible(timeout=30_000)
    expect(answer).to_contain_text("60 days")
    # After an answer the question box has the focus again, ready for a follow-up.
    expect(page.get_by_label("Your question")).to_be_focused()

    cite.click()
    panel = page.locator("#source-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#source-n")).to_have_text("[1]")
    mark = panel.locator("#source-text mark")
    expect(mark).to_contain_text("60 days")
    # The short answer is highlighted inside the quoted sentence.
    expect(mark.locator("strong.answer-span")).to_have_text("60 days")
    expect(panel.locator("#source-title")).to_contain_text("state of emergency")
    context = panel.locator("#source-text").inner_text()
    assert len(context) > len(mark.inner_text()) + 100  # the span is shown in its surroundings
    page.screenshot(path=str(artifacts / "web-answer.png"), full_page=True)

    ask(page, "And how long will it last?")
    follow_up = page.locator(".turn .answer-text").nth(1)
    expect(follow_up.get_by_role("link", name="[1]")).to_be_visible(timeout=30_000)
    expect(follow_up).to_contain_text("60")
    expect(page.locator(".turn .a .meta").last).to_contain_text("Tacna")


def test_example_questions_and_phone_width(page: Page, artifacts: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name=TACNA).click()
    expect(page.locator(".turn .answer-text .cite").first).to_be_visible(timeout=30_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    page.screenshot(path=str(artifacts / "web-phone.png"), full_page=True)


def test_empty_question_is_not_sent_and_errors_are_shown(page: Page) -> None:
    box = page.get_by_label("Your question")
    box.fill("   ")
    box.press("Enter")
    expect(page.locator(".turn")).to_have_count(0)
    ask(page, "word " * 300)  # over the token limit: the API's message is shown
    expect(page.locator(".turn .answer-text.error")).to_contain_text("RAG_MAX_QUESTION_TOKENS")


def test_markup_from_the_index_is_shown_as_text(page: Page, live_server: LiveServer) -> None:
    hostile = (
        'Cusco, Peru — The new Vilcanota bridge <img src=x onerror="window.__pwned=1"> will '
        "open to traffic in 14 weeks, the regional transport office said on Tuesday.\n\n"
        "<script>window.__pwned=2</script> More later."
    )
    auth = {"Authorization": f"Bearer {live_server.token}"}
    added = httpx.post(
        f"{live_server.url}/api/documents",
        json={"text": hostile, "title": "<b>Bridge</b><script>window.__pwned=3</script>",
              "doc_id": "xss-test"},
        headers=auth, timeout=60,
    )  # fmt: skip
    assert added.status_code == 201, added.text
    try:
        page.reload()
        doc = page.locator("#documents .doc", has_text="<b>Bridge</b>")
        expect(doc).to_be_visible()
        ask(page, "When will the Vilcanota bridge open?")
        answer = page.locator(".turn .answer-text").last
        expect(answer.get_by_role("link", name="[1]")).to_be_visible(timeout=30_000)
        expect(answer).to_contain_text("<img src=x onerror=")
        answer.get_by_role("link", name="[1]").click()
        expect(page.locator("#source-text")).to_contain_text("<script>window.__pwned=2</script>")
        doc.click()
        expect(page.locator("#source-title")).to_have_text(
            "<b>Bridge</b><script>window.__pwned=3</script>"
        )
        page.wait_for_timeout(300)  # give an injected onerror handler time to fire
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img, aside img, aside b, main script, aside script").count() == 0
    finally:
        httpx.delete(f"{live_server.url}/api/documents/xss-test", headers=auth, timeout=60)
