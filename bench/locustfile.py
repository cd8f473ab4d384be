"""50 simulated clerks for `make bench` (locust, loopback only).

Each simulated clerk works in their own county with the session `bench.fixtures`
issued, and does what a clerk does most: find a patient by ID number, name or pinyin
initials, open the patient's page, check direct settlement, look at the dashboard.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import urllib.parse
from zoneinfo import ZoneInfo

from locust import FastHttpUser, between, task

FIXTURES = json.loads(open(os.environ["BENCH_FIXTURES"], encoding="utf-8").read())  # noqa: SIM115
CLERKS = itertools.cycle(FIXTURES["clerks"])
TODAY = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def q(value: object) -> str:
    return urllib.parse.quote(str(value))


class Clerk(FastHttpUser):
    wait_time = between(0.05, 0.25)

    def on_start(self) -> None:
        self.data = next(CLERKS)
        self.headers = {"Cookie": f"sessionid={self.data['session']}"}
        self.rng = random.Random()  # noqa: S311 - load mix, not secrets

    def get(self, path: str, name: str) -> None:
        self.client.get(path, headers=self.headers, name=name)

    @task(3)
    def search_by_id(self) -> None:
        self.get(f"/patients/?s={q(self.rng.choice(self.data['search_id']))}", "search id")

    @task(2)
    def search_by_name(self) -> None:
        self.get(f"/patients/?q={q(self.rng.choice(self.data['search_name']))}", "search name")

    @task(1)
    def search_by_pinyin(self) -> None:
        self.get(f"/patients/?q={q(self.rng.choice(self.data['search_pinyin']))}", "search pinyin")

    @task(3)
    def patient_page(self) -> None:
        self.get(f"/patients/{self.rng.choice(self.data['patient_ids'])}/", "patient")

    @task(2)
    def settlement(self) -> None:
        check = self.rng.choice(self.data["settlement"])
        self.get(
            f"/settlement/?pid={check['pid']}&institution={q(check['institution'])}"
            f"&disease={check['disease']}&day={TODAY}",
            "settlement",
        )

    @task(1)
    def dashboard(self) -> None:
        self.get("/", "dashboard")
