"""Containers for the emulator's ECS: moto's ECS never runs one, so a one-off task's container runs here, locally.

`moto_gaps.bridge_ecs_run_task` hands every task that `ecs:RunTask` starts to the installed `ContainerRunner`
(if it `handles` the task definition's family); the runner's exit code and output lines become the task's
`containers[].exitCode` and its awslogs log stream, as ECS and the awslogs driver would report them.

The default runner, `DjangoProjectRunner`, stands in for the release image of the migrate task: it runs the
container's command (e.g. `sh -c "python manage.py migrate --plan && ..."`) in a Django project directory with
the project's virtualenv first on PATH, against the database of `database_url`. By default the project is the
fixture of tests/fixtures/django_project; `release_project` builds a "release" of it that holds only some
migrations (what an older image would hold), and `images` maps an image digest to such a directory.

Tests plug their own behaviour in with `inject` (the next matching run exits with a given code and output,
without running anything) and read `runs` afterwards.

>>> runner = DjangoProjectRunner(database_url="postgresql://postgres@127.0.0.1:5432/db")  # doctest: +SKIP
>>> install(runner)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURE_PROJECT = REPO_ROOT / "tests" / "fixtures" / "django_project"
DEFAULT_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class ContainerRun:
    """One essential container of a task that ecs:RunTask started, with its overrides applied."""

    cluster: str
    family: str
    task_id: str
    container: str
    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerResult:
    """How the container ended: `exit_code` None means it never started (then `reason` says why)."""

    exit_code: int | None
    output: tuple[str, ...] = ()
    reason: str = ""


class ContainerRunner(Protocol):
    def handles(self, family: str) -> bool:
        """Whether tasks of this task definition family run here (others keep moto's behaviour)."""
        ...

    def run(self, run: ContainerRun) -> ContainerResult: ...


@dataclass
class Injected:
    """A fault for the next run whose command line contains `command_contains`."""

    command_contains: str
    exit_code: int | None
    output: tuple[str, ...]
    reason: str = ""
    delay_seconds: float = 0.0


class DjangoProjectRunner:
    """Runs a migrate task's command in a Django project directory, against `database_url`."""

    def __init__(self, project: Path = FIXTURE_PROJECT, *, database_url: str | None = None,
                 family_suffix: str = "-migrate", python_bin: Path | None = None,
                 timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.project = project
        self.database_url = database_url
        self.family_suffix = family_suffix
        self.python_bin = python_bin or Path(sys.executable).parent
        self.timeout_seconds = timeout_seconds
        self.images: dict[str, Path] = {}  # image reference -> project directory of that release
        self.runs: list[tuple[ContainerRun, ContainerResult]] = []
        self._faults: list[Injected] = []
        self._lock = threading.Lock()

    def handles(self, family: str) -> bool:
        return family.endswith(self.family_suffix)

    def inject(self, command_contains: str, exit_code: int | None = 1, output: Iterable[str] = ("injected failure",),
               reason: str = "", delay_seconds: float = 0.0) -> None:
        """Make the next run whose command line contains `command_contains` end with `exit_code` and `output`
        after `delay_seconds`, without running anything. exit_code None: the container never starts (e.g.
        CannotPullContainerError). A delay longer than the state's timeout makes the state time out."""
        with self._lock:
            self._faults.append(Injected(command_contains, exit_code, tuple(output), reason, delay_seconds))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _fault(self, command_line: str) -> Injected | None:
        with self._lock:
            for fault in self._faults:
                if fault.command_contains in command_line:
                    self._faults.remove(fault)
                    return fault
        return None

    def project_for(self, image: str) -> Path:
        return self.images.get(image, self.project)

    def run(self, run: ContainerRun) -> ContainerResult:
        fault = self._fault(" ".join(run.command))
        if fault is not None:
            threading.Event().wait(fault.delay_seconds)  # a container that runs this long
            result = ContainerResult(exit_code=fault.exit_code, output=fault.output, reason=fault.reason)
        elif self.database_url is None:
            result = ContainerResult(exit_code=None, reason="no database_url set on the local container runner")
        else:
            result = self._execute(run)
        with self._lock:
            self.runs.append((run, result))
        return result

    def _execute(self, run: ContainerRun) -> ContainerResult:
        project = self.project_for(run.image)
        environment = {
            "PATH": f"{self.python_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            **run.environment,
            "DJANGO_SETTINGS_MODULE": "safejob.settings",
            "DATABASE_URL": str(self.database_url),
        }
        try:
            completed = subprocess.run(
                list(run.command), cwd=project, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, text=True, timeout=self.timeout_seconds, check=False,
            )
        except FileNotFoundError as error:
            return ContainerResult(exit_code=None, reason=f"CannotStartContainerError: {error}")
        except subprocess.TimeoutExpired as expired:
            output = expired.stdout if isinstance(expired.stdout, str) else (expired.stdout or b"").decode()
            return ContainerResult(exit_code=137, output=tuple(output.splitlines()),
                                   reason=f"killed after {self.timeout_seconds:.0f} s")
        return ContainerResult(exit_code=completed.returncode, output=tuple(completed.stdout.splitlines()))


# ------------------------------------------------------------------------------------------- the installed runner
_installed: ContainerRunner = DjangoProjectRunner()
_installed_lock = threading.Lock()


def current() -> ContainerRunner:
    """The runner the ECS bridge hands tasks to."""
    with _installed_lock:
        return _installed


def install(runner: ContainerRunner) -> ContainerRunner:
    """Install `runner`; returns the one it replaces."""
    global _installed
    with _installed_lock:
        previous, _installed = _installed, runner
    return previous


@contextmanager
def installed(runner: ContainerRunner) -> Iterator[ContainerRunner]:
    """Install `runner` for the duration of a `with` block (a test), then restore the previous one."""
    previous = install(runner)
    try:
        yield runner
    finally:
        install(previous)


# ------------------------------------------------------------------------------------------- releases of a project
def release_project(destination: Path, migrations: Iterable[str], project: Path = FIXTURE_PROJECT) -> Path:
    """A copy of `project` holding only the named migrations ("app.0001_initial", ...): what the image of an older
    release holds. Migration files not named are left out; the models stay (migrate never reads them).

    >>> release_project(tmp / "r1", ["accounts.0001_initial", "jobs.0001_initial"])  # doctest: +SKIP
    PosixPath('.../r1')
    """
    keep = set(migrations)
    shutil.copytree(project, destination, ignore=shutil.ignore_patterns("__pycache__"))
    for migration_file in destination.glob("*/migrations/[0-9]*.py"):
        label = f"{migration_file.parent.parent.name}.{migration_file.stem}"
        if label not in keep:
            migration_file.unlink()
    return destination
