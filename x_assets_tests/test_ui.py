"""The Dagster UI in a real browser, on what the demo left: a short demo season recorded in a fresh
instance, then dagster-webserver on 127.0.0.1 with the demo's sources and partitions (as
scripts/ui.sh opens it), driven by Playwright in Debian's headless Chromium.

The test installs nothing: `scripts/setup.sh` (run by `scripts/test.sh` and `.ci/run`) installs
Chromium, and the playwright package comes with the dev extras. It runs dagster-webserver without
the daemon, with the default run coordinator, so runs launched from the UI start at once and no
schedule or sensor starts a run in the middle of the test; they are still listed. Screenshots go to
test-output/ui/ (scripts/readme_images.sh copies the README's from there).
"""

from __future__ import annotations

import datetime as dt
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
from typing import Any
from urllib.parse import urlparse

import duckdb
import pytest
import requests

from x_assets.emulator import Emulator, EmulatorServer, WorldSpec
from x_assets.emulator.season import live_days

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
ASSETS = (
    "account_insights",
    "tweet_insights",
    "account_daily_growth",
    "tweet_engagement",
    "account_status",
    "account_registry",
    "top_tweets_weekly",
)
AUTOMATION = ("x_daily_schedule", "x_tweet_lookback_schedule", "x_new_accounts_sensor")


SEASON_DAYS = 6
LOCATION = "__repository__@x_assets.demo_defs"  # dagster -m x_assets.demo_defs, as scripts/ui.sh starts it


@dataclass
class Webserver:
    url: str
    database: Path
    demo_runs: int  # the runs the demo recorded before the UI started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[Webserver]:
    """The demo (a short season) recorded in a fresh instance, then the UI on it, as scripts/ui.sh
    opens it: the demo's sources and partitions (data/demo.env), an emulator behind them."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    database = tmp_path / "data" / "warehouse.duckdb"
    demo_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "NO_PROXY": "127.0.0.1,localhost",
        "DAGSTER_HOME": str(home),
        "X_SOURCE_FILE": str(ROOT / "x_source.yaml"),
        "X_DUCKDB_PATH": str(database),
    }
    demo = subprocess.run(
        [sys.executable, "-m", "x_assets.cli", "demo", "--season-days", str(SEASON_DAYS)],
        cwd=tmp_path,
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    ui_env = dict(line.split("=", 1) for line in (database.parent / "demo.env").read_text().splitlines())
    port = _free_port()
    log = tmp_path / "webserver.log"
    # The world the demo left, as scripts/ui.sh serves it (x-assets-emulator --demo-season).
    start = dt.date.fromisoformat(ui_env["X_SNAPSHOTS_FROM"])
    world = WorldSpec(now_ms=int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000))
    with EmulatorServer(Emulator(world)) as emulator, log.open("w") as log_file:
        live_days(emulator.world, start, dt.datetime.now(dt.UTC).date())
        env = {**demo_env, **ui_env, "X_API_BASE_URL": emulator.base_url}  # scripts/ui.sh's, on a free port
        command = [sys.executable, "-m", "dagster_webserver", "-m", "x_assets.demo_defs", "-h", "127.0.0.1"]
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
            yield Webserver(url, database, len(_run_statuses(url)))
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _runs(url: str) -> list[dict[str, Any]]:
    """The instance's runs, newest first, with their status and tags."""
    query = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
    body = requests.post(f"{url}/graphql", json={"query": query}, timeout=10).json()
    return [
        {"id": r["runId"], "status": r["status"], "tags": {t["key"]: t["value"] for t in r["tags"]}}
        for r in body["data"]["runsOrError"]["results"]
    ]


def _run_statuses(url: str) -> list[str]:
    return [run["status"] for run in _runs(url)]


def _wait_for_runs(url: str, count: int, timeout: float = 150) -> list[dict[str, Any]]:
    """All runs, newest first, once there are at least count and every one has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _runs(url)
        if len(runs) >= count and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
            return runs
        time.sleep(1)
    raise AssertionError(f"runs still not finished after {timeout}s: {_run_statuses(url)}")


@pytest.mark.timeout(400)
def test_the_ui_shows_the_demo_and_materializes_from_a_click(webserver: Webserver) -> None:
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
            expect.set_options(timeout=30_000)  # a loaded machine renders pages in more than 5 s
            page.route("**/*", local_only)

            # Dagster's first-visit newsletter prompt opens whenever it likes (seen on the graph page and
            # on the automation page): dismiss it whenever it stands in front of an action.
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda button: button.click())

            # The asset graph: the tables, the derived assets and the tables written beside them.
            page.goto(f"{webserver.url}/locations/{LOCATION}/asset-groups/x", wait_until="networkidle")
            for asset in ASSETS:  # the first wait covers the code location's load
                expect(page.get_by_text(asset, exact=True).first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(OUTPUT / "asset_graph.png"))

            # Schedules and the sensors.
            page.goto(f"{webserver.url}/automation", wait_until="networkidle")
            for name in AUTOMATION:
                expect(page.get_by_text(name, exact=True).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "automation.png"))

            # The demo's season, as the Plots tab draws it: one point per day, each the day's own.
            page.goto(f"{webserver.url}/assets/account_daily_growth", wait_until="networkidle")
            page.screenshot(path=str(OUTPUT / "overview.png"), full_page=True)
            page.get_by_role("button", name="Plots").first.click()
            for label in ("followers_total", "followers_net_change"):
                expect(page.get_by_text(label).first).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Loading plots")).to_have_count(0, timeout=30_000)
            page.get_by_text("followers_net_change").first.evaluate("e => e.scrollIntoView({block: 'center'})")
            page.screenshot(path=str(OUTPUT / "plots.png"))

            # account_status, which the checks point to, in the catalog with its description and columns.
            page.goto(f"{webserver.url}/assets/account_status", wait_until="networkidle")
            expect(page.get_by_text("why rows are missing").first).to_be_visible()
            for column in ("endpoint", "status", "detail"):
                expect(page.get_by_text(column, exact=True).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "account_status.png"), full_page=True)

            # Materialize today's account snapshot from the asset page, as a user would.
            launched = webserver.demo_runs
            for asset in ("account_insights", "account_daily_growth"):
                page.goto(f"{webserver.url}/assets/{asset}", wait_until="networkidle")
                page.get_by_role("button", name="Materialize…").click()
                dialog = page.get_by_role("dialog")
                dialog.get_by_text("Latest", exact=True).click()
                dialog.get_by_role("button", name="Launch 1 run").click()
                # "Launching..." lasts as long as the webserver takes to submit the run, which on a
                # loaded machine is well over the 5 s default: wait for it as a user would.
                expect(dialog).to_be_hidden(timeout=90_000)
                launched += 1
                runs = _wait_for_runs(webserver.url, launched)
                assert len(runs) == launched and runs[0]["status"] == "SUCCESS", runs[:2]
            # The snapshot's cost as run tags: 8 accounts found, a user read each ($0.010).
            snapshot_tags = runs[1]["tags"]
            assert snapshot_tags["x/user_reads"] == "8" and snapshot_tags["x/estimated_usd"] == "0.0800", snapshot_tags

            # Each run's cost, as run tags: in the runs list, and on the run page of the demo's dearest run.
            page.goto(f"{webserver.url}/runs", wait_until="networkidle")
            expect(page.get_by_text("x/estimated_usd").first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "runs_cost.png"))
            dearest = max(runs, key=lambda r: float(r["tags"].get("x/estimated_usd", 0)))
            cost = dearest["tags"]["x/estimated_usd"]
            assert float(cost) > 0, dearest
            page.goto(f"{webserver.url}/runs/{dearest['id']}", wait_until="networkidle")
            page.get_by_role("button", name="View tags and config").click()
            tags = page.get_by_role("dialog")
            expect(tags.get_by_text("x/estimated_usd").first).to_be_visible()
            expect(tags.get_by_text(cost).first).to_be_visible()
            page.wait_for_timeout(500)  # the dialog fades in
            page.screenshot(path=str(OUTPUT / "run_cost.png"), animations="disabled")
            tags.get_by_role("button", name="OK").click()

            # The run's metadata and check results, as the asset page shows them.
            page.goto(f"{webserver.url}/assets/account_insights?view=events", wait_until="networkidle")
            page.screenshot(path=str(OUTPUT / "account_insights_events.png"), full_page=True)
            for label in ("accounts_loaded", "estimated_usd", "account_states", "preview", "AcmeNews"):
                expect(page.get_by_text(label).first).to_be_visible()
            page.goto(f"{webserver.url}/assets/account_insights?view=checks", wait_until="networkidle")
            for check in ("unique_key", "no_negative_counts", "accounts_accounted_for", "follower_drop"):
                expect(page.get_by_text(check).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "account_insights_checks.png"))

            # The chart, embedded in the derived asset's metadata, really renders as an image.
            page.goto(f"{webserver.url}/assets/account_daily_growth?view=events", wait_until="networkidle")
            row = page.locator("tr").filter(has=page.get_by_text("chart", exact=True))
            row.get_by_text("[Show Markdown]").first.click()  # long Markdown opens in a dialog
            chart = page.get_by_role("dialog").locator('img[src^="data:image/png;base64,"]')
            expect(chart).to_be_visible()
            width = chart.evaluate("img => img.naturalWidth")
            assert width >= 400, width
            page.screenshot(path=str(OUTPUT / "chart_in_ui.png"), animations="disabled")
        finally:
            browser.close()

    assert outside == [], f"the UI asked for hosts other than 127.0.0.1: {outside[:5]}"
    # What the UI launched read the demo's world and landed in DuckDB: today's snapshot, every
    # account the demo loaded, with the same ids (the registry's).
    with duckdb.connect(str(webserver.database), read_only=True) as conn:
        today = conn.execute("SELECT max(date) FROM x.account_insights").fetchone()[0]
        states = dict(
            conn.execute(
                "SELECT username, status FROM x.account_status WHERE endpoint = 'account_insights' AND date = ?",
                [today],
            ).fetchall()
        )
        rows = conn.execute("SELECT count(*) FROM x.account_insights WHERE date = ?", [today]).fetchone()[0]
    assert rows == 8 and states["AcmeNews"] == "ok" and "failed" not in states.values(), (rows, states)
    assert (webserver.database.parent / "charts" / "followers.png").exists()
    shutil.copy(webserver.database.parent / "charts" / "followers.png", OUTPUT / "followers.png")
    for name in ("asset_graph.png", "automation.png", "account_insights_events.png", "plots.png", "run_cost.png"):
        assert (OUTPUT / name).stat().st_size > 10_000, name
