"""SL-1 holds under concurrent requests and on every write path, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection

from cases.models import Selection
from cases.services import PolicyRefusal
from cases.services.selections import selection_add
from tests import factories

THREADS = 20


def race(work) -> list[str]:
    """Run ``work(index)`` in THREADS threads released together; each returns its outcome
    ("ok", "refused…" or "error…"), and its own database connection is closed."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            result = work(index)
        except Exception as exc:
            result = f"error:{type(exc).__name__}:{exc}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_concurrent_selections_end_with_at_most_three(clerk):
    patient = factories.patient(clerk)
    hospitals = [factories.institution(f"H451202{n:05d}") for n in range(1, THREADS + 1)]

    def add(index: int) -> str:
        # Half the threads race for the same institution, half for different ones.
        hospital = hospitals[0] if index % 2 else hospitals[index]
        try:
            selection_add(
                by=clerk, patient=patient, institution=hospital, start=dt.date(2025, 3, 1)
            )
        except PolicyRefusal as refusal:
            return "refused:" + ",".join(sorted(set(refusal.rules)))
        return "ok"

    outcomes = race(add)
    assert len(outcomes) == THREADS
    assert [o for o in outcomes if o.startswith("error")] == []
    assert outcomes.count("ok") == 3
    assert all(o == "ok" or o.startswith("refused:") for o in outcomes)
    active = Selection.objects.filter(patient=patient, end__isnull=True)
    assert active.count() == 3
    assert sorted(active.values_list("slot", flat=True)) == [1, 2, 3]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_counts_sl_1_on_a_write_path_without_the_service(clerk):
    """Twenty writers insert selections directly (no service, no lock of their own, each
    with its own slot number, as an import or a shell might): the database's count
    trigger lets exactly three be active at once, whatever the slot numbers say."""
    patient = factories.patient(clerk)
    hospitals = [factories.institution(f"H451202{n:05d}") for n in range(1, THREADS + 1)]

    def insert(index: int) -> str:
        try:
            Selection.objects.create(
                patient=patient,
                institution=hospitals[index],
                slot=index + 1,
                start=dt.date(2025, 3, 1) + dt.timedelta(days=index),
                scope="in_city",
                created_by=clerk,
            )
        except IntegrityError as exc:
            return "refused" if "SL-1" in str(exc) else f"error:{exc}"
        return "ok"

    outcomes = race(insert)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * (THREADS - 3)
    assert Selection.objects.filter(patient=patient).count() == 3


@pytest.mark.django_db
def test_the_database_count_follows_dates_and_the_limit_in_force(clerk):
    from django.db import transaction

    from institutions.models import PolicyParameter

    patient = factories.patient(clerk)
    hospitals = [factories.institution(f"H451202{n:05d}") for n in range(1, 6)]

    def insert(n, start, end=None, slot=None):
        with transaction.atomic():
            return Selection.objects.create(
                patient=patient,
                institution=hospitals[n],
                slot=slot or n + 1,
                start=start,
                end=end,
                scope="in_city",
                created_by=clerk,
            )

    d = dt.date
    insert(0, d(2025, 1, 1), d(2025, 4, 1))
    insert(1, d(2025, 4, 1))
    insert(2, d(2025, 1, 1))
    insert(3, d(2025, 1, 1), slot=4)  # two active on every day before it: allowed
    with pytest.raises(IntegrityError, match="SL-1"):
        insert(4, d(2025, 3, 1), slot=5)
    # Lengthening one so that three overlap it is refused too (an UPDATE path).
    first = Selection.objects.get(institution=hospitals[0])
    first.end = None
    with pytest.raises(IntegrityError, match="SL-1"), transaction.atomic():
        first.save()
    # A limit of 4 in force from the start date lets the fourth in.
    PolicyParameter.objects.create(
        key="MAX_SELECTED_INSTITUTIONS", value=4, valid_from=d(2025, 2, 1)
    )
    insert(4, d(2025, 3, 1), slot=5)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_move_accepted_while_both_bureaus_add_selections(clerk, other_clerk):
    """MV-4 and SL-1 under concurrency: one thread accepts 河池 → 柳州 while the old
    bureau's clerk and the new one add selections. Every write is accepted or refused
    with a rule (the old bureau's after the move, MV-1; the new bureau's before it), at
    most three selections apply on any day, and every selection that applies on or
    after the effective date has its scope for 柳州."""
    from cases.services.moves import move_accept, move_request
    from institutions.models import Region

    effective = dt.date(2026, 11, 1)
    patient = factories.patient(clerk, day=dt.date(2025, 1, 2))
    hospitals = [factories.institution(f"H451202{n:05d}") for n in range(1, THREADS + 1)]
    selection_add(by=clerk, patient=patient, institution=hospitals[0], start=dt.date(2025, 1, 10))
    move = move_request(
        by=other_clerk,
        patient=patient,
        region=Region.objects.get(code="450202"),
        effective=effective,
        voucher="GX1",
    )

    def work(index: int) -> str:
        try:
            if index == 0:
                move_accept(by=clerk, move=move)
            else:
                by = clerk if index % 2 else other_clerk
                start = effective + dt.timedelta(days=10 + index % 3)
                selection_add(by=by, patient=patient, institution=hospitals[index], start=start)
        except PolicyRefusal as refusal:
            return "refused:" + ",".join(sorted(set(refusal.rules)))
        return "ok"

    outcomes = race(work)
    assert [o for o in outcomes if o.startswith("error")] == []
    assert all(o == "ok" or o.startswith("refused:") for o in outcomes)
    patient.refresh_from_db()
    assert patient.bureau == other_clerk.bureau
    selections = list(Selection.objects.filter(patient=patient))
    for day in (effective, effective + dt.timedelta(days=10), effective + dt.timedelta(days=12)):
        applying = [s for s in selections if s.start <= day and (s.end is None or day < s.end)]
        assert len(applying) <= 3, day
        # 河池 hospitals are 区内异地 for a 柳州 patient from the effective date (MV-4).
        assert {s.scope for s in applying} <= {"in_region"}, day
