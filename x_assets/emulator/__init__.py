"""A local X API v2 emulator: the demo backend and the test bed.

with EmulatorServer() as server:   # port 0: any free port
    print(server.base_url)
"""

from .auth import (
    DEMO_ACCESS_TOKEN,
    DEMO_ACCESS_TOKEN_SECRET,
    DEMO_BEARER_TOKEN,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    DEMO_OWNER_BEARER_TOKEN,
    Credential,
)
from .server import Emulator, EmulatorServer
from .world import World, WorldSpec

__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_ACCESS_TOKEN_SECRET",
    "DEMO_BEARER_TOKEN",
    "DEMO_CONSUMER_KEY",
    "DEMO_CONSUMER_SECRET",
    "DEMO_OWNER_BEARER_TOKEN",
    "Credential",
    "Emulator",
    "EmulatorServer",
    "World",
    "WorldSpec",
]
