"""A throwaway PostgreSQL cluster from the machine's own binaries (initdb/pg_ctl), for tests and the demo.

It lives in a fresh temporary directory: the data directory, the unix socket and the server log. It listens on a
free loopback port, with `fsync=off` (the data is disposable), and trusts local connections. As root, the server
runs as the `postgres` OS user, because PostgreSQL refuses to run as root.

>>> with PostgresCluster() as pg:  # doctest: +SKIP
...     import psycopg
...     with psycopg.connect(pg.dsn()) as conn:
...         conn.execute("select 1").fetchone()
(1,)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import weakref
from pathlib import Path
from types import TracebackType
from typing import Self

# Where Debian/Ubuntu put the server binaries when they are not on PATH.
SEARCH_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/local/bin"))
SUPERUSER = "postgres"
OS_USER_WHEN_ROOT = "postgres"
_DBNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_START_ATTEMPTS = 3  # a free port can be taken between picking it and the server binding it


class PostgresError(RuntimeError):
    """The cluster could not be found, initialised, started or stopped; the message says why."""


class PostgresNotFoundError(PostgresError):
    """initdb/pg_ctl are not installed (`make install-postgres` installs them)."""


def find_bin_dir(extra: tuple[Path, ...] = ()) -> Path:
    """The directory holding initdb and pg_ctl: PATH first, then the Debian locations.

    >>> find_bin_dir().joinpath("pg_ctl").exists()  # doctest: +SKIP
    True
    """
    on_path = shutil.which("pg_ctl")
    candidates = [*extra, *([Path(on_path).resolve().parent] if on_path else []), *SEARCH_DIRS]
    for directory in candidates:
        if (directory / "pg_ctl").is_file() and (directory / "initdb").is_file():
            return directory
    raise PostgresNotFoundError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
        + ", ".join(str(d) for d in SEARCH_DIRS)
        + ": run `make install-postgres` (apt-get install postgresql-15)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, exited but not yet reaped by init, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait (without polling) until `pid` exits; True if it did within `timeout` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable) or not process_running(pid)
    finally:
        os.close(fd)


class PostgresCluster:
    """A PostgreSQL cluster in a temporary directory, started on enter and always stopped and removed on exit.

    >>> with PostgresCluster() as pg:  # doctest: +SKIP
    ...     dsn = pg.create_database("app_test")
    """

    def __init__(self, *, bin_dir: Path | None = None, startup_timeout: float = 60.0) -> None:
        self.bin_dir = bin_dir or find_bin_dir()
        self.startup_timeout = startup_timeout
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.port = 0
        self.root: Path | None = None
        self._run_as: pwd.struct_passwd | None = None
        self._finalizer: weakref.finalize[..., PostgresCluster] | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """initdb into a fresh temporary directory and start the server; on any failure, clean up and raise."""
        if self.root is not None:
            raise PostgresError("cluster already started")
        self._run_as = self._os_user()
        root = Path(tempfile.mkdtemp(prefix="safejob-pg-", dir=_base_dir(self._run_as)))
        self.root = root
        # Cleans up even if the owner forgets stop() or the interpreter exits.
        self._finalizer = weakref.finalize(self, _teardown, self.bin_dir, root, self._run_as)
        try:
            self.socket_dir.mkdir()
            if self._run_as is not None:
                for path in (root, self.socket_dir):
                    os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
            root.chmod(0o700)
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown, killed if it does not stop) and remove the directory. Idempotent."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self.root = None

    # ------------------------------------------------------------------ paths and connection strings
    @property
    def data_dir(self) -> Path:
        return self._root() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._root() / "socket"

    @property
    def log_file(self) -> Path:
        return self._root() / "server.log"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs, else None."""
        if self.root is None:
            return None
        return _read_pid(self.data_dir)

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection URI for `dbname`, over TCP on loopback: `postgresql://postgres@127.0.0.1:PORT/DBNAME`."""
        if self.root is None:
            raise PostgresError("cluster not started")
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    # ------------------------------------------------------------------ databases
    def create_database(self, name: str) -> str:
        """Create a database and return its DSN."""
        self._execute(f'CREATE DATABASE "{_checked_name(name)}"')
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, disconnecting its sessions."""
        self._execute(f'DROP DATABASE IF EXISTS "{_checked_name(name)}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        import psycopg  # a dev dependency; imported here so the module imports without it

        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement.encode())

    # ------------------------------------------------------------------ internals
    def _root(self) -> Path:
        if self.root is None:
            raise PostgresError("cluster not started")
        return self.root

    @staticmethod
    def _os_user() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(OS_USER_WHEN_ROOT)
        except KeyError:
            raise PostgresError(
                f"running as root, PostgreSQL must run as the {OS_USER_WHEN_ROOT!r} OS user, which does not exist:"
                " `make install-postgres` creates it"
            ) from None

    def _initdb(self) -> None:
        args = [
            str(self.bin_dir / "initdb"),
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        _run(args, self._run_as, cwd=self._root(), what="initdb")

    def _start_server(self) -> None:
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = _free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {self.socket_dir}",
                    "-c listen_addresses=127.0.0.1",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=100",
                ]
            )
            args = [
                str(self.bin_dir / "pg_ctl"),
                "start",
                f"--pgdata={self.data_dir}",
                f"--log={self.log_file}",
                f"--options={options}",
                "--wait",  # waits for the server to accept connections (PQping), up to --timeout
                f"--timeout={int(self.startup_timeout)}",
                "--silent",
            ]
            try:
                _run(args, self._run_as, cwd=self._root(), what="pg_ctl start")
                return
            except PostgresError as error:
                port_taken = "Address already in use" in self._log_tail()
                if not port_taken or attempt == _START_ATTEMPTS:
                    raise PostgresError(f"{error}\n--- server log ---\n{self._log_tail()}") from None

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _base_dir(run_as: pwd.struct_passwd | None) -> str | None:
    """The system temp dir, unless the server's OS user could not reach it (e.g. TMPDIR under /root)."""
    base = Path(tempfile.gettempdir()).resolve()
    if run_as is None or all(p.stat().st_mode & 0o001 for p in (base, *base.parents)):
        return None
    return "/tmp"


def _checked_name(name: str) -> str:
    if not _DBNAME.match(name):
        raise ValueError(f"not a plain database name: {name!r} (letters, digits, underscores; at most 63)")
    return name


def _read_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    pid = int(first) if first.strip().isdigit() else None
    return pid if pid is not None and process_running(pid) else None


def _run(args: list[str], run_as: pwd.struct_passwd | None, *, cwd: Path, what: str) -> None:
    if run_as is not None:
        args = ["runuser", "-u", run_as.pw_name, "--", *args]
    # LC_ALL=C: initdb fails on a locale that the machine does not have.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise PostgresError(f"{what} failed (exit {result.returncode}): {output}")


def _teardown(bin_dir: Path, root: Path, run_as: pwd.struct_passwd | None) -> None:
    """Stop the server in `root` (if one runs) and delete `root`. Never raises: it runs from finalizers too."""
    data_dir = root / "data"
    pid = _read_pid(data_dir)
    if pid is not None:
        stop = [str(bin_dir / "pg_ctl"), "stop", f"--pgdata={data_dir}", "--mode=fast", "--wait", "--timeout=30"]
        with contextlib.suppress(PostgresError, OSError):
            _run(stop, run_as, cwd=root, what="pg_ctl stop")
        # pg_ctl returns once postmaster.pid is gone, a moment before the process itself exits.
        if not _wait_gone(pid, timeout=10):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # its backends exit when they notice the postmaster is gone
            _wait_gone(pid, timeout=10)
    shutil.rmtree(root, ignore_errors=True)
