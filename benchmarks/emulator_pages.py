"""How many full timeline pages per second the emulator serves (it must not be the bottleneck).

    .venv/bin/python benchmarks/emulator_pages.py [--seconds 5] [--clients 4]

Each client is a real tweepy client paging FirehoseNews's timeline (100 posts a page, with
public_metrics and the referenced_tweets.id expansion, as the connector asks) over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import threading
import time

from x_assets.emulator import DEMO_BEARER_TOKEN, Emulator, EmulatorServer, WorldSpec
from x_assets.x_api.client import ScopeCredentials, make_client
from x_assets.x_api.reads import EXPANSIONS, TWEET_FIELDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with EmulatorServer(Emulator(WorldSpec(seed=1, accounts=5, days=30))) as server:
        account = server.world.by_username["firehosenews"]
        pages = [0] * args.clients
        posts = [0] * args.clients
        deadline = time.monotonic() + args.seconds

        def worker(i: int) -> None:
            client = make_client(
                ScopeCredentials("bench", bearer_token=DEMO_BEARER_TOKEN), server.base_url, return_type=dict
            )
            token = None
            while time.monotonic() < deadline:
                body = client.tweepy_client.get_users_tweets(
                    account.id,
                    max_results=100,
                    pagination_token=token,
                    tweet_fields=TWEET_FIELDS,
                    expansions=EXPANSIONS,
                )
                pages[i] += 1
                posts[i] += len(body.get("data", []))
                token = body.get("meta", {}).get("next_token")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    print(f"clients: {args.clients}  seconds: {elapsed:.2f}")
    print(
        f"timeline pages served: {sum(pages)}  ({sum(pages) / elapsed:.0f} pages/s, "
        f"{sum(posts) / elapsed:,.0f} posts/s, client and server on the same machine)"
    )


if __name__ == "__main__":
    main()
