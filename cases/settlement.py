"""The direct-settlement check (ST-1..7): a read, in a handful of queries."""

from __future__ import annotations

import datetime as dt

from cases import access, facts, rules
from cases.models import Patient, Qualification, Selection
from cases.rules import national as nx
from institutions.models import Disease, Institution
from institutions.parameters import parameters_on


def settlement_check(
    *, patient: Patient, institution: Institution, disease: Disease, day: dt.date
) -> rules.SettlementAnswer:
    """Can ``patient`` settle ``disease`` at ``institution`` on ``day`` directly?"""
    return settlement_answers(patient=patient, institution=institution, disease=disease, day=day)[0]


def settlement_answers(
    *, patient: Patient, institution: Institution, disease: Disease, day: dt.date
) -> tuple[rules.SettlementAnswer, nx.PlatformCheck]:
    """The check's answer, and the same as the platform's treatment check (2001) would
    report it: the fields a clerk compares with the platform's screen."""
    loaded = facts.require_institution(institution.pk)
    qualifications = access.under_patient(
        Qualification.objects.filter(disease=disease).select_related("disease"), patient
    )
    selections = access.under_patient(
        Selection.objects.filter(institution=loaded).select_related("institution"), patient
    )
    held = facts.qualification_facts(qualifications)
    answer = rules.check_settlement(
        day=day,
        disease=facts.disease_facts(disease),
        institution=facts.institution_facts(loaded),
        patient_prefecture=facts.patient_prefecture(patient, day),
        qualifications=held,
        selections=facts.selection_facts(selections),
        bases=facts.patient_bases(patient),
        params=parameters_on(day),
    )
    period = next((q.period for q in held if q.approved_on(day)), None)
    return answer, nx.platform_check(answer.outcome, period, answer.failed)
