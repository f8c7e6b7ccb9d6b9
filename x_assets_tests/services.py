"""PostgreSQL and Redis servers for the tests: started on a free 127.0.0.1 port in a temporary
folder, stopped at the end. Never anything but loopback; a missing server program fails the test
that needs it (scripts/test.sh installs them), it is never skipped."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server (initdb) here: run scripts/test.sh, which installs Debian's postgresql"
        )
    return Path(found[-1]).parent


def _as_postgres(folder: Path) -> tuple[list[str], int | None]:
    """The server refuses to run as root: as root, run it as the postgres user."""
    if os.geteuid() != 0:
        return [], None
    user = pwd.getpwnam("postgres")
    shutil.chown(folder, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"], user.pw_uid


@contextlib.contextmanager
def postgres(databases: tuple[str, ...] = ("x_assets",)) -> Iterator[str]:
    """A PostgreSQL cluster with these databases; yields the SQLAlchemy URL of the first (trust on
    loopback: the user is postgres, any password is accepted)."""
    bin_dir = _postgres_bin()
    with tempfile.TemporaryDirectory(prefix="x_assets_pg_") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)
        data = folder / "data"
        data.mkdir()
        prefix, _ = _as_postgres(data)
        _as_postgres(folder)
        port = free_port()
        run = {"check": True, "capture_output": True, "timeout": START_TIMEOUT_S}
        subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], **run)  # type: ignore[call-overload]
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=200 -c fsync=off"
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "log"),
                "-w",
                "start",
            ],
            **run,  # type: ignore[call-overload]
        )
        try:
            for database in databases:
                subprocess.run(
                    [
                        *prefix,
                        str(bin_dir / "createdb"),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-U",
                        "postgres",
                        database,
                    ],
                    **run,  # type: ignore[call-overload]
                )
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{databases[0]}"
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=START_TIMEOUT_S,
            )


def _wait_for(server: subprocess.Popen[bytes], port: int, name: str) -> None:
    """Until the server accepts connections on its loopback port (bounded)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start on 127.0.0.1:{port}")
        time.sleep(0.1)


@contextlib.contextmanager
def redis() -> Iterator[str]:
    """A Redis server without persistence; yields its URL."""
    program = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(program):
        raise RuntimeError("no redis-server here: run scripts/test.sh, which installs Debian's redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="x_assets_redis_") as tmp:
        args = [program, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        server = subprocess.Popen([*args, "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(server, port, "redis-server")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=30)


@contextlib.contextmanager
def s3() -> Iterator[str]:
    """An S3-compatible server (moto's, in memory) on loopback; yields its endpoint URL."""
    program = Path(sys.executable).parent / "moto_server"
    port = free_port()
    server = subprocess.Popen(
        [str(program), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(server, port, "moto_server")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
