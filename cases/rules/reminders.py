"""RM-1..5: reminder stages and recipients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cases.rules.base import add_months, implements
from cases.rules.choices import RecipientChannel, ReminderStage
from cases.rules.parameters import Parameters

# --- RM: reminders ------------------------------------------------------------------------


@dataclass(frozen=True)
class DueStages:
    send: str | None
    superseded: list[str]


@implements("RM-5")
def stage_day(end: dt.date, stage: str) -> dt.date:
    """RM-5: a stage of N days is due N days before the end date; expiry on the end."""
    if stage == ReminderStage.EXPIRED:
        return end
    return end - dt.timedelta(days=int(stage))


@implements("RM-1", "RM-3", "RM-5")
def due_stages(
    *, end: dt.date, stages_days: Sequence[int], today: dt.date, done: Iterable[str]
) -> DueStages:
    """RM-1/RM-3/RM-5: which stage to send today, and which earlier ones it supersedes.

    Every stage whose day has come and that was not yet handled is due; only the latest
    is sent, the earlier ones are recorded as superseded. Expiry is the latest stage.
    """
    handled = set(done)
    order = [str(d) for d in sorted(stages_days, reverse=True)] + [ReminderStage.EXPIRED]
    due = [s for s in order if s not in handled and stage_day(end, s) <= today]
    if not due:
        return DueStages(None, [])
    return DueStages(due[-1], due[:-1])


@implements("RM-2")
def lock_lift_day(start: dt.date, params: Parameters) -> dt.date:
    """RM-2: the day a long-term filing's change lock lifts (FL-4)."""
    return add_months(start, params.long_term_lock_months)


@dataclass(frozen=True)
class Recipient:
    """Who a reminder goes to, and how (a Delivery row is made for each)."""

    channel: RecipientChannel
    address: str  # user id, e-mail address or phone number


@implements("RM-4")
def reminder_recipients(
    *, clerks: Sequence[tuple[int, str]], patient_phone: str
) -> list[Recipient]:
    """RM-4: every clerk of the patient's bureau (portal inbox, and e-mail where they
    have an address) and the patient (SMS, where a phone number is recorded)."""
    recipients = [Recipient(RecipientChannel.INBOX, str(user_id)) for user_id, _ in clerks]
    recipients += [Recipient(RecipientChannel.EMAIL, email) for _, email in clerks if email]
    if patient_phone:
        recipients.append(Recipient(RecipientChannel.SMS, patient_phone))
    return recipients
