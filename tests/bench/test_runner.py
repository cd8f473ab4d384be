"""The benchmark's own arithmetic and report (the run itself is CI's `make bench`)."""

from __future__ import annotations

import argparse

from bench import runner


def test_percentiles_and_query_count():
    sample = runner.Sample(ms=[float(i) for i in range(1, 101)], queries=[6] * 99 + [9])
    assert sample.pct(50) == 50
    assert sample.pct(95) == 95
    assert sample.query_range == "6"  # the odd session renewal does not count


def test_report_marks_targets_at_the_largest_scale(monkeypatch):
    monkeypatch.setattr(runner, "machine", lambda: "测试机器")

    def result(patients, ms):
        r = runner.ScaleResult(patients, counts={"filings": patients // 3, "institutions": 1})
        for key in runner.LABELS:
            r.pages[key] = runner.Sample(ms=[ms] * 10, queries=[6] * 10)
        r.admin["cases/patient"] = runner.Sample(ms=[ms] * 5, queries=[8] * 5)
        r.stock["cases/patient"] = runner.Sample(ms=[ms * 40] * 5, queries=[9] * 5)
        r.locust = {
            "users": 50, "seconds": 30, "requests": 9000, "failures": 0,
            "rps": 300.0, "p50": 20.0, "p95": 80.0, "p99": 150.0,
        }  # fmt: skip
        r.reminders = [
            {"seconds": 14.0, "job_seconds": 12.0, "peak_mb": 150.0, "summary": "新提醒 1"},
            {"seconds": 4.0, "job_seconds": 2.0, "peak_mb": 140.0, "summary": "新提醒 0"},
            {"seconds": 5.0, "job_seconds": 3.0, "peak_mb": 140.0, "summary": "新提醒 1"},
        ]
        return r

    opts = argparse.Namespace(workers=4, samples=10, stock_samples=5, users=50, locust_seconds=30)
    text = runner.report([result(10_000, 5.0), result(3_000_000, 60.0)], opts, 0.0)
    assert "测试机器" in text
    assert "| 参保人页面 | ≤ 50 |" in text
    assert "60.0 / 60.0 ❌" in text  # 60 ms misses the 50 ms target at the largest scale
    assert "40×" in text
    assert "SQL 条数在各规模下相同：✅" in text
