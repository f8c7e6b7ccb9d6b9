"""The 'adaptive' refresh policy re-reads a post only while its engagement still moves.

Three posts of one account live a week on the emulator, each with its own engagement curve set by
the test: one settles within a day, one never changes, one keeps growing. Runs every morning
over the week's window, as the lookback schedule does, read them through tweepy over HTTP; what
each read saw is in tweet_metrics_history (one row per UTC day read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from x_assets.clock import use_clock
from x_assets.emulator import Emulator, WorldSpec
from x_assets.emulator.server import EmulatorServer
from x_assets.ingest.refresh import Read, settling_curve, still_moving

from .conftest import NOW, Project, account_by_name

DAYS = 8
START = (NOW - dt.timedelta(days=DAYS - 1)).replace(hour=0, minute=30, second=0, microsecond=0)
CREATED = START - dt.timedelta(hours=12)  # the posts are half a day old at the first morning's run
AGES = [2, 4, 7]


def settles(t: float) -> int:
    return round(400 * (1 - 0.02**t))  # 98% of its engagement in its first day


def keeps_growing(t: float) -> int:
    return round(30 * t)  # a straight line: nothing says it will slow


def never_moves(t: float) -> int:
    return 50


CURVES: dict[str, Callable[[float], int]] = {
    "settles": settles,
    "keeps_growing": keeps_growing,
    "never_moves": never_moves,
}


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    world = WorldSpec(seed=3, accounts=1, days=2, tweets_per_day=0, now_ms=int(CREATED.timestamp() * 1000) - 60_000)
    with EmulatorServer(Emulator(world)) as srv:
        yield srv


def live_week(project: Project, policy: str) -> dict[str, dict[int, int]]:
    """DAYS mornings of runs over the last week; returns, per curve, the engagement each read saw
    by the post's age in whole days."""
    world = project.server.world
    account = account_by_name(project.server, "AcmeNews")
    project.write_source({"accounts": [{"username": "AcmeNews"}]})
    created_ms = int(CREATED.timestamp() * 1000)
    posts = {
        name: world.add_tweet(account.id, f"a post that {name}", created_ms=created_ms + i * 1000)
        for i, name in enumerate(CURVES)
    }
    clock = [START]
    with use_clock(lambda: clock[0]):
        for day in range(DAYS):
            clock[0] = START + dt.timedelta(days=day)
            world.set_now_ms(int(clock[0].timestamp() * 1000))
            age = (clock[0] - CREATED).total_seconds() / 86_400
            for name, tweet in posts.items():
                tweet.like_count = CURVES[name](age)
            today = clock[0].date()
            week = (today - dt.timedelta(days=7), today - dt.timedelta(days=1))
            result = project.materialize(["tweet_insights"], days=week, refresh_policy=policy, refresh_ages=AGES)
            assert result.success, result.all_node_events[-1].message
    seen: dict[str, dict[int, int]] = {name: {} for name in CURVES}
    by_id = {str(t.id): name for name, t in posts.items()}
    for tweet_id, age_days, likes in project.query(
        "SELECT tweet_id, age_days, like_count FROM x.tweet_metrics_history ORDER BY ALL"
    ):
        if tweet_id in by_id:
            seen[by_id[tweet_id]][age_days] = likes
    return seen


def test_adaptive_rereads_only_the_post_still_moving(project: Project) -> None:
    seen = live_week(project, "adaptive")
    # age_days counts UTC days from the creation day: the first read is at 1, the refresh ages follow
    assert sorted(seen["keeps_growing"]) == [1, 2, 4, 7]
    assert sorted(seen["settles"]) == [1, 2]  # two reads show it has stopped: never paid for again
    assert sorted(seen["never_moves"]) == [1, 2]
    stored = dict(project.query("SELECT text, like_count FROM x.tweet_insights"))
    last_age = (START + dt.timedelta(days=DAYS - 1) - CREATED).total_seconds() / 86_400
    assert stored["a post that keeps_growing"] == keeps_growing(last_age - 1)  # read on its day-7 morning
    # what was left unread is within the tolerance of the truth
    truth = settles(last_age)
    assert abs(stored["a post that settles"] - truth) <= 0.02 * truth


def test_ages_rereads_every_post_at_every_age(project: Project) -> None:
    seen = live_week(project, "ages")
    assert all(sorted(ages) == [1, 2, 4, 7] for ages in seen.values()), seen


def test_adaptive_without_the_history_endpoint_fails_before_any_request(project: Project) -> None:
    project.write_source({"accounts": [{"username": "AcmeNews"}], "endpoints": ["tweet_insights"]})
    before = project.stats()["requests"]
    result = project.materialize(
        ["tweet_insights"], partition=str(NOW.date() - dt.timedelta(days=1)), refresh_policy="adaptive"
    )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None and "add tweet_metrics_history to the endpoints" in error.message
    assert project.stats()["requests"] == before


def test_the_settling_curve_is_recovered_from_two_reads() -> None:
    total, q = settling_curve(Read(0.5, round(1000 * (1 - 0.3**0.5))), Read(2.5, round(1000 * (1 - 0.3**2.5)))) or (
        0,
        0,
    )
    assert abs(total - 1000) < 5 and abs(q - 0.3) < 0.01
    assert settling_curve(Read(0.5, 10), Read(1.5, 30)) is None  # faster than a straight line
    assert settling_curve(Read(0.5, 0), Read(1.5, 30)) is None


@pytest.mark.parametrize(
    ("reads", "age_now", "moving"),
    [
        ([Read(0.5, 10)], 3.5, True),  # one read tells nothing
        ([Read(0.5, 10), Read(1.5, 10)], 3.5, False),  # no gain over a day
        ([Read(0.5, 10), Read(1.5, 9)], 3.5, False),  # X's counts can fall (unlikes): settled too
        ([Read(0.5, 10), Read(1.5, 20)], 3.5, True),  # doubling over a day: still moving
        ([Read(0.5, settles(0.5)), Read(1.5, settles(1.5))], 6.5, False),
        ([Read(0.5, 300), Read(1.5, 600)], 6.5, True),  # fitted: about a quarter still to come
    ],
)
def test_still_moving(reads: list[Read], age_now: float, moving: bool) -> None:
    assert still_moving(reads, age_now, 0.02) is moving
