"""A season of the emulator's world: days lived one after another, as the real service changes.

Each day brings new posts at random seconds of the day (visible once the clock passes them),
engagement that decays with a post's age (most likes in the first day or two, a long tail after,
an occasional revival),
and followers gained and lost. What happens to accounts (renames, suspensions, a handle taken
by someone else) is up to the caller, through the World's own methods.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable

from .world import CAPPED, DAY_MS, SUSPENDED, Tweet, World, _pick_kind, _poisson_like

# A post's engagement accrues continuously with its age: the rate halves every "half-life" days, so
# a post read an hour after it was made has an hour's worth. Posts differ in that half-life: most
# fade within a day or two, a few keep moving for a week (lognormal around the median), and now and
# then an old post is found again and gains a burst (a revival), which no curve fitted to its past
# foresees. A refresh policy that watches whether a post still moves has something to find, and
# something to miss.
HALF_LIFE_DAYS = 0.6  # the median post's
HALF_LIFE_SPREAD = 0.8  # sigma of its logarithm: 1 post in 20 lives over 2.2 days, 1 in 100 over 3.9
LIFETIME_LIKES = 2.0  # a post's likes over its life, in units of its appeal
REVIVAL_CHANCE = 0.01  # per post and day, from its third day on
REVIVAL_LIKES = (0.2, 0.6)  # a revival's likes, in units of the post's appeal


class Season:
    """Lives the world forward one UTC day at a time; deterministic for a seed."""

    def __init__(self, world: World, seed: int, tweets_per_day: float = 3.0) -> None:
        self.world = world
        self.rng = random.Random(seed)
        self.tweets_per_day = tweets_per_day
        self.appeal: dict[int, float] = {}  # post id -> the curve's scale: LIFETIME_LIKES times it over its life
        self.half_life: dict[int, float] = {}  # post id -> days over which its engagement per day halves
        self.life_rng = random.Random(seed * 17 + 3)  # its own, so the draws above stay as they were
        self.mention_rng = random.Random(seed * 31 + 5)  # its own: the posts above stay as they were

    def live_day(self, day_start_ms: int) -> list[Tweet]:
        """Create the day's posts, then give every post the engagement it gains over the day.

        Returns the new posts. The world's clock is the caller's: posts become visible as it passes
        them, and a run after the day has ended sees each post with its engagement so far.
        """
        world, rng = self.world, self.rng
        with world.lock:
            posting = [a for a in world.accounts.values() if a.listed and a.state not in (SUSPENDED, CAPPED)]
            pool = [
                t
                for a in posting
                if not a.is_protected
                for t in a.tweets[:30]
                if t.retweeted_id is None and t.created_ms < day_start_ms
            ]
            new: list[Tweet] = []
            for author in posting:
                count = _poisson_like(rng, self.tweets_per_day)
                for second in sorted(rng.sample(range(DAY_MS // 1000), count)):
                    tweet = world._make_tweet(rng, author, day_start_ms + second * 1000, _pick_kind(rng), pool)
                    if tweet.retweeted_id is None:
                        # a fresh post starts at zero; its day brings its first engagement
                        tweet.like_count = tweet.retweet_count = tweet.reply_count = tweet.quote_count = 0
                        tweet.bookmark_count, tweet.impression_count = 0, 0
                    new.append(tweet)
                author.tweets.sort(key=lambda t: t.id, reverse=True)
            mentions = world.add_mentions(self.mention_rng, day_start_ms)
            for tweet in mentions:
                tweet.like_count = tweet.retweet_count = tweet.reply_count = tweet.quote_count = 0
                tweet.bookmark_count, tweet.impression_count = 0, 0
            for author in world.mention_authors:
                author.tweets.sort(key=lambda t: t.id, reverse=True)
            for account in world.accounts.values():
                if account.listed and account.state != SUSPENDED:
                    account.followers_count = max(0, account.followers_count + rng.randint(-40, 120))
                    account.following_count += rng.randint(0, 2)
                    account.like_count += rng.randint(0, 15)
                    account.listed_count += rng.randint(0, 1)
            self._engage(day_start_ms + DAY_MS)
            return new

    def _engage(self, day_end_ms: int) -> None:
        """The engagement each post gains over the day ending at day_end_ms: its curve's share
        between its ages at the day's start and end, and sometimes a revival."""
        rng, life_rng, accounts = self.rng, self.life_rng, self.world.accounts
        for tweet in self.world.tweets.values():
            if tweet.retweeted_id is not None or tweet.created_ms >= day_end_ms:
                continue
            if tweet.id not in self.appeal:  # about two likes per 150 followers over its life, spread wide
                followers = accounts[tweet.author_id].followers_count
                self.appeal[tweet.id] = rng.lognormvariate(0.0, 0.8) * max(1.0, followers / 150)
                self.half_life[tweet.id] = HALF_LIFE_DAYS * life_rng.lognormvariate(0.0, HALF_LIFE_SPREAD)
            appeal = self.appeal[tweet.id]
            end_age = (day_end_ms - tweet.created_ms) / DAY_MS
            start_age = max(0.0, end_age - 1)
            rate = math.log(2) / self.half_life[tweet.id]
            share = math.exp(-rate * start_age) - math.exp(-rate * end_age)
            revival = start_age >= 2 and life_rng.random() < REVIVAL_CHANCE
            mean = appeal * (LIFETIME_LIKES * share + (life_rng.uniform(*REVIVAL_LIKES) if revival else 0.0))
            if mean < 0.004:
                continue
            likes = _around(rng, mean)
            tweet.like_count += likes
            tweet.retweet_count += _around(rng, likes * 0.2)
            tweet.reply_count += _around(rng, likes * 0.08)
            tweet.quote_count += _around(rng, likes * 0.03)
            if tweet.bookmark_count is not None:
                tweet.bookmark_count += _around(rng, likes * 0.1)
            if tweet.impression_count is not None:
                tweet.impression_count += _around(rng, likes * 40)


def _around(rng: random.Random, mean: float) -> int:
    """A whole count near mean, never negative, deterministic for the generator's state."""
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


DEMO_SEED = 7  # the demo's season; `x-assets-emulator --demo-season START` replays the same one


def _midnight_ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)


def live_days(
    world: World, start: dt.date, end: dt.date, each_morning: Callable[[dt.date], None] | None = None
) -> None:
    """The demo's season: each day from start to the day before end lived whole, then each_morning
    (the world's clock at 00:30 the next day, when the daily schedule runs); then end (today) on the
    wall clock. Requests do not change the world, so the same dates give the same world."""
    season = Season(world, seed=DEMO_SEED)
    day = start
    while day < end:
        world.set_now_ms(_midnight_ms(day))
        season.live_day(world.now_ms())
        world.set_now_ms(_midnight_ms(day + dt.timedelta(days=1)) + 30 * 60_000)
        if each_morning is not None:
            each_morning(day)
        day += dt.timedelta(days=1)
    # end is today: lived on the wall clock, so its posts appear as the real day passes, and a
    # snapshot taken later (from the UI) is later than the demo's, as it would be.
    world.set_now_ms(None)
    season.live_day(_midnight_ms(end))
