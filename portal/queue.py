"""Enqueueing Celery tasks after the transaction commits, without letting a broker outage
break the request that asked for it.

A rolled-back transaction enqueues nothing (on_commit). If the broker cannot be reached,
the request still succeeds: the work is recorded in the database beforehand (a pending
Delivery, a ReminderCheck) and the periodic sweep enqueues it again once the broker is
back.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)

# Fail fast when the broker is down: the sweep picks the work up later.
PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}


def enqueue_now(task: Task[..., Any], *args: Any) -> bool:
    try:
        task.apply_async(args=args, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except Exception:  # the broker's errors vary by transport; all mean "not now"
        logger.warning("broker unavailable; %s%r left for the periodic sweep", task.name, args)
        return False
    return True


def enqueue_on_commit(task: Task[..., Any], *args: Any) -> None:
    transaction.on_commit(lambda: enqueue_now(task, *args))
