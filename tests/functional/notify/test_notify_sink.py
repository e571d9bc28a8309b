"""The local HTTP sink: what it records, how it fails on demand, and its summary."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from safejob_ops.adapters.http import UrllibHttp
from safejob_tools.localaws.sink import HttpSink


def test_records_every_request_with_path_headers_and_body(sink: HttpSink) -> None:
    # GIVEN a running sink
    http = UrllibHttp()

    # WHEN JSON is posted to two paths
    first = http.post_json(sink.url("/slack/ops"), {"text": "hello"}, headers={"X-Test": "1"})
    second = http.post_json(sink.url("webhook/audit?token=x"), {"n": 2})

    # THEN both were answered 200 and recorded, in order, with the query left out of the path
    assert (first, second) == (200, 200)
    recorded = sink.requests()
    assert [(r.method, r.path, r.body, r.status) for r in recorded] == [
        ("POST", "/slack/ops", {"text": "hello"}, 200), ("POST", "/webhook/audit", {"n": 2}, 200)]
    assert recorded[0].headers["X-Test"] == "1"
    assert recorded[0].headers["Content-Type"].startswith("application/json")
    assert recorded[0].at.tzinfo is not None
    assert sink.requests("/slack/") == recorded[:1]


def test_pagerduty_paths_answer_like_the_events_api(sink: HttpSink) -> None:
    # WHEN an event is posted under /pagerduty
    request = urllib.request.Request(sink.url("/pagerduty"), data=json.dumps({"dedup_key": "abc"}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        status, answer = response.status, json.loads(response.read())

    # THEN it is accepted as PagerDuty does
    assert status == 202
    assert answer == {"status": "success", "message": "Event processed", "dedup_key": "abc"}


def test_fail_answers_the_next_n_requests_with_the_status(sink: HttpSink) -> None:
    # GIVEN a sink told to fail twice under /slack/
    http = UrllibHttp()
    sink.fail("/slack/", times=2, status=503)

    # WHEN three requests arrive there, and one elsewhere
    statuses = [http.post_json(sink.url("/slack/ops"), {"i": i}) for i in range(3)]
    other = http.post_json(sink.url("/webhook/x"), {})

    # THEN the first two failed and everything was recorded with what it got
    assert statuses == [503, 503, 200]
    assert other == 200
    assert [r.status for r in sink.requests("/slack/")] == [503, 503, 200]
    assert sink.bodies("/slack/") == [{"i": 2}]


def test_summary_counts_per_path_and_clear_forgets(sink: HttpSink) -> None:
    # GIVEN requests to three paths and a pending failure
    http = UrllibHttp()
    for path in ("/slack/ops", "/slack/ops", "/pagerduty", "/webhook/a"):
        http.post_json(sink.url(path), {})
    sink.fail("/webhook/", times=5)

    # THEN the summary counts them per path
    assert sink.summary() == {"/pagerduty": 1, "/slack/ops": 2, "/webhook/a": 1}

    # WHEN the sink is cleared, THEN records and failures are gone
    sink.clear()
    assert sink.summary() == {}
    assert http.post_json(sink.url("/webhook/a"), {}) == 200


def test_non_json_bodies_are_kept_raw(sink: HttpSink) -> None:
    # WHEN a form is posted
    request = urllib.request.Request(sink.url("/webhook/form"), data=b"a=1&b=2", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass

    # THEN it is recorded with no parsed body and the raw bytes
    [recorded] = sink.requests()
    assert (recorded.body, recorded.raw) == (None, b"a=1&b=2")


def test_concurrent_requests_are_all_recorded(sink: HttpSink) -> None:
    # GIVEN eight threads posting five requests each
    http = UrllibHttp()

    def post(worker: int) -> None:
        for i in range(5):
            http.post_json(sink.url(f"/webhook/w{worker}"), {"i": i})

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN all forty were recorded, five per path
    assert len(sink.wait_for(40, timeout=5)) == 40
    assert set(sink.summary().values()) == {5}


def test_wait_for_times_out_when_too_few_arrive(sink: HttpSink) -> None:
    # GIVEN one request
    UrllibHttp().post_json(sink.url("/slack/ops"), {})

    # WHEN two are awaited, THEN it gives up with what it saw
    with pytest.raises(TimeoutError, match="1 of 2 requests to /slack/ arrived"):
        sink.wait_for(2, "/slack/", timeout=0.05)


def test_stop_frees_the_port_and_fail_checks_its_arguments() -> None:
    # GIVEN a sink used as a context manager
    with HttpSink() as sink:
        port = sink.port
        assert sink.url("/x") == f"http://127.0.0.1:{port}/x"
        with pytest.raises(ValueError, match="times must be"):
            sink.fail("/x", times=0)

    # THEN once stopped it has no address any more
    with pytest.raises(RuntimeError, match="not started"):
        _ = sink.port
