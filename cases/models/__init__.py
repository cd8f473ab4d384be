"""Case records (records.py) and reminders with their deliveries (notices.py)."""

from cases.models.imports import CaseImport, ImportRow
from cases.models.moves import InsuredPeriod, MoveRequest
from cases.models.national import CodeMapping, Reconciliation, ReconciliationItem
from cases.models.notices import Delivery, JobRun, Notification, Reminder, ReminderCheck, SmsOutbox
from cases.models.records import (
    DateRange,
    Filing,
    Patient,
    Qualification,
    ResidentIdValid,
    Selection,
    TransferLetter,
)
from cases.models.statistics import Figure, Measure, MonthlyReport, StatisticsRun

__all__ = [
    "CaseImport",
    "CodeMapping",
    "DateRange",
    "Delivery",
    "Figure",
    "Filing",
    "ImportRow",
    "InsuredPeriod",
    "JobRun",
    "Measure",
    "MonthlyReport",
    "MoveRequest",
    "Notification",
    "Patient",
    "Qualification",
    "Reconciliation",
    "ReconciliationItem",
    "Reminder",
    "ReminderCheck",
    "ResidentIdValid",
    "Selection",
    "SmsOutbox",
    "StatisticsRun",
    "TransferLetter",
]
