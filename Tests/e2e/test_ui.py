"""The web UI in a real browser (Debian's Chromium driven by Playwright): traces sent by the
OpenTelemetry SDK, then a person's path through the tracing screens, with auth off and on.

Screenshots of each screen (1440×900) go to $CINDER_UI_SCREENSHOTS (default /tmp/cinder-ui-screenshots);
they are artifacts to look at, not committed.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import pytest
import requests
from opentelemetry.trace import Status, StatusCode

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from conftest import PROJECT_ATTR, CinderServer, http_exporter, make_tracer_provider, unique_name
from tenancy import admin_secret, client_address, create_key, create_organization, unique_email

from playwright import sync_api as playwright_api

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("CINDER_UI_SCREENSHOTS", "/tmp/cinder-ui-screenshots"))
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), "Debian's chromium is required (scripts/setup.sh installs it)"
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


class Page:
    """A browser tab that fails the test on any console error or uncaught exception."""

    def __init__(self, browser, server: CinderServer):
        self.context = browser.new_context(
            viewport={"width": 1440, "height": 900}, base_url=server.base_url,
            extra_http_headers={"X-Forwarded-For": client_address()})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    def close(self, expected: str | None = None) -> None:
        """Fails on any console error but those containing `expected` (a 401 the browser logs while
        signed out, say)."""
        self.context.close()
        errors = [e for e in self.errors if expected is None or expected not in e]
        assert errors == [], errors


@pytest.fixture
def tab(browser, cinder):
    page = Page(browser, cinder)
    yield page
    page.close()


def send_agent_trace(tracer, question: str) -> None:
    """CHAIN root → LLM (messages, tokens) and a TOOL that fails with an exception; a RETRIEVER."""
    with tracer.start_as_current_span("agent", attributes={
        "openinference.span.kind": "CHAIN", "input.value": question, "output.value": "Sunny, 21 °C",
        "metadata": json.dumps({"user_id": "alice"}),
    }) as root:
        with tracer.start_as_current_span("retrieve", attributes={
            "openinference.span.kind": "RETRIEVER", "input.value": question,
            "retrieval.documents.0.document.id": "doc-1", "retrieval.documents.0.document.content": "Paris forecast: sun",
            "retrieval.documents.0.document.score": 0.92,
        }):
            pass
        with tracer.start_as_current_span("chat gpt-4o", attributes={
            "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
            "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "You answer weather questions.",
            "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": question,
            "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "Sunny, 21 °C",
            "llm.invocation_parameters": '{"temperature": 0.2}',
            "llm.token_count.prompt": 30, "llm.token_count.completion": 5, "llm.token_count.total": 35,
        }):
            pass
        with tracer.start_as_current_span("get_weather", attributes={
            "openinference.span.kind": "TOOL", "tool.name": "get_weather", "tool.parameters": '{"city": "Paris"}',
        }, record_exception=False, set_status_on_exception=False) as tool:
            try:
                raise TimeoutError("weather service timed out")
            except TimeoutError as error:
                tool.record_exception(error)
                tool.set_status(Status(StatusCode.ERROR, "weather service timed out"))
        root.set_status(Status(StatusCode.OK))


def ingest(server: CinderServer, project: str, traces: int = 2, **exporter_kw) -> None:
    pipeline = make_tracer_provider(server, project, **exporter_kw)
    for i in range(traces):
        send_agent_trace(pipeline.tracer, f"Weather in Paris? #{i}")
    pipeline.finish()


def wait_for_spans(server: CinderServer, project: str, count: int, headers: dict | None = None) -> None:
    import time
    deadline = time.time() + 30
    while time.time() < deadline:
        r = requests.get(f"{server.base_url}/v1/projects/{project}/spans", params={"limit": 1000}, headers=headers or {}, timeout=10)
        if r.status_code == 200 and len(r.json()["data"]) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} spans of {project} never became readable")


def test_assets_are_versioned_compressed_and_cached(cinder):
    page = requests.get(cinder.base_url + "/projects/anything/traces/abc", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # No third-party origin anywhere in the page.
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    version = re.search(r"/assets/([0-9a-f]{16})/app\.js", page.text).group(1)
    again = requests.get(cinder.base_url + "/", headers={"If-None-Match": page.headers["etag"]}, timeout=10)
    assert again.status_code == 304

    total_gzip = 0
    modules = ["app.js", "api.js", "dom.js", "router.js", "shell.js", "session.js", "format.js", "theme.js", "styles.css",
               "table.js", "export.js", "time-range.js", "span-tree.js", "virtual-list.js", "views/login.js",
               "views/projects.js", "views/project.js", "views/trace.js", "views/span-details.js", "views/span-parts.js",
               "views/trace-list.js", "icon.svg"]
    for name in modules:
        r = requests.get(f"{cinder.base_url}/assets/{version}/{name}", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
        assert r.status_code == 200, name
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        raw = r.raw.read()
        if r.headers.get("content-encoding") == "gzip":
            assert gzip.decompress(raw)
        total_gzip += len(raw)
    # Every file the browser may load, compressed: the UI's whole first-load budget is 300 KB.
    assert total_gzip < 300_000, total_gzip
    # Another build's files are gone, not mixed in; a file that does not exist is a 404 either way.
    assert requests.get(f"{cinder.base_url}/assets/0000000000000000/app.js", timeout=10).status_code == 404
    assert requests.get(f"{cinder.base_url}/assets/{version}/nope.js", timeout=10).status_code == 404
    # API routes are not swallowed by the page.
    assert requests.get(cinder.base_url + "/v1/projects", timeout=10).headers["content-type"].startswith("application/json")


def test_tracing_screens_with_auth_off(tab, cinder):
    project = unique_name("ui")
    ingest(cinder, project, traces=2)
    wait_for_spans(cinder, project, 8)
    page = tab.page

    page.goto("/")
    page.wait_for_url("**/projects")
    row = page.get_by_role("row").filter(has_text=project)
    playwright_api.expect(row).to_be_visible()
    # Traces, spans, tokens of the project's row.
    cells = row.get_by_role("cell")
    playwright_api.expect(cells.nth(1)).to_have_text("2")
    playwright_api.expect(cells.nth(2)).to_have_text("8")
    playwright_api.expect(cells.nth(5)).to_have_text("70")
    page.get_by_role("searchbox", name="Search projects").fill("no-such-project-xyz")
    playwright_api.expect(page.get_by_text("No project matches")).to_be_visible()
    page.get_by_role("searchbox", name="Search projects").fill(project)
    tab.screenshot("projects")

    page.get_by_role("link", name=project).click()
    page.wait_for_url(re.compile(r".*/projects/[^/]+/spans$"))
    table = page.get_by_role("table", name="Spans")
    playwright_api.expect(table.get_by_role("row")).to_have_count(9)  # header + 8 spans
    playwright_api.expect(page.locator(".stats")).to_contain_text("Traces2")
    tab.screenshot("spans")

    # Column chooser: the span id column appears and stays after a reload.
    page.get_by_text("Columns").click()
    page.get_by_role("checkbox", name="Span id").check()
    playwright_api.expect(table.get_by_role("columnheader", name="Span id")).to_be_visible()
    page.reload()
    playwright_api.expect(page.get_by_role("table", name="Spans").get_by_role("columnheader", name="Span id")).to_be_visible()

    # Select two rows (shift-click selects the range) and export them as JSON.
    table = page.get_by_role("table", name="Spans")
    boxes = table.get_by_role("checkbox", name="Select row")
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])
    playwright_api.expect(page.get_by_text("3 selected")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert len(exported) == 3 and all(item["trace"]["traceId"] for item in exported)

    # Traces tab: one row per trace with its span count; open the first.
    page.get_by_role("link", name="Traces", exact=True).click()
    traces = page.get_by_role("table", name="Traces")
    playwright_api.expect(traces.get_by_role("row")).to_have_count(3)
    first_trace_row = traces.get_by_role("row").nth(1)
    playwright_api.expect(first_trace_row).to_contain_text("agent")
    first_trace_row.get_by_text("agent").click()
    page.wait_for_url(re.compile(r".*/traces/[0-9a-f]{32}(\?.*)?$"))
    first_url = page.url
    tree = page.get_by_role("tree", name="Spans")
    playwright_api.expect(tree.get_by_role("treeitem")).to_have_count(4)
    playwright_api.expect(tree.get_by_role("treeitem", selected=True)).to_contain_text("agent")

    # Keyboard: down to the next span, its details follow; left from a child goes to the parent.
    tree.focus()
    page.keyboard.press("ArrowDown")
    playwright_api.expect(tree.get_by_role("treeitem", selected=True)).to_contain_text("retrieve")
    pane = page.get_by_role("region", name="Span details")
    playwright_api.expect(pane).to_contain_text("Paris forecast: sun")
    playwright_api.expect(pane).to_contain_text("score 0.920")
    page.keyboard.press("ArrowDown")
    playwright_api.expect(pane).to_contain_text("You answer weather questions.")
    playwright_api.expect(pane).to_contain_text("Input messages")
    playwright_api.expect(pane).to_contain_text("35 (30 prompt, 5 completion)")
    tab.screenshot("trace-llm")
    page.keyboard.press("ArrowDown")
    playwright_api.expect(pane).to_contain_text("weather service timed out")
    playwright_api.expect(pane.locator(".stacktrace")).to_contain_text("TimeoutError")
    playwright_api.expect(tree.get_by_role("treeitem", selected=True)).to_have_class(re.compile("error"))
    page.keyboard.press("ArrowLeft")
    playwright_api.expect(tree.get_by_role("treeitem", selected=True)).to_contain_text("agent")
    page.keyboard.press("ArrowLeft")  # collapses the root
    playwright_api.expect(tree.get_by_role("treeitem")).to_have_count(1)
    page.keyboard.press("ArrowRight")
    playwright_api.expect(tree.get_by_role("treeitem")).to_have_count(4)

    # Search within the trace; Enter selects the match.
    search = page.get_by_role("searchbox", name="Search spans")
    search.fill("get_weather")
    playwright_api.expect(page.get_by_text("1 match")).to_be_visible()
    search.press("Enter")
    playwright_api.expect(tree.get_by_role("treeitem", selected=True)).to_contain_text("get_weather")

    # The selected span is in the URL: a reload lands on it.
    page.reload()
    playwright_api.expect(page.get_by_role("tree", name="Spans").get_by_role("treeitem", selected=True)).to_contain_text("get_weather")
    page.get_by_role("tab", name="Attributes").click()
    playwright_api.expect(pane).to_contain_text('"get_weather"')

    # j / k move between the traces of the list the trace was opened from.
    first_id = re.search(r"/traces/([0-9a-f]{32})", first_url).group(1)
    trace_title = page.locator(".page-header h1 code")
    page.get_by_role("tree", name="Spans").focus()
    page.keyboard.press("j")
    playwright_api.expect(trace_title).not_to_have_text(first_id)
    # The next trace's screen is up (its keys work) once its tree has a selection.
    playwright_api.expect(page.get_by_role("tree", name="Spans").get_by_role("treeitem", selected=True)).to_be_visible()
    page.keyboard.press("k")
    playwright_api.expect(trace_title).to_have_text(first_id)

    # A shared span link opens its trace with the span selected.
    span_id = requests.get(f"{cinder.base_url}/v1/projects/{project}/spans", params={"limit": 100}, timeout=10).json()["data"]
    tool = next(s for s in span_id if s["name"] == "get_weather")
    project_id = page.url.split("/projects/")[1].split("/")[0]
    page.goto(f"/projects/{project_id}/spans/{tool['context']['span_id']}")
    playwright_api.expect(page.get_by_role("tree", name="Spans").get_by_role("treeitem", selected=True)).to_contain_text("get_weather")

    # Dark theme.
    page.get_by_role("button", name=re.compile("Theme")).click()
    assert page.evaluate("document.documentElement.dataset.theme") in ("dark", "light")
    tab.screenshot("trace-tool-error-theme")


def test_a_big_trace_renders_only_what_is_visible(tab, cinder):
    """10,000 spans in one trace: every one is loaded (pages of 1,000), the tree holds them all, and
    only the rows in view (plus a margin) exist in the page."""
    project = unique_name("ui-big")
    provider = TracerProvider(resource=Resource.create({"service.name": "ui-big", PROJECT_ATTR: project}))
    provider.add_span_processor(BatchSpanProcessor(http_exporter(cinder), max_queue_size=20_000, max_export_batch_size=2_000))
    tracer = provider.get_tracer("ui-big")
    with tracer.start_as_current_span("big-root", attributes={"openinference.span.kind": "AGENT"}):
        for i in range(9_999):
            with tracer.start_as_current_span(f"step-{i:05d}", attributes={"openinference.span.kind": "TOOL"}):
                pass
    assert provider.force_flush(60_000)
    provider.shutdown()
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    page.get_by_role("link", name="Traces", exact=True).click()
    page.get_by_role("table", name="Traces").get_by_text("big-root").click()
    tree = page.get_by_role("tree", name="Spans")
    playwright_api.expect(page.locator(".trace-summary")).to_contain_text("10,000")
    playwright_api.expect(page.locator(".progress")).to_have_text("", timeout=60_000)
    height = page.evaluate("document.querySelector('.virtual-spacer').style.height")
    assert height == f"{10_000 * 28}px"
    drawn = tree.get_by_role("treeitem").count()
    assert 10 < drawn < 100, drawn
    tree.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    playwright_api.expect(tree.get_by_role("treeitem").filter(has_text="step-09998")).to_be_visible()
    assert tree.get_by_role("treeitem").count() < 100
    tab.screenshot("trace-10000-spans")


def test_sign_in_organizations_and_sign_out(browser, auth_cinder):
    server = auth_cinder
    email, password = unique_email("ui-person"), "ui-password-1"
    first = create_organization(server, unique_name("ui-first"), email, password)
    second_name = unique_name("ui-second")
    second = admin_secret(server).ok("post", "/v1/organizations", 201, json={"name": second_name, "admin": {"email": email}})["data"]["id"]
    projects = {}
    for org in (first, second):
        key = create_key(admin_secret(server, org), "system")
        projects[org] = unique_name("ui-org")
        ingest(server, projects[org], traces=1, headers={"authorization": f"Bearer {key}"})
        wait_for_spans(server, projects[org], 4, headers={"authorization": f"Bearer {key}"})

    tab = Page(browser, server)
    page = tab.page
    page.goto("/projects")
    page.wait_for_url(re.compile(r".*/login\?next=%2Fprojects$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    tab.screenshot("login")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/projects")
    playwright_api.expect(page.get_by_role("link", name=projects[first])).to_be_visible()
    playwright_api.expect(page.get_by_role("link", name=projects[second])).to_have_count(0)
    switcher = page.get_by_label("Organization")
    assert switcher.input_value() == first
    tab.screenshot("projects-auth")

    switcher.select_option(second)
    playwright_api.expect(page.get_by_role("link", name=projects[second])).to_be_visible()
    playwright_api.expect(page.get_by_role("link", name=projects[first])).to_have_count(0)
    assert page.get_by_label("Organization").input_value() == second

    # The first organization's project, by its id, is not found from the second.
    first_project = requests.get(f"{server.base_url}/v1/projects/{projects[first]}", headers={"authorization": f"Bearer {create_key(admin_secret(server, first), 'system')}"}, timeout=10).json()["data"]["id"]
    page.goto(f"/projects/{first_project}/spans")
    playwright_api.expect(page.get_by_role("alert")).to_contain_text("does not exist")
    playwright_api.expect(page.get_by_text(projects[first])).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/projects")
    page.wait_for_url(re.compile(r".*/login\?next=%2Fprojects$"))
    # Signed out, the page's first requests are refused (401) before it shows the sign-in form.
    tab.close(expected="status of 401")


def test_graphql_explorer_runs_queries_and_shows_the_schema(tab, cinder):
    page = tab.page
    page.goto("/graphql")
    playwright_api.expect(page.get_by_role("heading", name="GraphQL")).to_be_visible()
    # The schema browser, from introspection: Query's fields, then a type reached from one.
    schema = page.get_by_role("complementary", name="Schema")
    schema.get_by_role("link", name="Query").click()
    playwright_api.expect(schema).to_contain_text("projectCount")
    query = page.get_by_role("textbox", name="Query")
    query.fill("query { projectCount }")
    query.press("Control+Enter")
    result = page.get_by_role("region", name="Result")
    playwright_api.expect(result).to_contain_text('"projectCount"')
    query.fill("query { noSuchField }")
    page.get_by_role("button", name="Run").click()
    playwright_api.expect(result).to_contain_text("noSuchField")
    playwright_api.expect(result).to_contain_text('"errors"')
    tab.screenshot("graphql-explorer")


def send_session_turn(tracer, session_id: str, question: str, answer: str) -> None:
    with tracer.start_as_current_span("turn", attributes={
        "openinference.span.kind": "AGENT", "session.id": session_id, "input.value": question, "output.value": answer,
    }):
        with tracer.start_as_current_span("llm", attributes={
            "openinference.span.kind": "LLM", "llm.token_count.prompt": 6, "llm.token_count.completion": 4,
        }):
            pass


def test_sessions_live_mode_and_custom_range(tab, cinder):
    project, session_id = unique_name("ui-sessions"), unique_name("conversation")
    pipeline = make_tracer_provider(cinder, project)
    for i in range(3):
        send_session_turn(pipeline.tracer, session_id, f"question {i}", f"answer {i}")
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    page.get_by_role("link", name="Sessions", exact=True).click()
    page.wait_for_url(re.compile(r".*/projects/[^/]+/sessions$"))
    sessions = page.get_by_role("table", name="Sessions")
    row = sessions.get_by_role("row").filter(has_text=session_id)
    playwright_api.expect(row).to_contain_text("question 0")  # first input
    playwright_api.expect(row).to_contain_text("answer 2")  # last output
    playwright_api.expect(row.get_by_role("cell").nth(4)).to_have_text("3")  # traces
    playwright_api.expect(row.get_by_role("cell").nth(5)).to_have_text("30")  # tokens
    row.get_by_text(session_id).click()
    page.wait_for_url(re.compile(r".*/sessions/[^/]+$"))
    turns = page.get_by_role("list", name="Turns").get_by_role("listitem")
    playwright_api.expect(turns).to_have_count(3)
    for i in range(3):
        playwright_api.expect(turns.nth(i)).to_contain_text(f"question {i}")
        playwright_api.expect(turns.nth(i)).to_contain_text(f"answer {i}")
    tab.screenshot("session")
    turns.nth(1).get_by_role("link", name=re.compile("View trace")).click()
    playwright_api.expect(page.get_by_role("tree", name="Spans").get_by_role("treeitem")).to_have_count(2)

    # Live: new spans appear at the top without a reload.
    project_path = page.url.split("/traces/")[0]
    page.goto(f"{project_path}/spans?live=1")
    spans = page.get_by_role("table", name="Spans")
    playwright_api.expect(spans.get_by_role("row")).to_have_count(7)
    page.evaluate("window.cinderMarker = 1")
    send_session_turn(pipeline.tracer, session_id, "live question", "live answer")
    playwright_api.expect(spans.get_by_role("row")).to_have_count(9, timeout=10_000)
    playwright_api.expect(spans.get_by_role("row").nth(1)).to_contain_text(re.compile("turn|llm"))
    assert page.evaluate("window.cinderMarker") == 1, "the page was reloaded"
    pipeline.finish()

    # A custom range before any of it: nothing, and the URL keeps the range for a reload.
    page.get_by_role("combobox", name="Time range").select_option("custom")
    page.get_by_label("From", exact=True).fill("2001-01-01T00:00")
    page.get_by_label("To", exact=True).fill("2001-01-02T00:00")
    page.get_by_role("button", name="Apply").click()
    playwright_api.expect(page.get_by_text("Nothing in this time range")).to_be_visible()
    assert "range=custom" in page.url
    page.reload()
    playwright_api.expect(page.get_by_text("Nothing in this time range")).to_be_visible()
    playwright_api.expect(page.locator(".stats")).to_contain_text("Traces0")


def test_span_filter_box_and_root_spans_only(tab, cinder):
    project = unique_name("ui-filter")
    ingest(cinder, project, traces=2)  # per trace: agent (CHAIN), retrieve, chat gpt-4o (LLM), get_weather (TOOL, error)
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    spans = page.get_by_role("table", name="Spans")
    playwright_api.expect(spans.get_by_role("row")).to_have_count(9)
    box = page.get_by_role("searchbox", name="Filter spans")

    # Checked as it is typed: a message, no request for rows.
    box.fill("latency_ms >")
    playwright_api.expect(page.get_by_role("status").filter(has_text="unexpected end of condition")).to_be_visible()
    box.fill("span_kind == 'LLM' or status_code == 'ERROR'")
    playwright_api.expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    playwright_api.expect(spans.get_by_role("row")).to_have_count(5)
    for row in spans.get_by_role("row").all()[1:]:
        assert re.search(r"chat gpt-4o|get_weather", row.inner_text())
    tab.screenshot("spans-filtered")

    # The filter is in the URL: a reload keeps it; root spans only narrows it further.
    page.reload()
    playwright_api.expect(page.get_by_role("searchbox", name="Filter spans")).to_have_value("span_kind == 'LLM' or status_code == 'ERROR'")
    playwright_api.expect(page.get_by_role("table", name="Spans").get_by_role("row")).to_have_count(5)
    page.get_by_role("searchbox", name="Filter spans").fill("")
    page.get_by_role("searchbox", name="Filter spans").press("Enter")
    page.get_by_role("checkbox", name="Root spans only").check()
    playwright_api.expect(page.get_by_role("table", name="Spans").get_by_role("row")).to_have_count(3)
    playwright_api.expect(page.get_by_role("table", name="Spans")).not_to_contain_text("get_weather")

    # A condition the server refuses on Enter says why beside the box.
    box = page.get_by_role("searchbox", name="Filter spans")
    box.fill("name > 3")
    box.press("Enter")
    playwright_api.expect(page.get_by_role("status").filter(has_text="is text: compare it with a string")).to_be_visible()
    playwright_api.expect(page.get_by_text("Fix the filter to see spans.")).to_be_visible()


def test_annotating_a_span_and_adding_a_note(tab, cinder):
    project = unique_name("ui-annotate")
    ingest(cinder, project, traces=1)
    config_name = unique_name("verdict")
    r = requests.post(f"{cinder.base_url}/v1/annotation_configs", timeout=10, json={
        "name": config_name, "type": "CATEGORICAL", "optimization_direction": "MAXIMIZE",
        "values": [{"label": "good", "score": 1}, {"label": "bad", "score": 0}]})
    assert r.status_code == 200, r.text
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    page.get_by_role("link", name="Traces", exact=True).click()
    page.get_by_role("table", name="Traces").get_by_text("agent").click()
    pane = page.get_by_role("region", name="Span details")
    playwright_api.expect(pane.get_by_role("heading", name="agent")).to_be_visible()
    pane.get_by_role("tab", name="Annotate").click()
    pane.get_by_role("combobox", name=config_name).select_option("good")
    pane.get_by_role("combobox", name=config_name).locator("xpath=../..").get_by_role("button", name="Save").click()
    # The span reloads: the Info tab lists the annotation.
    playwright_api.expect(pane.get_by_role("tab", name="Info")).to_have_attribute("aria-selected", "true")
    playwright_api.expect(pane.get_by_role("table")).to_contain_text(config_name)
    playwright_api.expect(pane.get_by_role("table")).to_contain_text("good")
    pane.get_by_role("tab", name="Annotate").click()
    pane.get_by_role("textbox", name="Note").fill("Checked by hand in the UI.")
    pane.get_by_role("button", name="Add note").click()
    pane.get_by_role("tab", name="Annotate").click()
    playwright_api.expect(pane.get_by_role("heading", name="Notes (1)")).to_be_visible()
    playwright_api.expect(pane).to_contain_text("Checked by hand in the UI.")
    tab.screenshot("annotate")

    # Stored as Phoenix's API reads it.
    spans = requests.get(f"{cinder.base_url}/v1/projects/{project}/spans", params={"limit": 100}, timeout=10).json()["data"]
    root = next(s for s in spans if s["name"] == "agent")["context"]["span_id"]
    annotations = requests.get(f"{cinder.base_url}/v1/projects/{project}/span_annotations",
                               params={"span_ids": root}, timeout=10).json()["data"]
    verdict = [a for a in annotations if a["name"] == config_name]
    assert len(verdict) == 1 and verdict[0]["result"]["label"] == "good" and verdict[0]["result"]["score"] == 1
    assert verdict[0]["annotator_kind"] == "HUMAN"

    # The project's header summarizes it: one label, on every annotated span, score 1.
    page.go_back()
    page.get_by_role("link", name="Spans", exact=True).click()
    stats = page.get_by_label("Project statistics")
    playwright_api.expect(stats).to_contain_text(config_name)
    playwright_api.expect(stats.locator(".stat", has_text=config_name)).to_contain_text("1.00")
    playwright_api.expect(stats.locator(".stat", has_text=config_name)).to_have_attribute("title", re.compile("1 annotations.*good 100%"))


def test_metrics_tab_charts_the_range_in_bins(tab, cinder):
    """Three traces two and a half hours ago (two OK, one ERROR, 30/5 tokens each): the Metrics tab over
    the last day charts them in hourly bins; pointing at a bin shows its values."""
    import time as clock
    from opentelemetry import trace as otel_trace

    project = unique_name("ui-metrics")
    pipeline = make_tracer_provider(cinder, project)
    start = (int(clock.time()) // 3600 - 2) * 3600 * 10**9 - 40 * 60 * 10**9
    for i, status in enumerate([StatusCode.OK, StatusCode.OK, StatusCode.ERROR]):
        t0 = start + i * 10**9
        root = pipeline.tracer.start_span("agent", start_time=t0, attributes={"openinference.span.kind": "CHAIN"})
        child = pipeline.tracer.start_span("llm", context=otel_trace.set_span_in_context(root), start_time=t0 + 10**6, attributes={
            "openinference.span.kind": "LLM", "llm.token_count.prompt": 30, "llm.token_count.completion": 5})
        child.end(end_time=t0 + 2 * 10**6)
        root.set_status(Status(status))
        root.end(end_time=t0 + (i + 1) * 100 * 10**6)
    pipeline.finish()
    wait_for_spans(cinder, project, 6)

    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    page.get_by_role("link", name="Metrics", exact=True).click()
    playwright_api.expect(page).to_have_url(re.compile(r"/projects/[^/]+/metrics"))
    page.get_by_role("combobox", name="Time range").select_option("1d")
    playwright_api.expect(page.get_by_text(re.compile(r"^\d+ hour bins"))).to_be_visible()
    for title in ["Traces", "Trace error rate", "Trace latency", "Spans", "Tokens", "Cost"]:
        playwright_api.expect(page.get_by_role("figure", name=title, exact=True)).to_be_visible()
    # No costs were recorded: said so instead of an empty chart.
    playwright_api.expect(page.get_by_role("figure", name="Cost", exact=True)).to_contain_text("No costs recorded")

    traces = page.get_by_role("figure", name="Traces", exact=True)
    bars = traces.locator("rect")
    playwright_api.expect(bars).to_have_count(2)  # one bin: OK and Error stacked
    bars.first.hover()
    tip = traces.get_by_role("status")
    playwright_api.expect(tip).to_contain_text("OK: 2")
    playwright_api.expect(tip).to_contain_text("Error: 1")
    tokens = page.get_by_role("figure", name="Tokens", exact=True)
    tokens.locator("rect").first.hover()
    playwright_api.expect(tokens.get_by_role("status")).to_contain_text("Prompt: 90")
    playwright_api.expect(tokens.get_by_role("status")).to_contain_text("Completion: 15")
    latency = page.get_by_role("figure", name="Trace latency", exact=True)
    playwright_api.expect(latency.locator("path.line")).to_have_count(4)  # p50, p90, p99, max
    tab.screenshot("metrics")

    # The range is in the URL: a reload draws the same bins.
    page.reload()
    playwright_api.expect(page.get_by_role("figure", name="Traces", exact=True).locator("rect")).to_have_count(2)


def _ms(text: str) -> float:
    """A latency cell ("0.42 ms", "<0.01 ms", "1.20 s", "2 min 3 s") in milliseconds."""
    text = text.strip().lstrip("<")
    if m := re.fullmatch(r"(\d+) min (\d+) s", text):
        return int(m[1]) * 60_000 + int(m[2]) * 1000
    value, unit = text.split()
    return float(value) * (1000 if unit == "s" else 1)


def test_spans_sort_by_latency_and_tokens(tab, cinder):
    project = unique_name("ui-sort")
    ingest(cinder, project, traces=2)
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    spans = page.get_by_role("table", name="Spans")
    playwright_api.expect(spans.get_by_role("row")).to_have_count(9)

    def column(label: str) -> list[str]:
        headers = [h.inner_text().strip(" ▲▼") for h in spans.get_by_role("columnheader").all()]
        index = headers.index(label)
        return [row.get_by_role("cell").nth(index).inner_text() for row in spans.get_by_role("row").all()[1:]]

    spans.get_by_role("columnheader", name="Latency").click()
    playwright_api.expect(page).to_have_url(re.compile(r"sort=latency%3Adesc|sort=latency:desc"))
    playwright_api.expect(spans.get_by_role("columnheader", name="Latency")).to_have_attribute("aria-sort", "descending")
    latencies = [_ms(t) for t in column("Latency")]
    assert latencies == sorted(latencies, reverse=True), latencies
    spans.get_by_role("columnheader", name="Latency").click()
    playwright_api.expect(spans.get_by_role("columnheader", name="Latency")).to_have_attribute("aria-sort", "ascending")
    latencies = [_ms(t) for t in column("Latency")]
    assert latencies == sorted(latencies), latencies

    # Tokens: the two LLM spans (35 each) first; the reload keeps the order.
    spans.get_by_role("columnheader", name="Tokens").click()
    playwright_api.expect(spans.get_by_role("columnheader", name="Tokens")).to_have_attribute("aria-sort", "descending")
    page.reload()
    spans = page.get_by_role("table", name="Spans")
    playwright_api.expect(spans.get_by_role("columnheader", name="Tokens")).to_have_attribute("aria-sort", "descending")
    assert column("Tokens")[:2] == ["35", "35"]
    assert all(name == "chat gpt-4o" for name in column("Name")[:2])


def test_filter_box_completes_names_and_values_from_the_api(tab, cinder):
    project = unique_name("ui-complete")
    ingest(cinder, project, traces=2)
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    spans = page.get_by_role("table", name="Spans")
    playwright_api.expect(spans.get_by_role("row")).to_have_count(9)
    box = page.get_by_role("searchbox", name="Filter spans")
    suggestions = page.get_by_role("listbox", name="Suggestions")

    box.click()  # empty: example conditions
    playwright_api.expect(suggestions.get_by_role("option").first).to_contain_text("span_kind == 'LLM'")
    box.type("stat")
    playwright_api.expect(suggestions.get_by_role("option").first).to_contain_text("status_code")
    playwright_api.expect(box).to_have_attribute("aria-expanded", "true")
    box.press("Enter")  # accepts; does not submit
    playwright_api.expect(box).to_have_value("status_code ")
    box.type("== '")
    playwright_api.expect(suggestions.get_by_role("option")).to_have_text([re.compile("'OK'"), re.compile("'ERROR'"), re.compile("'UNSET'")])
    box.press("ArrowDown")
    playwright_api.expect(suggestions.get_by_role("option", name=re.compile("'ERROR'"))).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    playwright_api.expect(box).to_have_value("status_code == 'ERROR' ")
    playwright_api.expect(suggestions).to_be_hidden()
    playwright_api.expect(spans.get_by_role("row")).to_have_count(9)  # nothing applied yet
    box.press("Enter")
    playwright_api.expect(page.get_by_role("table", name="Spans").get_by_role("row")).to_have_count(3)

    # Attribute paths seen on this project's spans are offered too.
    box.fill("")
    box.type("llm.mod")
    playwright_api.expect(suggestions.get_by_role("option").first).to_contain_text("llm.model_name")
    tab.screenshot("filter-completion")
    box.press("Escape")
    playwright_api.expect(suggestions).to_be_hidden()


def test_traces_tab_filters_by_root_span_and_sorts_by_latency(tab, cinder):
    project = unique_name("ui-traces-filter")
    ingest(cinder, project, traces=3)
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    page.get_by_role("link", name="Traces", exact=True).click()
    traces = page.get_by_role("table", name="Traces")
    playwright_api.expect(traces.get_by_role("row")).to_have_count(4)

    box = page.get_by_role("searchbox", name="Filter traces")
    box.fill("span_kind == 'LLM'")  # LLM spans are never roots here
    box.press("Enter")
    playwright_api.expect(page.get_by_text("No trace in this time range matches the filter.")).to_be_visible()
    box.fill("'#1' in input.value")
    box.press("Enter")
    traces = page.get_by_role("table", name="Traces")
    playwright_api.expect(traces.get_by_role("row")).to_have_count(2)
    playwright_api.expect(traces).to_contain_text("Weather in Paris? #1")

    box.fill("")
    box.press("Enter")
    traces = page.get_by_role("table", name="Traces")
    playwright_api.expect(traces.get_by_role("row")).to_have_count(4)
    traces.get_by_role("columnheader", name="Latency").click()
    playwright_api.expect(traces.get_by_role("columnheader", name="Latency")).to_have_attribute("aria-sort", "descending")
    headers = [h.inner_text().strip(" ▲▼") for h in traces.get_by_role("columnheader").all()]
    index = headers.index("Latency")
    latencies = [_ms(row.get_by_role("cell").nth(index).inner_text()) for row in traces.get_by_role("row").all()[1:]]
    assert len(latencies) == 3 and latencies == sorted(latencies, reverse=True), latencies
    playwright_api.expect(traces.get_by_role("columnheader", name="Tokens")).not_to_have_attribute("aria-sort", re.compile("."))


def test_sessions_tab_filters_with_the_session_language_and_sorts(tab, cinder):
    project, long_id, short_id = unique_name("ui-sessions-filter"), unique_name("long"), unique_name("short")
    pipeline = make_tracer_provider(cinder, project)
    for i in range(3):
        send_session_turn(pipeline.tracer, long_id, f"Where is my refund? {i}", f"answer {i}")
    send_session_turn(pipeline.tracer, short_id, "hello", "hi there")
    pipeline.finish()
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    page.get_by_role("link", name="Sessions", exact=True).click()
    sessions = page.get_by_role("table", name="Sessions")
    playwright_api.expect(sessions.get_by_role("row")).to_have_count(3)

    box = page.get_by_role("searchbox", name="Filter sessions")
    box.click()
    suggestions = page.get_by_role("listbox", name="Suggestions")
    playwright_api.expect(suggestions).to_contain_text("'refund' in any_input")  # the session language's examples
    box.fill("num_traces > 5")
    box.press("Enter")
    playwright_api.expect(page.get_by_text("No session in this time range matches the filter.")).to_be_visible()
    box.fill("'REFUND' in any_input and num_traces == 3")
    box.press("Enter")
    sessions = page.get_by_role("table", name="Sessions")
    playwright_api.expect(sessions.get_by_role("row")).to_have_count(2)
    playwright_api.expect(sessions).to_contain_text(long_id)
    assert "filter=" in page.url
    page.reload()
    playwright_api.expect(page.get_by_role("table", name="Sessions").get_by_role("row")).to_have_count(2)

    box = page.get_by_role("searchbox", name="Filter sessions")
    box.fill("latency_ms > 3")  # a span field: not a session's
    playwright_api.expect(page.locator(".filter-message")).to_contain_text("unknown name `latency_ms`")
    playwright_api.expect(box).to_have_attribute("aria-invalid", "true")
    box.fill("")
    box.press("Enter")
    sessions = page.get_by_role("table", name="Sessions")
    playwright_api.expect(sessions.get_by_role("row")).to_have_count(3)

    def column(label: str) -> list[str]:
        headers = [h.inner_text().strip(" ▲▼") for h in sessions.get_by_role("columnheader").all()]
        return [row.get_by_role("cell").nth(headers.index(label)).inner_text() for row in sessions.get_by_role("row").all()[1:]]

    sessions.get_by_role("columnheader", name="Traces").click()
    playwright_api.expect(sessions.get_by_role("columnheader", name="Traces")).to_have_attribute("aria-sort", "descending")
    playwright_api.expect(sessions.get_by_role("row").nth(1)).to_contain_text(long_id)
    assert column("Traces") == ["3", "1"]
    sessions.get_by_role("columnheader", name="Traces").click()
    playwright_api.expect(sessions.get_by_role("columnheader", name="Traces")).to_have_attribute("aria-sort", "ascending")
    playwright_api.expect(sessions.get_by_role("row").nth(1)).to_contain_text(short_id)
    assert column("Tokens") == ["10", "30"]
    tab.screenshot("sessions-filtered-sorted")


def test_costs_show_per_span_and_per_trace_and_spans_sort_by_cost(tab, cinder):
    project = unique_name("ui-costs")
    pipeline = make_tracer_provider(cinder, project)
    for question, costs in [("cheap", [0.02]), ("pricey", [0.5, 0.25]), ("free", [])]:
        with pipeline.tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "CHAIN", "input.value": question}):
            for cost in costs:
                with pipeline.tracer.start_as_current_span("llm", attributes={
                        "openinference.span.kind": "LLM", "llm.cost.total": cost, "llm.token_count.prompt": 10}):
                    pass
    pipeline.finish()
    page = tab.page
    page.goto("/projects")
    page.get_by_role("link", name=project).click()
    spans = page.get_by_role("table", name="Spans")
    playwright_api.expect(spans.get_by_role("row")).to_have_count(7)

    def column(table, label: str) -> list[str]:
        headers = [h.inner_text().strip(" ▲▼") for h in table.get_by_role("columnheader").all()]
        return [row.get_by_role("cell").nth(headers.index(label)).inner_text() for row in table.get_by_role("row").all()[1:]]

    spans.get_by_role("columnheader", name="Cost").click()
    playwright_api.expect(spans.get_by_role("columnheader", name="Cost")).to_have_attribute("aria-sort", "descending")
    playwright_api.expect(page).to_have_url(re.compile(r"sort=cost%3Adesc|sort=cost:desc"))
    assert column(spans, "Cost")[:3] == ["$0.50", "$0.25", "$0.02"]

    page.get_by_role("link", name="Traces", exact=True).click()
    traces = page.get_by_role("table", name="Traces")
    playwright_api.expect(traces.get_by_role("row")).to_have_count(4)
    by_input = dict(zip(column(traces, "Input"), column(traces, "Cost")))
    assert by_input == {"pricey": "$0.75", "cheap": "$0.02", "free": "—"}, by_input
    tokens = dict(zip(column(traces, "Input"), column(traces, "Tokens")))
    assert tokens == {"pricey": "20", "cheap": "10", "free": "0"}, tokens
