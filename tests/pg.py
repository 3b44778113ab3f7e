"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, started on a
free 127.0.0.1 port, one fresh database per test, stopped at the end of the session.

No PostgreSQL on the machine is a failure, never a skip: ``make test`` installs it (the
Makefile's ``services`` target). Every wait is bounded.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

#: Seconds: the bound of each command that starts, stops or sets up the cluster.
WAIT = 120


def bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, Debian's
    /usr/lib/postgresql/*/bin (newest first), or the PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        got = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=WAIT, check=False
        )
        if got.returncode == 0:
            candidates.append(Path(got.stdout.strip()))
    candidates += [
        Path(p)
        for p in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
            reverse=True,
        )
    ]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running cluster; :meth:`database` makes a new, empty database and gives its URL."""

    def __init__(self) -> None:
        bins = bindir()
        if bins is None:
            raise RuntimeError(
                "PostgreSQL is not installed (no initdb/pg_ctl found by `pg_config --bindir`, "
                "in /usr/lib/postgresql/*/bin or on the PATH): run `make services` (as root on "
                "Debian it runs `apt-get install -y postgresql`)"
            )
        self.bin = bins
        self.dir = Path(tempfile.mkdtemp(prefix="ldesfrag-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self._names = itertools.count()
        # PostgreSQL refuses to run as root: as root, the cluster belongs to `postgres`.
        self._as: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root without runuser: cannot start PostgreSQL")
            self._as = [runuser, "-u", "postgres", "--"]
            try:
                shutil.chown(self.dir, "postgres", "postgres")
            except LookupError:
                raise RuntimeError(
                    "running as root without a `postgres` user: cannot start PostgreSQL "
                    "(Debian's postgresql package makes it: `make services`)"
                ) from None
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        # fsync off: a test kills the ldesfrag server, never PostgreSQL; commits still
        # happen in order and are seen by every session.
        opts = (
            f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", opts, "start",
            "-w", "-t", "60",
        )  # fmt: skip
        self.started = True

    def _run(self, tool: str, *args: str) -> None:
        got = subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
            cwd=self.dir,
        )
        if got.returncode != 0:
            log = self.dir / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({got.returncode}): {got.stderr[-2000:]}\n{tail}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database's URL."""
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=30) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "stop", "-m", "fast", "-w", "-t", "60")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
