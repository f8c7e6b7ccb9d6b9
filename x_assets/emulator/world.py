"""A deterministic synthetic X world: accounts, posts and their metrics.

Everything derives from a seed and the current UTC day, so two emulators started
the same day with the same seed serve the same posts with the same ids. Posts are
generated for whole days, but a post only becomes visible once its creation time
has passed, as on the real service.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import zlib
from bisect import bisect_left
from dataclasses import dataclass, field

TWITTER_EPOCH_MS = 1288834974657
TIMELINE_CAP = 3200
MENTIONS_CAP = 800  # X serves only an account's 800 most recent mentions
ACCOUNTS_BEFORE_MS = 1_704_067_200_000  # 2024-01-01T00:00Z: every generated account is older
DAY_MS = 86_400_000

ACTIVE = "active"
PROTECTED = "protected"
SUSPENDED = "suspended"
NOT_FOUND = "not_found"
OWNER_ONLY = "owner_only"  # protected, but its own credential may read it
CAPPED = "capped"  # active, with more posts than the 3,200 a timeline reaches
PROFILE_METRICS = ("followers_count", "following_count", "listed_count", "like_count")

DEMO_HANDLES = [
    "AcmeNews",
    "GlobexDev",
    "InitechHQ",
    "UmbrellaLab",
    "HooliTech",
    "StarkIndustry",
    "WayneCorp",
    "TyrellAI",
    "CyberdyneSys",
    "MassiveDyn",
]

# (lang, text): emoji, non-Latin and right-to-left scripts on purpose; connectors
# that mangle encodings are caught by tests that compare texts to the byte.
PHRASES = [
    ("en", "Shipping a new release today, thanks to everyone who tested it 🚀"),
    ("en", "Our quarterly numbers are out. Read the full thread below."),
    ("en", "What feature should we build next? Reply and tell us 🥁"),
    ("en", "Maintenance window tonight from 22:00 to 23:00 UTC."),
    ("es", "¡Hola a todos! La nueva versión ya está disponible 🎉"),
    ("fr", "Merci à toute l'équipe pour ce lancement réussi."),
    ("de", "Heute veröffentlichen wir unser größtes Update bisher."),
    ("ja", "新しい機能をリリースしました。ぜひお試しください 🙏"),
    ("ar", "مرحبا بالجميع، الإصدار الجديد متاح الآن"),
    ("he", "שלום לכולם, הגרסה החדשה זמינה עכשיו"),
    ("hi", "नई सुविधा अब सभी के लिए उपलब्ध है"),
    ("und", "🔥🔥🔥"),
    ("und", "https://t.co/x4Mpl3Lnk"),
]

MENTION_TAGS = ("", "", " #launch", " #release", " $ACME", " #launch $ACME")

LONG_SENTENCE = (
    "This is a long post written to go past the classic limit, so the API keeps "
    "the first part in text and the whole of it in note_tweet. "
)


def snowflake(ms: int, sequence: int) -> int:
    return ((ms - TWITTER_EPOCH_MS) << 22) | (sequence & 0x3FFFFF)


def snowflake_ms(tweet_id: int) -> int:
    return (tweet_id >> 22) + TWITTER_EPOCH_MS


def iso_ms(ms: int) -> str:
    """The API's timestamp format: always milliseconds, always Z."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(slots=True)
class Tweet:
    id: int
    author_id: int
    created_ms: int
    text: str
    lang: str
    refs: tuple[tuple[str, int], ...] = ()
    in_reply_to_user_id: int | None = None
    conversation_id: int = 0
    note_text: str | None = None
    retweet_count: int = 0
    reply_count: int = 0
    like_count: int = 0
    quote_count: int = 0
    bookmark_count: int | None = 0
    impression_count: int | None = 0
    mentions: tuple[int, ...] = ()  # ids of the accounts the text @mentions

    @property
    def retweeted_id(self) -> int | None:
        for kind, ref_id in self.refs:
            if kind == "retweeted":
                return ref_id
        return None


@dataclass(slots=True)
class Account:
    id: int
    username: str
    name: str
    state: str
    created_ms: int
    description: str = ""
    followers_count: int = 0
    following_count: int = 0
    listed_count: int = 0
    like_count: int = 0
    older_tweet_count: int = 0  # posts before the generated window
    owner_label: str | None = None
    listed: bool = True  # False for outside authors that only exist to be retweeted
    # newest first, so the 3,200 most recent are a prefix
    tweets: list[Tweet] = field(default_factory=list)

    @property
    def is_protected(self) -> bool:
        return self.state in (PROTECTED, OWNER_ONLY)


@dataclass
class WorldSpec:
    seed: int = 42
    accounts: int = 5  # regular active accounts, besides the special ones
    days: int = 30
    tweets_per_day: float = 3.0
    now_ms: int | None = None  # fixed clock for tests; None means the wall clock
    special_accounts: bool = True
    mentions_per_day: float = 2.0  # posts by outsiders @mentioning each of the first ten accounts


class World:
    """All accounts and posts, plus the mutations the control endpoints offer."""

    def __init__(self, spec: WorldSpec | None = None) -> None:
        self.spec = spec or WorldSpec()
        self.lock = threading.RLock()
        self._fixed_now_ms = self.spec.now_ms
        self._seq = 0
        self.accounts: dict[int, Account] = {}
        self.by_username: dict[str, Account] = {}
        self.tweets: dict[int, Tweet] = {}
        self.missing_accounts: list[tuple[int, str]] = []  # listed but never existed
        self.deleted_tweet_ids: set[int] = set()
        # post id -> (world time, public metrics) each time it was served in a `data` array
        self.served: dict[int, list[tuple[int, dict[str, int]]]] = {}
        self.advance_steps = 0
        self._generate()

    # -- clock -------------------------------------------------------------------
    def now_ms(self) -> int:
        return self._fixed_now_ms if self._fixed_now_ms is not None else int(time.time() * 1000)

    def set_now_ms(self, now_ms: int | None) -> None:
        self._fixed_now_ms = now_ms

    # -- generation -------------------------------------------------------------
    def _next_id(self, ms: int) -> int:
        self._seq += 1
        return snowflake(ms, self._seq)

    def _anchor_ms(self) -> int:
        now = dt.datetime.fromtimestamp(self.now_ms() / 1000, tz=dt.UTC)
        midnight = dt.datetime(now.year, now.month, now.day, tzinfo=dt.UTC)
        return int(midnight.timestamp() * 1000)

    def _new_account(self, rng: random.Random, username: str, state: str, **kw: object) -> Account:
        # Before a fixed day, not before today: an account's id (a snowflake of its creation) is then
        # the same whichever day the world starts, so its own token ("<id>-owner") can be written down.
        created = ACCOUNTS_BEFORE_MS - rng.randint(400, 4000) * DAY_MS
        account = Account(
            id=self._next_id(created),
            username=username,
            name=str(kw.pop("name", _display_name(username))),
            state=state,
            created_ms=created,
            description=f"Official account of {username}.",
            followers_count=rng.randint(50, 2_000_000),
            following_count=rng.randint(0, 5000),
            listed_count=rng.randint(0, 3000),
            like_count=rng.randint(0, 50_000),
            older_tweet_count=rng.randint(0, 20_000),
            **kw,  # type: ignore[arg-type]
        )
        self._register(account)
        return account

    def _register(self, account: Account) -> None:
        self.accounts[account.id] = account
        self.by_username[account.username.lower()] = account

    def _generate(self) -> None:
        rng = random.Random(self.spec.seed)
        spec = self.spec
        outside = [
            self._new_account(rng, name, ACTIVE, listed=False) for name in ("OutsideVoice", "NewsWire_", "FanClub2024")
        ]
        handles = [DEMO_HANDLES[i] if i < len(DEMO_HANDLES) else f"brand_{i:05d}" for i in range(spec.accounts)]
        regular = [self._new_account(rng, h, ACTIVE) for h in handles]
        specials: list[Account] = []
        if spec.special_accounts:
            specials = [
                self._new_account(rng, "LockedVault", PROTECTED),
                self._new_account(rng, "BannedBrand", SUSPENDED),
                self._new_account(rng, "FirehoseNews", CAPPED),
                self._new_account(rng, "PrivateLabs", OWNER_ONLY, owner_label="privatelabs-owner"),
            ]
            self.missing_accounts.append((snowflake(self._anchor_ms() - 999 * DAY_MS, 7), "GoneForGood"))
        # Outside originals exist before the window so retweets and quotes can point at them.
        start = self._anchor_ms() - spec.days * DAY_MS
        outside_pool: list[Tweet] = []
        for author in outside:
            for _ in range(8):
                ms = start - rng.randint(1, 20) * DAY_MS + rng.randint(0, DAY_MS // 1000 - 1) * 1000
                outside_pool.append(self._make_original(rng, author, ms))
        for author in outside:
            author.tweets.sort(key=lambda t: t.id, reverse=True)

        posting = regular + [a for a in specials if a.state != SUSPENDED]
        # Walk time forward, a day at a time, so replies, quotes and retweets point at posts of
        # earlier days: the pool of candidates is fixed for the day, which keeps generation linear.
        pool: list[Tweet] = list(outside_pool)
        for day in range(spec.days + 1):
            day_start = start + day * DAY_MS
            created_today: list[Tweet] = []
            for author in posting:
                rate = spec.tweets_per_day
                if author.state == CAPPED:
                    rate = (TIMELINE_CAP + 300) / (spec.days + 1)
                count = _poisson_like(rng, rate)
                seconds = sorted(rng.sample(range(DAY_MS // 1000), min(count, DAY_MS // 1000)))
                for sec in seconds:
                    kind = "original" if author.state == CAPPED else _pick_kind(rng)
                    tweet = self._make_tweet(rng, author, day_start + sec * 1000, kind, pool)
                    # protected posts cannot be retweeted or quoted; retweets are never referenced
                    if not author.is_protected and tweet.retweeted_id is None:
                        created_today.append(tweet)
            pool = (pool + created_today)[-400:]
        for account in self.accounts.values():
            account.tweets.sort(key=lambda t: t.id, reverse=True)
        self._add_orphan_retweet(rng, regular[0] if regular else None, start)
        # Mentions by outsiders, from an RNG of their own so the posts above stay as they were.
        self.mention_authors = outside
        self.mentioned = regular[: len(DEMO_HANDLES)] + [a for a in specials if a.state == CAPPED]
        mention_rng = random.Random(spec.seed * 7919 + 1)
        for day in range(spec.days + 1):
            self.add_mentions(mention_rng, start + day * DAY_MS)
        for account in self.accounts.values():
            account.tweets.sort(key=lambda t: t.id, reverse=True)

    def add_mentions(self, rng: random.Random, day_start: int) -> list[Tweet]:
        """A day of posts by outside accounts that @mention listed ones (their authors' lists are left
        for the caller to sort). The capped account gets more than the 800 most recent X serves."""
        new = []
        for target in self.mentioned:
            capped = target.state == CAPPED
            rate = MENTIONS_CAP * 1.5 / (self.spec.days + 1) if capped else self.spec.mentions_per_day
            for _ in range(_poisson_like(rng, rate)):
                author = rng.choice(self.mention_authors)
                ms = day_start + rng.randint(0, DAY_MS // 1000 - 1) * 1000
                lang, phrase = rng.choice(PHRASES)
                tags = rng.choice(MENTION_TAGS)  # for search: hashtags and cashtags to find
                tweet = self._make_tweet(rng, author, ms, "original", [])
                tweet.text, tweet.lang, tweet.note_text = f"@{target.username} {phrase}{tags}", lang, None
                tweet.mentions = (target.id,)
                new.append(tweet)
        return new

    def _make_original(self, rng: random.Random, author: Account, ms: int) -> Tweet:
        return self._make_tweet(rng, author, ms, "original", [])

    def _make_tweet(self, rng: random.Random, author: Account, ms: int, kind: str, recent: list[Tweet]) -> Tweet:
        tid = self._next_id(ms)
        lang, text = rng.choice(PHRASES)
        candidates = recent  # posts of earlier days, none of them a retweet
        if kind != "original" and not candidates:
            kind = "original"
        refs: list[tuple[str, int]] = []
        reply_to_user: int | None = None
        conversation = tid
        note: str | None = None
        if kind in ("reply", "quote_reply"):
            parent = rng.choice(candidates)
            refs.append(("replied_to", parent.id))
            reply_to_user = parent.author_id
            conversation = parent.conversation_id or parent.id
            text = f"@{self.accounts[parent.author_id].username} {text}"
        if kind in ("quote", "quote_reply"):
            quoted = rng.choice(candidates)
            refs.append(("quoted", quoted.id))
        if kind == "retweet":
            original = rng.choice(candidates)
            refs = [("retweeted", original.id)]
            orig_author = self.accounts[original.author_id].username
            body = original.note_text or original.text
            text = f"RT @{orig_author}: {body}"
            if len(text) > 140:
                text = text[:139] + "…"
            lang = original.lang
        elif kind == "original" and rng.random() < 0.08:
            note = (LONG_SENTENCE * 5).strip() + " " + text
            text = note[:279] + "…"
            lang = "en"
        tweet = Tweet(
            id=tid,
            author_id=author.id,
            created_ms=ms,
            text=text,
            lang=lang,
            refs=tuple(refs),
            in_reply_to_user_id=reply_to_user,
            conversation_id=conversation,
            note_text=note,
        )
        # a reply starts with its parent's @handle, a retweet with "RT @original's author"
        mentioned = [reply_to_user] if reply_to_user is not None else []
        if kind == "retweet" and refs[0][1] in self.tweets:
            mentioned.append(self.tweets[refs[0][1]].author_id)
        tweet.mentions = tuple(m for m in dict.fromkeys(mentioned) if m != author.id)
        if kind != "retweet":
            scale = max(1, author.followers_count // 2000)
            tweet.like_count = rng.randint(0, 40) * scale
            tweet.retweet_count = rng.randint(0, 10) * scale
            tweet.reply_count = rng.randint(0, 8)
            tweet.quote_count = rng.randint(0, 3)
            tweet.bookmark_count = rng.randint(0, 12)
            tweet.impression_count = tweet.like_count * rng.randint(20, 80) + rng.randint(0, 500)
            # Posts from the older part of the window predate bookmark and impression counts.
            age_days = (self._anchor_ms() - ms) / DAY_MS
            if age_days > self.spec.days * 2 / 3 and rng.random() < 0.6:
                tweet.bookmark_count = None
                tweet.impression_count = None
        self.tweets[tid] = tweet
        author.tweets.append(tweet)
        return tweet

    def _add_orphan_retweet(self, rng: random.Random, author: Account | None, start: int) -> None:
        """A retweet whose original has since been deleted."""
        if author is None:
            return
        outside = next(a for a in self.accounts.values() if not a.listed)
        gone_ms = start - 3 * DAY_MS
        gone = self._make_original(rng, outside, gone_ms)
        ms = start + DAY_MS + 3_600_000
        rt = self._make_tweet(rng, author, ms, "retweet", [gone])
        rt.retweet_count = gone.retweet_count
        self.delete_tweet(gone.id)
        author.tweets.sort(key=lambda t: t.id, reverse=True)
        outside.tweets.sort(key=lambda t: t.id, reverse=True)
        self.orphan_retweet_id = rt.id

    # -- reads ------------------------------------------------------------------
    def visible_tweets(self, account: Account) -> list[Tweet]:
        """The account's posts that exist by now, newest first."""
        now = self.now_ms()
        tweets = account.tweets
        # tweets are newest first; skip the ones whose time has not come yet
        first_visible = bisect_left(tweets, -now, key=lambda t: -t.created_ms)
        return tweets[first_visible:]

    def mentions_of(self, account: Account) -> list[Tweet]:
        """Posts of others that @mention the account and exist by now, newest first."""
        now = self.now_ms()
        found = [t for t in self.tweets.values() if account.id in t.mentions and t.created_ms <= now]
        return sorted(found, key=lambda t: t.id, reverse=True)

    def tweet_count(self, account: Account) -> int:
        return account.older_tweet_count + len(self.visible_tweets(account))

    def get_tweet(self, tweet_id: int) -> Tweet | None:
        tweet = self.tweets.get(tweet_id)
        if tweet is None or tweet.created_ms > self.now_ms():
            return None
        return tweet

    def public_metrics(self, tweet: Tweet) -> dict[str, int]:
        """As the API reports them: a retweet mirrors its original's retweet count."""
        original_id = tweet.retweeted_id
        if original_id is not None:
            original = self.tweets.get(original_id)
            rt_count = original.retweet_count if original else tweet.retweet_count
            metrics = {"retweet_count": rt_count, "reply_count": 0, "like_count": 0, "quote_count": 0}
            metrics.update(bookmark_count=0, impression_count=0)
            return metrics
        metrics = {
            "retweet_count": tweet.retweet_count,
            "reply_count": tweet.reply_count,
            "like_count": tweet.like_count,
            "quote_count": tweet.quote_count,
        }
        # X's OpenAPI spec marks both required: a post older than the metric reports 0
        metrics["bookmark_count"] = tweet.bookmark_count or 0
        metrics["impression_count"] = tweet.impression_count or 0
        return metrics

    def private_metrics(self, tweet: Tweet) -> tuple[dict[str, int], dict[str, int]]:
        """non_public_metrics and organic_metrics, which X shows only to the author (all organic here:
        the world has no promoted posts). Clicks follow from the public counts, deterministically."""
        public = self.public_metrics(tweet)
        impressions = public["impression_count"]
        link_clicks = public["like_count"] // 3
        profile_clicks = public["like_count"] // 5 + public["reply_count"]
        engagements = (
            (public["like_count"] + public["retweet_count"] + public["reply_count"] + public["quote_count"])
            + link_clicks
            + profile_clicks
        )
        non_public = {
            "impression_count": impressions,
            "url_link_clicks": link_clicks,
            "user_profile_clicks": profile_clicks,
            "engagements": engagements,
        }
        organic = {
            "impression_count": impressions,
            "like_count": public["like_count"],
            "reply_count": public["reply_count"],
            "retweet_count": public["retweet_count"],
            "url_link_clicks": link_clicks,
            "user_profile_clicks": profile_clicks,
        }
        return non_public, organic

    def note_served(self, items: list[dict[str, object]]) -> None:
        """Remember when, and with which public metrics, each post of a `data` array was served."""
        now = self.now_ms()
        for item in items:
            metrics = item.get("public_metrics")
            if isinstance(metrics, dict):
                self.served.setdefault(int(str(item["id"])), []).append((now, dict(metrics)))

    def reachable_counts_since(self, since: dt.date) -> dict[str, int]:
        """Per listed account: reachable posts created on or after `since` (benchmarks' minimum)."""
        start = int(dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
        return {
            str(a.id): sum(t.created_ms >= start for t in self.visible_tweets(a)[:TIMELINE_CAP])
            for a in self.accounts.values()
            if a.listed
        }

    def listing(self) -> list[dict[str, object]]:
        """What GET /_emulator/accounts shows: enough to write a source file."""
        rows: list[dict[str, object]] = []
        for account in self.accounts.values():
            if not account.listed:
                continue
            visible = len(self.visible_tweets(account))
            rows.append(
                {
                    "id": str(account.id),
                    "username": account.username,
                    "name": account.name,
                    "state": account.state,
                    "tweets_in_window": visible,
                    "past_timeline_cap": visible > TIMELINE_CAP,
                    "readable_only_with": account.owner_label,
                }
            )
        for missing_id, username in self.missing_accounts:
            rows.append(
                {
                    "id": str(missing_id),
                    "username": username,
                    "name": username,
                    "state": NOT_FOUND,
                    "tweets_in_window": 0,
                    "past_timeline_cap": False,
                    "readable_only_with": None,
                }
            )
        return rows

    # -- mutations (control endpoints) ------------------------------------------
    def advance(self, steps: int = 1) -> None:
        """Move metrics forward, deterministically, as a day of activity would."""
        for _ in range(steps):
            self.advance_steps += 1
            rng = random.Random(self.spec.seed * 1_000_003 + self.advance_steps)
            for account in self.accounts.values():
                account.followers_count += rng.randint(-5, 60)
                account.following_count += rng.randint(0, 3)
                account.like_count += rng.randint(0, 20)
                account.listed_count += rng.randint(0, 2)
                for tweet in account.tweets:
                    if tweet.retweeted_id is not None:
                        continue
                    tweet.like_count += rng.randint(0, 9)
                    tweet.retweet_count += rng.randint(0, 3)
                    tweet.reply_count += rng.randint(0, 2)
                    tweet.quote_count += rng.randint(0, 1)
                    if tweet.bookmark_count is not None:
                        tweet.bookmark_count += rng.randint(0, 2)
                    if tweet.impression_count is not None:
                        tweet.impression_count += rng.randint(10, 400)

    def rename(self, account_id: int, username: str) -> Account:
        account = self.accounts[account_id]
        holder = self.by_username.get(username.lower())
        if holder is not None and holder is not account:
            raise ValueError(f"username {username} is taken by {holder.id}")
        self.by_username.pop(account.username.lower(), None)
        account.username = username
        self.by_username[username.lower()] = account
        return account

    def create_account(self, username: str, name: str | None = None, state: str = ACTIVE) -> Account:
        if username.lower() in self.by_username:
            raise ValueError(f"username {username} is taken")
        rng = random.Random(zlib.crc32(f"{self.spec.seed}:{username.lower()}".encode()))
        return self._new_account(rng, username, state, name=name or username)

    def add_tweet(
        self,
        author_id: int,
        text: str,
        created_ms: int | None = None,
        lang: str = "en",
        retweet_of: int | None = None,
    ) -> Tweet:
        author = self.accounts[author_id]
        ms = created_ms if created_ms is not None else (self.now_ms() // 1000) * 1000
        refs: tuple[tuple[str, int], ...] = ()
        if retweet_of is not None:
            refs = (("retweeted", retweet_of),)
        tweet = Tweet(id=self._next_id(ms), author_id=author.id, created_ms=ms, text=text, lang=lang, refs=refs)
        tweet.conversation_id = tweet.id
        self.tweets[tweet.id] = tweet
        author.tweets.append(tweet)
        author.tweets.sort(key=lambda t: t.id, reverse=True)
        return tweet

    def delete_tweet(self, tweet_id: int) -> bool:
        tweet = self.tweets.pop(tweet_id, None)
        if tweet is None:
            return False
        self.deleted_tweet_ids.add(tweet_id)
        author = self.accounts[tweet.author_id]
        author.tweets = [t for t in author.tweets if t.id != tweet_id]
        return True

    def set_metrics(self, account_id: int, metrics: dict[str, int]) -> None:
        """Set profile counts directly: a mass unfollow, say, that advance() would never produce."""
        account = self.accounts[account_id]
        for name, value in metrics.items():
            if name not in PROFILE_METRICS:
                raise ValueError(f"unknown metric {name!r}; one of {', '.join(PROFILE_METRICS)}")
            setattr(account, name, int(value))

    def set_state(self, account_id: int, state: str) -> None:
        self.accounts[account_id].state = state


def _display_name(username: str) -> str:
    """AcmeNews -> Acme News: display names differ from handles, as they do on X."""
    spaced = "".join(f" {c}" if c.isupper() and i and username[i - 1].islower() else c for i, c in enumerate(username))
    return spaced.replace("_", " ").strip()


def _poisson_like(rng: random.Random, mean: float) -> int:
    """A cheap, deterministic count around mean (never negative)."""
    if mean <= 0:
        return 0
    whole = int(mean)
    return max(0, whole + (1 if rng.random() < mean - whole else 0) + rng.randint(-1, 1) * (whole > 0))


def _pick_kind(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return "original"
    if roll < 0.62:
        return "reply"
    if roll < 0.74:
        return "quote"
    if roll < 0.80:
        return "quote_reply"
    return "retweet"
