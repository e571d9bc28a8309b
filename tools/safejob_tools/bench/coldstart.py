"""Cold start: each Lambda handler imported in a fresh interpreter, against `python -c "import boto3"`.

A run is a whole process (interpreter start, imports, module init), as Lambda's init phase is. The function and the
baseline run in turn, A B A B ..., and the ratio is taken pair by pair, so that a machine whose speed drifts during
the run still gives a fair ratio. The handler file is loaded with importlib exactly as the in-process runtime loads
it, with the environment the template gives the function (no AWS call happens at import).

Where the time goes is measured for every function (and printed for those that miss the target): the costliest
imports from `python -X importtime`, and the calls the module body makes at init, from cProfile.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from safejob_tools.bench.results import ColdStartReport, ColdStartResult, Cost, Spread

ROOT = Path(__file__).resolve().parents[3]
TARGET = 1.5
BASELINE = "import boto3"

ALARM_ROUTE: dict[str, str] = {
    "ingest": "functions/alarm_route/ingest/app.py",
    "flush": "functions/alarm_route/flush/app.py",
    "deliver": "functions/alarm_route/deliver/app.py",
    "admin": "functions/alarm_route/admin/app.py",
}
# The deploy workflow's handlers, in the order a deploy runs them (statemachines/deploy.asl.json).
DEPLOY: dict[str, str] = {
    f"deploy_{name}": f"functions/deploy/{name}/app.py"
    for name in ("validate", "preflight", "begin", "register", "scale_green", "check_green", "smoke", "approval",
                 "shift", "analyse", "finalize", "retire", "rollback")
}
FUNCTIONS: dict[str, str] = {**ALARM_ROUTE, **DEPLOY}
# `--quick` (fewer runs than the full 7): alarm_route's and the deploy handlers that matter most: the first of a
# deploy (validate: the topology from 21 variables), the one run every step (analyse), and the one importing the
# most adapters (rollback). About 20 s instead of a minute on 2 cores.
QUICK_FUNCTIONS: dict[str, str] = {**ALARM_ROUTE, **{n: DEPLOY[n] for n in
                                                     ("deploy_validate", "deploy_analyse", "deploy_rollback")}}
FULL_RUNS = 7

_ELB = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
_LB_ID = "0123456789abcdef"

# What the template and the Lambda service give the functions (the union: each reads the ones it needs; a test
# checks it holds every variable the template sets on a measured function).
ENVIRONMENT: dict[str, str] = {
    "STATE_TABLE_NAME": "safejob-bench-state",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:safejob-bench-alarm-route",
    "ALERTING_CONFIG_FILE": "alerting.yaml",
    "IDEMPOTENCY_TABLE_NAME": "safejob-bench-idempotency",
    "GRAPHS_BUCKET_NAME": "safejob-bench-graphs",
    "ALERT_EMAIL_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:safejob-bench-alerts",
    "PAGERDUTY_EVENTS_URL": "https://events.pagerduty.com/v2/enqueue",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # fake credentials: nothing may reach AWS
    "AWS_SESSION_TOKEN": "testing",
    "ENVIRONMENT_NAME": "bench",
    "POWERTOOLS_SERVICE_NAME": "safejob-ops",
    "POWERTOOLS_METRICS_NAMESPACE": "SafeJob/Ops",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    # deploy (the stack's resources, as its Outputs would give them; the config file as DeployConfigFile's default)
    "DEPLOY_CONFIG_FILE": "deploy.yaml",
    "CLUSTER_ARN": "arn:aws:ecs:us-east-1:123456789012:cluster/safejob-bench",
    "LOAD_BALANCER_FULL_NAME": f"app/safejob-bench/{_LB_ID}",
    "TEST_LISTENER_URL": "https://origin.safejob.example:8443",
    "PROD_LISTENER_ARN": f"{_ELB}:listener/app/safejob-bench/{_LB_ID}/1111111111111111",
    "TEST_LISTENER_ARN": f"{_ELB}:listener/app/safejob-bench/{_LB_ID}/2222222222222222",
    "BACKEND_PROD_RULE_ARN": f"{_ELB}:listener-rule/app/safejob-bench/{_LB_ID}/1111111111111111/3333333333333333",
    "BACKEND_TEST_RULE_ARN": f"{_ELB}:listener-rule/app/safejob-bench/{_LB_ID}/2222222222222222/4444444444444444",
    **{f"{service.upper()}_{colour.upper()}_{key}": value.format(name=f"safejob-bench-{service}-{colour}")
       for service in ("backend", "frontend") for colour in ("blue", "green") for key, value in (
           ("SERVICE_NAME", "{name}"),
           ("TARGET_GROUP_ARN", f"{_ELB}:targetgroup/{{name}}/{_LB_ID}"),
           ("TARGET_GROUP_FULL_NAME", f"targetgroup/{{name}}/{_LB_ID}"))},
    "COST_GATE_PARAMETER_NAME": "/safejob/bench/deploy/cost-gate",
    "LOCK_TABLE_NAME": "safejob-bench-ops-locks",
    "LEDGER_TABLE_NAME": "safejob-bench-deploy-ledger",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:safejob-bench-notifications",
    "ALARM_ROUTE_ADMIN_FUNCTION_NAME": "safejob-bench-AlarmRouteAdminFunction",
    "RUNBOOK_URL": "https://github.com/safejob/ops/blob/main/docs/workflows/deploy.md#runbook",
}

# Runs in the fresh process: load the handler file as the runtime does, print the import time in ms.
IMPORT_HANDLER = (
    "import importlib.util, sys, time\n"
    "t0 = time.perf_counter()\n"
    "spec = importlib.util.spec_from_file_location('app', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "print(f'{(time.perf_counter() - t0) * 1000:.3f}')\n"
)

# Runs in a fresh process: profile the module body, print its direct calls other than imports (name, ms).
PROFILE_INIT = (
    "import cProfile, importlib.util, pstats, sys\n"
    "spec = importlib.util.spec_from_file_location('app', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "profile = cProfile.Profile()\n"
    "profile.runcall(spec.loader.exec_module, module)\n"
    "stats = pstats.Stats(profile).stats\n"
    "body = next(f for f in stats if f[0] == sys.argv[1] and f[2] == '<module>')\n"
    "for func, (_, _, _, _, callers) in stats.items():\n"
    "    if body in callers and not func[0].startswith('<frozen'):\n"
    "        name = func[2] if func[2] != '__init__' else f'{func[0].rsplit(\"/\", 2)[-1]}:__init__'\n"
    "        print(f'{callers[body][3] * 1000:.3f}\\t{name}\\t{func[0]}')\n"
)


@dataclass(frozen=True, slots=True)
class Run:
    wall_ms: float
    cpu_ms: float
    stdout: str


def environment() -> dict[str, str]:
    """A clean environment: the functions' variables, and nothing of ours (no emulator endpoint, no PYTHON*)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    return {**keep, **ENVIRONMENT}


def run_once(argv: list[str], env: Mapping[str, str]) -> Run:
    """One fresh process: its wall time and its CPU time (user + system, from the kernel's accounting)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=dict(env), cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall_ms=wall * 1000, cpu_ms=cpu * 1000, stdout=done.stdout)


def measure(function: str, handler: str, python: str, runs: int, env: Mapping[str, str]) -> ColdStartResult:
    """`runs` pairs (function, baseline), after one warm-up pair (which also writes the bytecode caches)."""
    path = str(ROOT / handler)
    function_argv = [python, "-c", IMPORT_HANDLER, path]
    baseline_argv = [python, "-c", BASELINE]
    run_once(function_argv, env), run_once(baseline_argv, env)
    pairs = [(run_once(function_argv, env), run_once(baseline_argv, env)) for _ in range(runs)]
    ratio = Spread.of([a.wall_ms / b.wall_ms for a, b in pairs])
    return ColdStartResult(
        function=function,
        handler=handler,
        runs=runs,
        wall_ms=Spread.of([a.wall_ms for a, _ in pairs]),
        cpu_ms=Spread.of([a.cpu_ms for a, _ in pairs]),
        import_ms=Spread.of([float(a.stdout.strip()) for a, _ in pairs]),
        baseline_wall_ms=Spread.of([b.wall_ms for _, b in pairs]),
        ratio=ratio,
        target=TARGET,
        passed=ratio.median <= TARGET,
        top_costs=costs(path, python, env),
    )


# ------------------------------------------------------------------------------------------------ diagnosis
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
HEAVY = ("boto3", "botocore", "s3transfer", "awscrt", "aws_xray_sdk", "pydantic", "yaml", "urllib3", "jmespath")


@dataclass(frozen=True, slots=True)
class Imported:
    depth: int
    name: str
    self_us: int
    cumulative_us: int
    parent: str


def parse_importtime(text: str) -> list[Imported]:
    """The lines of `python -X importtime` with each module's importer (the output lists a module after the modules
    it imported, indented one level deeper than its importer).

    >>> lines = ["import time: self [us] | cumulative | imported package",
    ...          "import time:        5 |          5 |   b", "import time:       10 |         15 | a"]
    >>> [(i.name, i.cumulative_us, i.parent) for i in parse_importtime("\\n".join(lines))]
    [('b', 5, 'a'), ('a', 15, '')]
    """
    rows = []
    for line in text.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            rows.append((len(match[3]) // 2, match[4], int(match[1]), int(match[2])))
    parsed: list[Imported] = []
    for index, (depth, name, own, cumulative) in enumerate(rows):
        parent = next((r[1] for r in rows[index + 1:] if r[0] == depth - 1), "") if depth else ""
        parsed.append(Imported(depth, name, own, cumulative, parent))
    return parsed


def costs(path: str, python: str, env: Mapping[str, str], top: int = 6) -> list[Cost]:
    """The costliest direct imports of the handler, which of them pull in heavy packages, and its init calls."""
    done = subprocess.run([python, "-X", "importtime", "-c", IMPORT_HANDLER, path], env=dict(env), cwd=ROOT,
                          capture_output=True, text=True, check=False)
    imported = parse_importtime(done.stderr)
    found: list[Cost] = []
    own = [i for i in imported if i.depth == 0 and i.name.split(".")[0] not in sys.stdlib_module_names]
    for item in sorted(own, key=lambda i: -i.cumulative_us)[:top]:
        pulled = sorted({_heavy_root(i) for i in _descendants(item, imported)} - {""})
        found.append(Cost(kind="import", what=item.name, ms=round(item.cumulative_us / 1000, 1),
                          detail=f"pulls in {', '.join(pulled)}" if pulled else ""))
    for heavy in HEAVY:
        first = next((i for i in imported if i.name == heavy), None)
        if first is not None and first.cumulative_us >= 10_000:
            found.append(Cost(kind="import", what=heavy, ms=round(first.cumulative_us / 1000, 1),
                              detail=f"first imported through {_via(first, imported)}"))
    profiled = subprocess.run([python, "-c", PROFILE_INIT, path], env=dict(env), cwd=ROOT, capture_output=True,
                              text=True, check=False)
    calls = []
    for line in profiled.stdout.splitlines():
        ms, name, file = line.split("\t")
        if name.startswith("<"):  # class bodies and the like
            continue
        calls.append(Cost(kind="init", what=name, ms=round(float(ms), 1), detail=_relative(file)))
    found += sorted(calls, key=lambda c: -c.ms)[:top]
    return found


def _descendants(item: Imported, imported: list[Imported]) -> list[Imported]:
    """The modules imported (directly or not) while `item` was imported: those listed just before it, deeper."""
    index = imported.index(item)
    out = []
    for other in reversed(imported[:index]):
        if other.depth <= item.depth:
            break
        out.append(other)
    return out


def _heavy_root(item: Imported) -> str:
    root = item.name.split(".")[0]
    return root if root in HEAVY and item.cumulative_us >= 10_000 else ""


def _via(item: Imported, imported: list[Imported]) -> str:
    """The handler's own import through which `item` was first imported (a module is imported once a process)."""
    by_name = {i.name: i for i in imported}
    current = item
    for _ in range(64):
        parent = by_name.get(current.parent)
        if parent is None:
            break
        current = parent
    return current.name if current is not item else "the handler itself"


def _relative(file: str) -> str:
    for marker in ("site-packages/", f"{ROOT}/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def default_functions(runs: int) -> dict[str, str]:
    """What a run of `runs` pairs measures: every function at the full size, fewer in a quick run.

    >>> len(default_functions(7)), [name for name in default_functions(3) if name.startswith("deploy_")]
    (17, ['deploy_validate', 'deploy_analyse', 'deploy_rollback'])
    """
    return FUNCTIONS if runs >= FULL_RUNS else QUICK_FUNCTIONS


def run(runs: int = FULL_RUNS, python: str | None = None, functions: Mapping[str, str] | None = None,
        progress: Callable[[str], None] | None = None) -> ColdStartReport:
    """Measure every function's cold start against the baseline (`runs` pairs each; by default the functions of
    `default_functions(runs)`)."""
    python = python or str(ROOT / ".venv" / "bin" / "python")
    if not Path(python).exists():
        python = sys.executable
    env = environment()
    results = []
    for name, handler in (default_functions(runs) if functions is None else functions).items():
        if progress:
            progress(f"cold start: {name} ({runs} fresh processes, each paired with the baseline)")
        results.append(measure(name, handler, python, runs, env))
    return ColdStartReport(python=python, baseline_command=f'python -c "{BASELINE}"', runs=runs, target=TARGET,
                           functions=results)
