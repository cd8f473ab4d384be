"""SL-1 holds under concurrent requests on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from cases.models import Selection
from cases.services import PolicyRefusal
from cases.services.selections import selection_add
from tests import factories

THREADS = 20


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_selections_end_with_at_most_three(clerk):
    patient = factories.patient(clerk)
    hospitals = [factories.institution(f"H451202{n:05d}") for n in range(1, THREADS + 1)]
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def add(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            # Half the threads race for the same institution, half for different ones.
            hospital = hospitals[0] if index % 2 else hospitals[index]
            selection_add(
                by=clerk, patient=patient, institution=hospital, start=dt.date(2025, 3, 1)
            )
            result = "ok"
        except PolicyRefusal as refusal:
            result = "refused:" + ",".join(sorted(set(refusal.rules)))
        except Exception as exc:
            result = f"error:{type(exc).__name__}:{exc}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == THREADS
    assert [o for o in outcomes if o.startswith("error")] == []
    assert outcomes.count("ok") == 3
    assert all(o == "ok" or o.startswith("refused:") for o in outcomes)
    active = Selection.objects.filter(patient=patient, end__isnull=True)
    assert active.count() == 3
    assert sorted(active.values_list("slot", flat=True)) == [1, 2, 3]
