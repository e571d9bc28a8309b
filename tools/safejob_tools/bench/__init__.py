"""Benchmarks of the alarm_route workflow (`make bench`, `python -m safejob_tools.bench [--quick]`).

- `coldstart`: each Lambda handler imported in a fresh process, as a ratio to `python -c "import boto3"`;
- `routing`: an alarm storm through normalise + match_routes in-process, against a JSON round-trip floor;
- `e2e`: an alarm storm through the local AWS emulator, counted from the notification log and the HTTP sink.

Figures are medians over several runs with their spread, and ratios to a baseline measured in the same run; nothing
here asserts a timing (docs/benchmarks.md). `suite.run_all` runs them together into one `results.BenchReport`.
"""
