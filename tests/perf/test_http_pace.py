"""The HTTP bench's paced load: requests on a schedule drawn in advance, latency from it."""

from __future__ import annotations

import time

from service.bench.http_bench import _Pace


def test_a_saturating_client_sends_at_once():
    pace = _Pace(time.perf_counter(), None, seed=1)
    before = time.perf_counter()
    due = pace.next_due()
    assert before <= due <= time.perf_counter()


def test_a_paced_client_waits_for_its_scheduled_time():
    began = time.perf_counter()
    pace = _Pace(began, 0.01, seed=2)
    due = pace.next_due()
    assert due > began
    assert time.perf_counter() >= due  # slept until it was due


def test_a_late_client_is_charged_from_the_time_it_should_have_sent():
    """A slow answer that delays the next request counts against that request."""
    began = time.perf_counter()
    pace = _Pace(began, 0.001, seed=3)
    time.sleep(0.05)  # a slow answer to the previous request
    due = pace.next_due()
    assert due < time.perf_counter() - 0.03  # the schedule, not the moment it got round to it


def test_the_schedule_keeps_the_asked_rate():
    # A schedule begun long ago lies in the past: drawn without sleeping through it.
    began = time.perf_counter() - 10_000
    pace = _Pace(began, 0.5, seed=4)
    dues = [pace.next_due() for _ in range(2000)]
    assert dues[-1] < time.perf_counter()
    mean_gap = (dues[-1] - began) / len(dues)
    assert 0.45 < mean_gap < 0.55
