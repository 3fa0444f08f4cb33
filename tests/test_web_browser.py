"""The web lab in a real headless chromium: every view used the way a person would use it.

The server runs in a background thread on a free loopback port; Playwright drives Debian's
chromium. Every test fails on a console error, an uncaught exception, or a request to a host
other than the lab itself. A screenshot of each view is kept under test-output/screenshots/.
"""

import json
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A store holding two sweeps and a run, made with the library, for the History view."""
    import lrlab

    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'records.db'}"
    with lrlab.store.open(url) as st:
        sweeps = [
            st.save(lrlab.sweep("bowl", lrs=[0.01, 0.03, 0.1, 0.3], steps=40)),
            st.save(lrlab.sweep("bowl", lrs=[0.02, 0.05, 0.15], steps=80)),
        ]
        run = st.save(lrlab.descend("parabola", lr=0.3, steps=20))
        momenta = lrlab.optim.sgd(momentum=[0.0, 0.5])
        grid = st.save(
            lrlab.sweep("parabola:L=4", lrs=[0.1, 0.3, 1.0], steps=30, optimizer=momenta)
        )
    return {"url": url, "sweeps": sweeps, "run": run, "grid": grid}


@pytest.fixture(scope="module")
def server(stored):
    import uvicorn

    from lrlab.web import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store=stored["url"]), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the web lab did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Watch:
    """What a page did that it should not: console errors, page errors, other hosts."""

    def __init__(self, page, base):
        self.errors, self.foreign, self.allowed = [], [], []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: self._request(r.url, base))

    def _request(self, url, base):
        if not url.startswith((base + "/", "data:", "blob:", "about:")):
            self.foreign.append(url)

    def expect_status(self, status):
        """A request that is meant to fail (chromium logs every 4xx on the console)."""
        self.allowed.append(f"status of {status}")

    def check(self):
        errors = [e for e in self.errors if not any(a in e for a in self.allowed)]
        assert not errors, errors
        assert not self.foreign, self.foreign


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.watch = Watch(pg, server)
    pg.base = server
    yield pg
    pg.watch.check()
    context.close()


def settle(page):
    """Wait until no request is in flight and the plots have drawn."""
    page.wait_for_function("() => document.getElementById('status').textContent !== 'computing…'")
    page.wait_for_timeout(150)
    page.wait_for_function("() => document.getElementById('status').textContent !== 'computing…'")


def wait_text(page, element, test, **kwargs):
    script = f"() => document.getElementById('{element}').textContent.{test}"
    page.wait_for_function(script, **kwargs)


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def path_trace(page):
    return page.evaluate("""() => {
        const d = document.getElementById('plot-path').data || [];
        const t = d.find((t) => t.name === 'path');
        return t ? {x: Array.from(t.x), y: Array.from(t.y)} : null;
    }""")


def regime(page, badge="badge"):
    return page.get_attribute(f"#{badge}", "data-regime")


def url_state(page):
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def open_lab(page, query=""):
    page.goto(page.base + "/" + query)
    page.wait_for_function(
        "() => document.getElementById('badge').dataset.regime !== ''"
        " || !document.getElementById('view-explore').offsetParent"
    )
    settle(page)


# ----------------------------------------------------------------------------------------------


def test_type_an_expression_and_move_the_slider(page):
    open_lab(page)
    page.fill("#objective-text", "x**4 - 4*x**2 + x")
    wait_text(page, "objective-info", "includes('x**4')")
    wait_text(page, "path-title", "includes('curve')")
    settle(page)
    before, regime_before = path_trace(page), regime(page)
    assert before and len(before["x"]) == 201 and regime_before

    # The learning rate at the top of the slider's range (10/L): the path flies off.
    page.focus("#lr-slider")
    page.keyboard.press("End")
    page.wait_for_function(
        f"() => document.getElementById('badge').dataset.regime !== '{regime_before}'"
    )
    settle(page)
    after = path_trace(page)
    assert after["x"] != before["x"]
    assert regime(page) == "diverging"
    assert float(url_state(page)["lr"]) > 0.2

    # A typed value: the badge follows, and the advice names a learning rate.
    page.fill("#lr-value", "0.001")
    page.press("#lr-value", "Enter")
    page.wait_for_function("() => document.getElementById('badge').dataset.regime !== 'diverging'")
    settle(page)
    assert url_state(page)["lr"] == "0.001"
    assert page.text_content("#advice").strip()
    shot(page, "explore-1d")

    # A broken expression is shown inline with where it breaks; the last picture stays.
    page.watch.expect_status(400)
    page.fill("#objective-text", "x**2 + (y")
    page.wait_for_selector("#objective-error:not([hidden])")
    assert "Position 7" in page.text_content("#objective-message")
    assert page.text_content("#objective-caret").splitlines()[1] == " " * 7 + "^"
    assert page.get_attribute("#objective-text", "aria-invalid") == "true"


def test_optimizer_picker_and_momentum_slider_change_the_path(page):
    open_lab(page, "?objective=bowl&lr=0.01&steps=100")
    plain = path_trace(page)
    page.select_option("#optimizer", "adam")
    page.wait_for_function("() => new URLSearchParams(location.search).get('optimizer') === 'adam'")
    settle(page)
    adam = path_trace(page)
    assert adam["x"] != plain["x"] and regime(page)
    # Heavy-ball momentum, from the keyboard: SGD again, then the slider to its top.
    page.select_option("#optimizer", "sgd")
    page.focus("#momentum")
    page.keyboard.press("End")
    page.wait_for_function("() => new URLSearchParams(location.search).get('momentum') === '0.99'")
    settle(page)
    assert page.text_content("#momentum-value") == "0.99"
    page.wait_for_function(
        "() => document.getElementById('plot-path').data.find((t) => t.name === 'path').x.length"
        " === 101"
    )
    heavy = path_trace(page)
    assert heavy["x"] != plain["x"] and heavy["x"] != adam["x"]


def test_contour_click_sets_the_start_and_the_path_plays(page):
    open_lab(page, "?objective=himmelblau&lr=0.01&steps=40")
    assert page.is_visible("#plot-path .contour")
    box = page.locator("#plot-path .nsewdrag").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)
    page.wait_for_function("() => new URLSearchParams(location.search).has('start')")
    settle(page)
    start = [float(v) for v in url_state(page)["start"].split(",")]
    assert start[0] > 0 and start[1] > 0  # the upper right quarter of the (-5, 5) box
    trace = path_trace(page)
    assert trace["x"][0] == pytest.approx(start[0]) and trace["y"][0] == pytest.approx(start[1])

    page.click("#play")
    page.wait_for_function("() => Number(document.getElementById('scrub').value) < 40")
    wait_text(page, "play", "includes('Play')")
    assert page.input_value("#scrub") == "40"
    shot(page, "explore")

    with page.expect_download() as dl:
        page.click("#export-run-csv")
    lines = Path(dl.value.path()).read_text().splitlines()
    assert lines[0] == "step,loss,grad_norm,step_size,x,y" and len(lines) == 42
    with page.expect_download() as dl:
        page.click("button.png[data-plot='plot-path']")
    assert Path(dl.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_shows_the_seeds_four_regimes(page):
    open_lab(page, "?view=compare&objective=hill")
    page.wait_for_selector("#compare-out .runs")
    settle(page)
    assert page.locator("#compare-out .compare-grid .js-plotly-plot").count() == 5
    page.click("#pictures-run")
    page.wait_for_selector("#pictures-curves li")
    settle(page)
    curves = page.locator("#pictures-curves li")
    pictures = [curves.nth(i).get_attribute("data-picture") for i in range(curves.count())]
    regimes = [curves.nth(i).get_attribute("data-regime") for i in range(curves.count())]
    assert pictures == ["very high", "high", "low", "good"]
    assert regimes == ["diverging", "too_high", "too_low", "good"]
    assert page.locator("#pictures-paths .js-plotly-plot").count() == 3
    page.evaluate("document.querySelector('main').scrollTo(0, 0)")
    shot(page, "compare")

    with page.expect_download() as dl:
        page.click("#export-compare-json")
    data = json.loads(Path(dl.value.path()).read_text())
    assert [c["label"] for c in data["curves"]] == pictures

    # The state is in the URL: opening it again shows the same comparison.
    lrs = "0.01,0.05"
    page.goto(f"{page.base}/?view=compare&objective=hill&lrs={lrs}&steps=80")
    page.wait_for_selector("#compare-out .runs")
    settle(page)
    assert page.input_value("#compare-lrs") == "0.01, 0.05"
    assert page.locator("#compare-out .runs tbody tr").count() == 2


def test_sweep_landscape_and_open_a_run(page):
    open_lab(page, "?view=sweep&objective=bowl&steps=150")
    page.wait_for_selector("#plot-sweep .scatterlayer .point")
    settle(page)
    summary = page.text_content("#sweep-summary")
    assert "Best α" in summary and "2/L = 0.2" in summary
    legend = page.locator("#sweep-legend [data-regime]")
    seen = {legend.nth(i).get_attribute("data-regime") for i in range(legend.count())}
    assert {"diverging", "good", "too_low"} <= seen
    labels = page.evaluate(
        "Array.from(document.querySelectorAll('#plot-sweep .annotation-text'))"
        ".map((a) => a.textContent)"
    )
    assert {"1/L", "2/L", "best"} <= set(labels)
    shot(page, "sweep")

    point = page.locator("#plot-sweep .scatterlayer .point").first.bounding_box()
    page.mouse.click(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
    page.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'explore'")
    settle(page)
    assert regime(page)
    assert page.is_visible("#plot-path")


def test_heatmap_coloured_by_regime_with_its_boundary_and_a_cell_opens_that_run(page):
    open_lab(page, "?view=sweep&objective=parabola:L=4&steps=100&lo=0.01&hi=2")
    page.fill("#heatmap-values", "0, 0.5, 0.9")
    page.click("#heatmap-run")
    page.wait_for_selector("#plot-heatmap .hm image, #plot-heatmap .heatmaplayer")
    settle(page)
    drawn = page.evaluate("""() => {
        const d = document.getElementById('plot-heatmap').data;
        const line = d.find((t) => t.type === 'scatter');
        return {z: d[0].z.length, cols: d[0].x.length, boundary: line ? Array.from(line.customdata) : null};
    }""")
    assert drawn["z"] == 3 and drawn["cols"] == 21  # 64 lanes / 3 values
    # (2 + 2*beta)/L on C(x) = 2 x**2, whose Hessian is L = 4.
    assert drawn["boundary"] == pytest.approx([0.5, 0.75, 0.95])
    legend = page.locator("#heatmap-legend [data-regime]")
    seen = {legend.nth(i).get_attribute("data-regime") for i in range(legend.count())}
    assert {"diverging", "good"} <= seen
    shot(page, "heatmap")
    # A click on the middle row's first cell opens momentum 0.5 at the smallest rate in Explore.
    page.locator("#plot-heatmap").scroll_into_view_if_needed()
    box = page.locator("#plot-heatmap .nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 60, box["y"] + box["height"] / 2)
    page.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'explore'")
    settle(page)
    state = url_state(page)
    assert state["momentum"] == "0.5" and float(state["lr"]) == pytest.approx(0.01)
    assert page.input_value("#momentum") == "0.5" and regime(page)


def test_history_lists_opens_and_draws_two_sweeps_on_one_landscape(page, stored):
    open_lab(page, "?view=history")
    page.wait_for_selector("#history-table tbody tr[data-id]")
    rows = page.locator("#history-table tbody tr[data-id]")
    assert rows.count() >= 3
    kinds = [rows.nth(i).get_attribute("data-kind") for i in range(rows.count())]
    assert kinds.count("sweep") >= 2 and "run" in kinds
    page.click(f"#history-table tr[data-id='{stored['run']}'] button")
    wait_text(page, "history-title", "includes('run of parabola')")
    assert page.evaluate("document.getElementById('plot-history').data[0].y.length") == 21
    # A sweep of learning rate x momentum: one series per momentum value.
    page.click(f"#history-table tr[data-id='{stored['grid']}'] button")
    wait_text(page, "history-title", f"includes('{stored['grid']} · sweep')")
    names = page.evaluate("document.getElementById('plot-history').data.map((t) => t.name)")
    assert [n.split(" ", 1)[1] for n in names] == ["momentum = 0", "momentum = 0.5"]
    for rid in stored["sweeps"]:
        page.check(f"#history-table tr[data-id='{rid}'] input[type=checkbox]")
    page.click("#history-both")
    wait_text(page, "history-title", "startsWith('Two sweeps')")
    drawn = page.evaluate("""() => document.getElementById('plot-history').data
        .map((t) => Array.from(t.x))""")
    assert sorted(drawn) == [[0.01, 0.03, 0.1, 0.3], [0.02, 0.05, 0.15]]
    shot(page, "history")


def test_diagnose_an_uploaded_log(page):
    open_lab(page, "?view=diagnose")
    assert not page.is_visible("#controls")
    rows = "".join(f"{t},{2.0 * 1.25**t!r},{0.1 * t}\n" for t in range(40))
    page.set_input_files(
        "#log-file",
        files=[
            {
                "name": "train.csv",
                "mimeType": "text/csv",
                "buffer": f"step,loss,acc\n{rows}".encode(),
            }
        ],
    )
    page.wait_for_selector("#log-verdict:not([hidden])")
    settle(page)
    assert regime(page, "log-badge") == "diverging"
    assert page.input_value("#log-column") == "loss"
    assert page.text_content("#log-advice").strip()
    assert page.locator("#plot-log .scatterlayer .trace").count() == 1
    shot(page, "diagnose")

    # Dropped on the drop zone: a falling JSON-lines log.
    lines = "".join(json.dumps({"step": t, "loss": 3.0 * 0.97**t}) + "\\n" for t in range(300))
    page.evaluate(f"""() => {{
        const dt = new DataTransfer();
        dt.items.add(new File(['{lines}'], 'run.jsonl', {{type: 'application/json'}}));
        const drop = new DragEvent('drop', {{dataTransfer: dt, bubbles: true}});
        document.getElementById('drop').dispatchEvent(drop);
    }}""")
    wait_text(page, "log-title", "startsWith('run.jsonl')")
    settle(page)
    assert regime(page, "log-badge") != "diverging"

    # A file that is not a log: the reason is shown, nothing breaks.
    page.watch.expect_status(400)
    page.set_input_files(
        "#log-file",
        files=[{"name": "photo.csv", "mimeType": "text/csv", "buffer": bytes(range(256)) * 8}],
    )
    page.wait_for_selector("#log-error:not([hidden])")
    assert "binary" in page.text_content("#log-error")


def test_dataset_problem_shows_cost_and_steps_only(page):
    open_lab(page, "?objective=diabetes-linear&lr=0.1&steps=60")
    assert not page.is_visible("#path-card")
    assert page.is_visible("#plot-cost .scatterlayer")
    assert page.is_visible("#plot-steps .scatterlayer")
    assert page.is_disabled("#start")
    assert regime(page)


def test_suggest(page):
    open_lab(page, "?objective=bowl")
    page.click("#suggest")
    page.wait_for_selector("#suggestion:not([hidden]) .lr")
    suggested = float(page.text_content("#suggestion .lr").split("=")[1])
    assert 0 < suggested <= 0.2  # at most 2/L on this quadratic bowl, L = 10
    page.click("#suggestion button")
    page.wait_for_function(
        f"() => Math.abs(Number(new URLSearchParams(location.search).get('lr'))"
        f" / {suggested} - 1) < 0.01"
    )
    settle(page)
    shot(page, "suggest")


# ------------------------------------------------------------------------------ accessibility

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
VIEWS = {
    "explore": "?objective=himmelblau&lr=0.01",
    "compare": "?view=compare&objective=hill",
    "sweep": "?view=sweep&objective=bowl",
    "diagnose": "?view=diagnose",
    "history": "?view=history",
}


@pytest.mark.skipif(not AXE.exists(), reason="needs axe-core from npm: run make browser")
def test_axe_finds_no_serious_or_critical_violation_on_any_view(browser, server):
    # axe is injected by the test only (the page never loads it), so the test's context
    # lets an injected script past the page's Content-Security-Policy.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.base, page.watch = server, Watch(page, server)
    found = {}
    for view, query in VIEWS.items():
        open_lab(page, query)
        if view == "compare":
            page.wait_for_selector("#compare-out .runs")
        if view == "sweep":
            page.wait_for_selector("#plot-sweep .scatterlayer .point")
            page.click("#heatmap-run")
            page.wait_for_selector("#plot-heatmap .heatmaplayer")
        if view == "history":
            page.wait_for_selector("#history-table tbody tr[data-id]")
        settle(page)
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => `${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" "))}`);
        }""")
        if violations:
            found[view] = violations
    page.watch.check()
    context.close()
    assert not found, found


def test_every_control_works_from_the_keyboard(page):
    open_lab(page, "?objective=bowl&lr=0.01")
    # The views are tabs: arrow keys move between them, as the ARIA tab pattern says.
    page.focus("#tab-explore")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'compare'")
    assert page.evaluate("document.activeElement.id") == "tab-compare"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => new URLSearchParams(location.search).get('view') === 'explore'")
    # Every control can take the focus: none is taken out of the tab order.
    unreachable = page.evaluate("""() => Array.from(document.querySelectorAll(
            "button, input, select, textarea, a[href], [role=tab]"))
        .filter((e) => e.offsetParent !== null && !e.disabled)
        .filter((e) => e.tabIndex < 0 && e.getAttribute("role") !== "tab")
        .map((e) => e.id || e.outerHTML.slice(0, 60))""")
    assert not unreachable, unreachable
    # The slider moves with the arrow keys, and Enter in the value box runs that rate.
    page.focus("#lr-slider")
    before = url_state(page)["lr"]
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('lr') !== '{before}'")
    page.focus("#lr-value")
    page.fill("#lr-value", "0.05")
    page.keyboard.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('lr') === '0.05'")
    # The suggest button answers Enter as a click does.
    page.focus("#suggest")
    page.keyboard.press("Enter")
    page.wait_for_selector("#suggestion:not([hidden]) .lr")
