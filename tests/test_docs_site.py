"""The docs site: generated pages equal a fresh render, `mkdocs build --strict` passes, and the
leaderboard page works in a real browser (headless Chromium: the board loads, a column sorts on
a click, the task filter filters, every image resolves; a screenshot is saved)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _generate():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_pages_equal_a_fresh_render() -> None:
    gen = _generate()
    assert gen.stale() == [], "run `python docs/generate.py` (make docs)"
    pages = gen.pages()
    assert {"docs/benchmark.md", "docs/leaderboard/index.md", "docs/zoo/index.md"} <= set(pages)
    board = pages["docs/leaderboard/index.md"]
    assert 'id="board-standard-jetnet"' in board and 'class="jz-filter"' in board


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("JETZOO_REQUIRE_BROWSER"):
        pytest.fail("no chromium on PATH (JETZOO_REQUIRE_BROWSER is set: .ci/run installs it)")
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.mark.slow
def test_site_builds_strict_with_every_page(site: Path) -> None:
    for page in (
        "index.html",
        "getting-started/index.html",
        "guide/errors/index.html",
        "zoo/jbot-b/index.html",
        "benchmark/index.html",
        "leaderboard/index.html",
        "leaderboard/history/index.html",
        "developer/design/index.html",
        "reference/models/index.html",
    ):
        assert (site / page).is_file(), page
    api = (site / "reference" / "models" / "index.html").read_text()
    assert "from_pretrained" in api and ":class:`" not in api  # Sphinx roles rendered


@pytest.mark.slow
def test_leaderboard_page_in_a_browser(site: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no chromium on PATH")
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/leaderboard/"
    with server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_load_state("load")
        board = page.locator("#board-standard-jetnet tbody tr")
        assert board.count() >= 5
        # sort: a click on the first score column orders the rows by it, a second click reverses
        header = page.locator("#board-standard-jetnet thead th").nth(2)

        def column() -> list[float]:
            values = page.eval_on_selector_all(
                "#board-standard-jetnet tbody tr",
                "rows => rows.map(r => r.cells[2].getAttribute('data-value'))",
            )
            return [float(v) for v in values if v]

        header.click()
        assert header.get_attribute("aria-sort") == "descending"
        first = column()
        assert len(first) >= 5 and first == sorted(first, reverse=True)
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
        assert column() == sorted(first)
        # filter: one task's rows only
        page.select_option("select.jz-filter", "top-tagging")
        shown = page.eval_on_selector_all(
            "#scores tbody tr", "rows => rows.filter(r => !r.hidden).map(r => r.dataset.task)"
        )
        total = page.locator("#scores tbody tr").count()
        assert shown and set(shown) == {"top-tagging"} and len(shown) < total
        assert page.inner_text("#scores-count") == f"{len(shown)} rows"
        page.select_option("select.jz-filter", "")
        assert (
            page.eval_on_selector_all(
                "#scores tbody tr", "rows => rows.filter(r => !r.hidden).length"
            )
            == total
        )
        # every image loads
        images = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])"
        )
        assert images and all(width and width > 100 for _, width in images), images
        shot = tmp_path / "leaderboard.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
        server.shutdown()
    assert not errors, errors
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
