"""A throwaway PostgreSQL server from Debian's package, on a free loopback port."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from devtools.net import free_port, wait_for_port


def _bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed: run `make test`, which installs it")
    return candidates[-1].parent


class PostgresServer:
    """initdb into a temp dir, start with pg_ctl, stop by the postmaster's pid."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="dcs-pg-"))
        self.data = self.dir / "data"
        self.pid: int | None = None
        self._names = itertools.count(1)
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            self.user = "postgres"
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def start(self) -> PostgresServer:
        self._run(
            self.bindir / "initdb", "-D", self.data, "-A", "trust", "-U", self.user, "--no-sync"
        )
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run(
            self.bindir / "pg_ctl",
            "-D",
            self.data,
            "-o",
            options,
            "-l",
            self.dir / "server.log",
            "-w",
            "start",
        )
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        if not wait_for_port("127.0.0.1", self.port):
            raise RuntimeError("PostgreSQL did not start")
        return self

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"dcs_test_{next(self._names)}"
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        """Immediate shutdown by pid (SIGQUIT to the postmaster), then remove the directory.

        Not a fast shutdown: its checkpoint writes and fsyncs every file of every database
        only to have the directory deleted next (8.7 s against 1.3 s with 80 test databases;
        17-30 s at the end of a test run, each xdist worker's last test waiting on it).
        """
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGQUIT)
                for _ in range(600):
                    os.kill(self.pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)
