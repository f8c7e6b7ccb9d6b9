"""The Dagster UI in a real browser: the webserver on 127.0.0.1 with the demo configuration, driven
by Playwright in Debian's headless Chromium.

The test installs nothing: `scripts/setup.sh` (run by `scripts/test.sh` and `.ci/run`) installs
Chromium, and the playwright package comes with the dev extras. It runs dagster-webserver without
the daemon, with the default run coordinator, so runs launched from the UI start at once and the
sensor (running by default) does not start a history load in the middle of the test; schedules and
sensors are still listed. Screenshots go to test-output/ui/.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from x_assets.emulator import DEMO_BEARER_TOKEN, DEMO_OWNER_BEARER_TOKEN, EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output" / "ui"
CHROMIUM = os.environ.get("X_ASSETS_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this closed
# network refuses; the test also aborts any request that is not for 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTANCE_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""
ASSETS = ("account_insights", "tweet_insights", "account_daily_growth", "tweet_engagement")
AUTOMATION = ("x_daily_schedule", "x_tweet_lookback_schedule", "x_new_accounts_sensor")


@dataclass
class Webserver:
    url: str
    database: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[Webserver]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    database = tmp_path / "data" / "warehouse.duckdb"
    port = _free_port()
    log = tmp_path / "webserver.log"
    with EmulatorServer() as emulator, log.open("w") as log_file:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "X_API_BASE_URL": emulator.base_url,
            "X_BEARER_TOKEN": DEMO_BEARER_TOKEN,
            "X_PRIVATELABS_BEARER_TOKEN": DEMO_OWNER_BEARER_TOKEN,
            "X_SOURCE_FILE": str(ROOT / "x_source.yaml"),
            "X_DUCKDB_PATH": str(database),
            "NO_PROXY": "127.0.0.1,localhost",
        }
        command = [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1"]
        process = subprocess.Popen(
            [*command, "-p", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its code server is a child: stop them together
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if requests.get(f"{url}/server_info", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    pass
                assert process.poll() is None, f"dagster-webserver exited:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"dagster-webserver did not start:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
            yield Webserver(url, database)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _run_statuses(url: str) -> list[str]:
    query = "{ runsOrError { ... on Runs { results { runId status } } } }"
    body = requests.post(f"{url}/graphql", json={"query": query}, timeout=10).json()
    return [run["status"] for run in body["data"]["runsOrError"]["results"]]


def _wait_for_runs(url: str, count: int, timeout: float = 150) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = _run_statuses(url)
        if len(statuses) >= count and all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses):
            return statuses
        time.sleep(1)
    raise AssertionError(f"runs still not finished after {timeout}s: {_run_statuses(url)}")


@pytest.mark.timeout(280)
def test_the_ui_shows_the_assets_and_materializes_from_a_click(webserver: Webserver) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium"
    from playwright.sync_api import Route, expect, sync_playwright

    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir(parents=True)
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            page.route("**/*", local_only)

            # Dagster's first-visit newsletter prompt opens whenever it likes (seen on the graph page and
            # on the automation page): dismiss it whenever it stands in front of an action.
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda button: button.click())

            # The asset graph: both tables and both derived assets, with their kinds.
            page.goto(f"{webserver.url}/asset-groups/x", wait_until="networkidle")
            for asset in ASSETS:
                expect(page.get_by_text(asset, exact=True).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "asset_graph.png"))

            # Schedules and the sensor.
            page.goto(f"{webserver.url}/automation", wait_until="networkidle")
            for name in AUTOMATION:
                expect(page.get_by_text(name, exact=True).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "automation.png"))

            # Materialize today's account snapshot from the asset page, as a user would.
            for asset, runs in (("account_insights", 1), ("account_daily_growth", 2)):
                page.goto(f"{webserver.url}/assets/{asset}", wait_until="networkidle")
                page.get_by_role("button", name="Materialize…").click()
                dialog = page.get_by_role("dialog")
                dialog.get_by_text("Latest", exact=True).click()
                dialog.get_by_role("button", name="Launch 1 run").click()
                # "Launching..." lasts as long as the webserver takes to submit the run, which on a
                # loaded machine is well over the 5 s default: wait for it as a user would.
                expect(dialog).to_be_hidden(timeout=90_000)
                assert _wait_for_runs(webserver.url, runs) == ["SUCCESS"] * runs

            # The run's metadata and check results, as the asset page shows them.
            page.goto(f"{webserver.url}/assets/account_insights?view=events", wait_until="networkidle")
            for label in ("accounts_loaded", "estimated_usd", "account_states", "preview", "AcmeNews"):
                expect(page.get_by_text(label).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "account_insights_events.png"), full_page=True)
            page.goto(f"{webserver.url}/assets/account_insights?view=checks", wait_until="networkidle")
            for check in ("unique_key", "no_negative_counts", "accounts_accounted_for", "follower_drop"):
                expect(page.get_by_text(check).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "account_insights_checks.png"))

            # The chart, embedded in the derived asset's metadata, really renders as an image.
            page.goto(f"{webserver.url}/assets/account_daily_growth?view=events", wait_until="networkidle")
            row = page.locator("tr").filter(has=page.get_by_text("chart", exact=True))
            row.get_by_text("[Show Markdown]").click()  # long Markdown opens in a dialog
            chart = page.get_by_role("dialog").locator('img[src^="data:image/png;base64,"]')
            expect(chart).to_be_visible()
            width = chart.evaluate("img => img.naturalWidth")
            assert width >= 400, width
            page.screenshot(path=str(OUTPUT / "chart_in_ui.png"), animations="disabled")
        finally:
            browser.close()

    assert outside == [], f"the UI asked for hosts other than 127.0.0.1: {outside[:5]}"
    # What the UI launched landed in DuckDB.
    assert webserver.database.exists()
    assert (webserver.database.parent / "charts" / "followers.png").exists()
    shutil.copy(webserver.database.parent / "charts" / "followers.png", OUTPUT / "followers.png")
    for name in ("asset_graph.png", "automation.png", "account_insights_events.png"):
        assert (OUTPUT / name).stat().st_size > 10_000, name
