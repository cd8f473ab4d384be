"""The policy-scenario runner (../shared/SCENARIOS.md).

A scenario is a YAML story: facts, created through the portal's own services, then
actions with the outcome POLICY.md demands. Each scenario runs in its own transaction,
rolled back at the end, so it leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from cases import facts, rules
from cases.models import Filing, MoveRequest, Patient, Qualification, Selection, TransferLetter
from cases.reminders import run_job
from cases.services import PolicyRefusal
from cases.services.filings import filing_cancel, filing_create
from cases.services.letters import letter_issue
from cases.services.moves import move_accept, move_out, move_refuse, move_request
from cases.services.patients import patient_register
from cases.services.qualifications import (
    qualification_apply,
    qualification_approve,
    qualification_reject,
)
from cases.services.selections import selection_add, selection_end
from cases.settlement import settlement_check
from institutions.models import Disease, Institution, NetworkedSettlement, PolicyParameter, Region
from institutions.parameters import clean_value
from portal.models import Bureau, Role, User
from portal.services import user_sync_role

Referenced = TypeVar("Referenced")

INSURANCE = {"employee": "310", "resident": "390"}

# Every key SCENARIOS.md allows; any other is an ERROR naming it (nothing is ignored).
SCENARIO_KEYS = {"name", "today", "given", "when"}
EVIDENCE = {"diagnosis_date", "diagnosis_doctor", "diagnosis_institution"}
FILING_KEYS = {
    "ref",
    "patient",
    "type",
    "subtype",
    "destination",
    "start",
    "end",
    "filed_on",
    "transfer_letter",
    "materials",
    "channel",
    "agent",
}
LETTER_KEYS = {
    "ref",
    "patient",
    "disease",
    "issuer",
    "receiver",
    "reason",
    "issued_on",
    "serial",
    "reason_text",
}
PATIENT_KEYS = {"ref", "id_number", "name", "insurance", "region", "cert_type"}
FACT_KEYS = {
    "parameters": {"name", "value", "from"},
    "diseases": {
        "code",
        "name",
        "cross_province",
        "validity",
        "exclusive_with",
        "for_employee",
        "for_resident",
        "active",
    },
    "institutions": {
        "code",
        "name",
        "region",
        "level",
        "designated",
        "transfer_issuer",
        "networked",
        "cross_province_networked",
        "designated_from",
        "designated_until",
    },
    "patients": PATIENT_KEYS,
    "qualifications": {"ref", "patient", "disease", "approved_on", *EVIDENCE},
    "filings": FILING_KEYS,
    "transfer_letters": LETTER_KEYS,
    "selections": {"ref", "patient", "institution", "start"},
}
ACTION_KEYS = {
    "register_patient": PATIENT_KEYS,
    "check_settlement": {"patient", "institution", "disease", "date"},
    "select_institution": {"patient", "institution", "start", "ref"},
    "end_selection": {"selection", "date", "reason"},
    "apply_qualification": {"patient", "disease", "date", "ref", *EVIDENCE},
    "approve_qualification": {"qualification", "date", "same_clerk"},
    "reject_qualification": {"qualification", "date", "reason"},
    "file": FILING_KEYS,
    "cancel_filing": {"filing", "date"},
    "issue_transfer_letter": LETTER_KEYS,
    "run_reminders": {"date"},
    "request_move": {"patient", "region", "effective", "voucher", "date", "ref"},
    "accept_move": {"move", "date"},
    "refuse_move": {"move", "date", "reason"},
    "move_out": {"patient", "date"},
}
EXPECT_KEYS = {
    "check_settlement": {"outcome", "rules"},
    "run_reminders": {"reminders", "expired"},
    "register_patient": {"ok", "rules", "id_number"},
}
AGENT_KEYS = {"name", "cert_number", "phone", "relation"}
REMINDER_KEYS = {"filing", "transfer_letter", "qualification", "stage"}


def only_known(where: str, item: Any, allowed: Iterable[str]) -> dict[str, Any]:
    """The mapping ``item``, if every key is one SCENARIOS.md allows there."""
    if not isinstance(item, dict):
        raise ScenarioError(f"{where}: expected a mapping, got {item!r}")
    unknown = sorted(str(k) for k in item if k not in set(allowed))
    if unknown:
        raise ScenarioError(f"{where}: unknown key {', '.join(unknown)}")
    return item


class ScenarioError(Exception):
    """A file or fact that cannot be loaded: the scenario is an ERROR."""


@dataclass
class Result:
    name: str
    status: str  # PASS | FAIL | ERROR
    detail: str = ""

    def line(self) -> str:
        return f"{self.status} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass
class StepFailure(Exception):
    step: int
    expected: str
    happened: str


# --- loading ------------------------------------------------------------------------------


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(path.rglob("*.yaml"))
        else:
            files.append(path)
    return files


def load_file(path: Path) -> tuple[list[dict[str, Any]], Result | None]:
    """The scenarios of one file, or an ERROR result for the file itself."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [], Result(str(path), "ERROR", f"cannot read: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), list):
        return [], Result(str(path), "ERROR", "no 'scenarios' list in file")
    scenarios = [s for s in data["scenarios"] if isinstance(s, dict)]
    if len(scenarios) != len(data["scenarios"]):
        return [], Result(str(path), "ERROR", "every scenario must be a mapping")
    return scenarios, None


def iter_scenarios(
    paths: Iterable[str | Path],
) -> Iterator[tuple[Path, dict[str, Any] | None, Result | None]]:
    for path in scenario_files(paths):
        scenarios, error = load_file(path)
        if error:
            yield path, None, error
        for scenario in scenarios:
            yield path, scenario, None


# --- values -------------------------------------------------------------------------------


def as_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError(f"{what}: not a date: {value!r}") from None


def as_code(value: Any) -> str:
    """Codes are strings; a division code may be written as a bare number."""
    return str(value).strip()


# --- the runner ---------------------------------------------------------------------------


@dataclass
class Run:
    scenario: dict[str, Any]
    today: dt.date
    refs: dict[str, Any] = field(default_factory=dict)

    # staff and places the runner provides

    def bureau_for(self, county_code: str) -> Bureau:
        county = Region.objects.filter(code=county_code).first()
        if county is None:
            raise ScenarioError(f"region {county_code} is not loaded (load_reference_data)")
        bureau, _ = Bureau.objects.get_or_create(
            county=county, defaults={"name": f"{county.full_name}医疗保障局（情景）"}
        )
        return bureau

    def staff(self, bureau: Bureau, role: str) -> User:
        username = f"scenario_{role}_{bureau.county_id}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create(username=username, role=role, bureau=bureau)

            user_sync_role(user=user)
        return user

    def clerk(self, patient: Patient) -> User:
        patient.refresh_from_db()  # a move may have changed its bureau
        return self.staff(patient.bureau, Role.CLERK)

    def reviewer(self, patient: Patient) -> User:
        return self.staff(patient.bureau, Role.REVIEWER)

    def diagnosing_institution(self, patient: Patient) -> Institution:
        """Complete evidence by default: a designated hospital in the patient's county."""
        code = f"H{patient.region_id}99999"
        institution, _ = Institution.objects.get_or_create(
            code=code,
            defaults={"name": "情景默认诊断医院", "location_id": patient.region_id, "level": 2},
        )
        return institution

    # refs

    def ref(self, name: Any) -> Any:
        if name not in self.refs:
            raise ScenarioError(f"unknown ref {name!r}")
        return self.refs[name]

    def typed_ref(self, name: Any, kind: type[Referenced]) -> Referenced:
        value = self.ref(name)
        if not isinstance(value, kind):
            raise ScenarioError(f"ref {name!r} is not a {kind.__name__}")
        return value

    def remember(self, ref: Any, value: Any) -> None:
        if ref is None:
            return
        if ref in self.refs:
            raise ScenarioError(f"ref {ref!r} is used twice")
        self.refs[ref] = value

    def patient(self, ref: Any) -> Patient:
        patient = self.typed_ref(ref, Patient)
        patient.refresh_from_db()  # as a request reads it: a move may have changed it
        return patient

    def institution(self, code: Any) -> Institution:
        institution = Institution.objects.filter(code=as_code(code)).first()
        if institution is None:
            raise ScenarioError(f"institution {code} is not given")
        return institution

    def disease(self, code: Any) -> Disease:
        disease = Disease.objects.filter(code=as_code(code)).first()
        if disease is None:
            raise ScenarioError(f"disease {code} is not in the catalogue")
        return disease

    def region(self, code: Any) -> Region | None:
        return Region.objects.filter(code=as_code(code)).first()


# --- facts --------------------------------------------------------------------------------


def given_diseases(run: Run, items: list[dict[str, Any]]) -> None:
    for item in items:
        validity = str(item.get("validity", "open"))
        months = None
        if validity.startswith("months:"):
            validity, months = "months", int(validity.split(":", 1)[1])
        disease, _ = Disease.objects.update_or_create(
            code=as_code(item["code"]),
            defaults={
                "name": item.get("name", item["code"]),
                "cross_province": bool(item.get("cross_province", False)),
                "validity": validity,
                "validity_months": months,
                "active": bool(item.get("active", True)),
                "for_employee": bool(item.get("for_employee", True)),
                "for_resident": bool(item.get("for_resident", True)),
            },
        )
        disease.full_clean()
        if "exclusive_with" in item:
            disease.exclusive_with.set(
                [run.disease(code) for code in item.get("exclusive_with") or []]
            )


def given_institutions(run: Run, items: list[dict[str, Any]]) -> None:
    for item in items:
        code = as_code(item["code"])
        values = {
            "name": item.get("name", code),
            "location_id": as_code(item.get("region", code[1:7])),
            "level": int(item.get("level", 2)),
            "designated": bool(item.get("designated", True)),
            "designated_from": item.get("designated_from"),
            "designated_until": item.get("designated_until"),
            "transfer_issuer": bool(item.get("transfer_issuer", False)),
        }
        institution = Institution.objects.filter(code=code).first() or Institution(code=code)
        for name, value in values.items():
            setattr(institution, name, value)
        try:
            institution.full_clean()
        except Exception as exc:
            raise ScenarioError(f"institution {code}: {exc}") from exc
        institution.save()
        NetworkedSettlement.objects.filter(institution=institution).delete()
        in_region = {as_code(c) for c in item.get("networked") or []}
        cross = {as_code(c) for c in item.get("cross_province_networked") or []}
        for disease_code in sorted(in_region | cross):
            NetworkedSettlement.objects.create(
                institution=institution,
                disease=run.disease(disease_code),
                in_region=disease_code in in_region,
                cross_province=disease_code in cross,
            )


def register(run: Run, item: dict[str, Any], day: dt.date) -> Patient:
    region = as_code(item["region"])
    bureau = run.bureau_for(region)
    insurance = INSURANCE.get(str(item.get("insurance", "resident")), str(item.get("insurance")))
    with facts.as_of(day):
        registration = patient_register(
            by=run.staff(bureau, Role.CLERK),
            cert_type=str(item.get("cert_type", "resident_id")),
            cert_number=as_code(item["id_number"]),
            name=str(item.get("name", "情景参保人")),
            insurance_type=insurance,
            region_code=region,
            today=day,
        )
    return registration.patient


def apply(
    run: Run,
    patient: Patient,
    disease: Disease,
    day: dt.date,
    evidence: dict[str, Any] | None = None,
) -> Qualification:
    """Complete evidence by default; a scenario may give diagnosis_date,
    diagnosis_doctor or diagnosis_institution to test QL-5."""
    evidence = evidence or {}
    institution = (
        run.institution(evidence["diagnosis_institution"])
        if evidence.get("diagnosis_institution")
        else run.diagnosing_institution(patient)
    )
    with facts.as_of(day):
        return qualification_apply(
            by=run.clerk(patient),
            patient=patient,
            disease=disease,
            applied_on=day,
            diagnosis_institution=institution,
            diagnosis_date=as_date(evidence["diagnosis_date"], "diagnosis_date")
            if "diagnosis_date" in evidence
            else day,
            diagnosis_doctor=str(evidence.get("diagnosis_doctor", "情景医师")),
        )


def approve(run: Run, qualification: Qualification, day: dt.date, same_clerk: bool = False) -> None:
    patient = qualification.patient
    by = qualification.recorded_by if same_clerk else run.reviewer(patient)
    with facts.as_of(day):
        qualification_approve(by=by, qualification=qualification, decided_on=day)


def file(run: Run, item: dict[str, Any]) -> Filing:
    patient = run.patient(item["patient"])
    start = as_date(item["start"], "start")
    filed_on = as_date(item.get("filed_on", start), "filed_on")
    subtype = str(item.get("subtype", ""))
    letter = (
        run.typed_ref(item["transfer_letter"], TransferLetter)
        if item.get("transfer_letter")
        else None
    )
    materials = item.get("materials")
    if materials is None:
        materials = rules.materials_for(subtype)
    with facts.as_of(filed_on):
        return filing_create(
            by=run.clerk(patient),
            patient=patient,
            type=str(item.get("type", "")),
            subtype=subtype,
            destination=run.region(item.get("destination", "")),
            start=start,
            end=as_date(item["end"], "end") if item.get("end") else None,
            filed_on=filed_on,
            channel=str(item.get("channel", "window")),
            agent=agent_of(item.get("agent")),
            materials=materials,
            transfer_letter=letter,
        )


def agent_of(item: dict[str, Any] | None) -> rules.Agent | None:
    if not item:
        return None
    only_known("agent", item, AGENT_KEYS)
    return rules.Agent(
        str(item.get("name", "")),
        str(item.get("cert_number", "")),
        str(item.get("phone", "")),
        str(item.get("relation", "")),
    )


def issue_letter(run: Run, item: dict[str, Any]) -> TransferLetter:
    patient = run.patient(item["patient"])
    day = as_date(item["issued_on"], "issued_on")
    with facts.as_of(day):
        return letter_issue(
            by=run.clerk(patient),
            patient=patient,
            disease=run.disease(item["disease"]),
            issuer=run.institution(item["issuer"]),
            receiver=run.institution(item["receiver"]),
            reason=str(item.get("reason", "")),
            reason_text=str(item.get("reason_text", "")),
            issued_on=day,
            serial=str(item.get("serial", "")),
        )


def select(run: Run, item: dict[str, Any]) -> Selection:
    patient = run.patient(item["patient"])
    start = as_date(item["start"], "start")
    with facts.as_of(start):
        return selection_add(
            by=run.clerk(patient),
            patient=patient,
            institution=run.institution(item["institution"]),
            start=start,
        ).selection


def given_parameters(items: list[dict[str, Any]]) -> None:
    """A parameter value in force from a date (POLICY.md, Parameters)."""
    for item in items:
        key = str(item.get("name", ""))
        try:
            value = clean_value(key, item.get("value"))
        except ValidationError as exc:
            raise ScenarioError(f"parameter {key}: {'; '.join(exc.messages)}") from None
        PolicyParameter.objects.update_or_create(
            key=key,
            valid_from=as_date(item.get("from"), "from"),
            defaults={"value": value, "note": "情景"},
        )


def check_keys(scenario: dict[str, Any]) -> None:
    unknown = sorted(
        str(k) for k in scenario if k not in SCENARIO_KEYS and not str(k).startswith("x-")
    )
    if unknown:
        raise ScenarioError(f"unknown key {', '.join(unknown)}")
    given = scenario.get("given") or {}
    only_known("given", given, FACT_KEYS)
    for kind, allowed in FACT_KEYS.items():
        for item in given.get(kind) or []:
            only_known(f"given.{kind}", item, allowed)
            if kind == "filings" and item.get("agent") is not None:
                only_known("given.filings.agent", item["agent"], AGENT_KEYS)


def create_facts(run: Run, given: dict[str, Any]) -> None:
    given_parameters(given.get("parameters") or [])
    given_diseases(run, given.get("diseases") or [])
    given_institutions(run, given.get("institutions") or [])
    for item in given.get("patients") or []:
        run.remember(item.get("ref"), register(run, item, run.today))
    for item in given.get("qualifications") or []:
        patient = run.patient(item["patient"])
        day = as_date(item["approved_on"], "approved_on")
        qualification = apply(run, patient, run.disease(item["disease"]), day, item)
        approve(run, qualification, day)
        run.remember(item.get("ref"), qualification)
    for item in given.get("filings") or []:
        run.remember(item.get("ref"), file(run, item))
    for item in given.get("transfer_letters") or []:
        run.remember(item.get("ref"), issue_letter(run, item))
    for item in given.get("selections") or []:
        run.remember(item.get("ref"), select(run, item))


# --- actions ------------------------------------------------------------------------------


def _remembered(run: Run, args: dict[str, Any], record: Any) -> Any:
    run.remember(args.get("ref"), record)
    return record


def _check_settlement(run: Run, args: dict[str, Any]) -> Any:
    day = as_date(args["date"], "date")
    with facts.as_of(day):
        return settlement_check(
            patient=run.patient(args["patient"]),
            institution=run.institution(args["institution"]),
            disease=run.disease(args["disease"]),
            day=day,
        )


def _end_selection(run: Run, args: dict[str, Any]) -> Any:
    day = as_date(args["date"], "date")
    selection = run.typed_ref(args["selection"], Selection)
    with facts.as_of(day):
        return selection_end(
            by=run.clerk(selection.patient),
            selection=selection,
            end=day,
            reason=str(args.get("reason", "")),
        )


def _apply_qualification(run: Run, args: dict[str, Any]) -> Any:
    day = as_date(args["date"], "date")
    patient, disease = run.patient(args["patient"]), run.disease(args["disease"])
    return _remembered(run, args, apply(run, patient, disease, day, args))


def _approve_qualification(run: Run, args: dict[str, Any]) -> Any:
    qualification = run.typed_ref(args["qualification"], Qualification)
    approve(run, qualification, as_date(args["date"], "date"), bool(args.get("same_clerk")))
    return qualification


def _reject_qualification(run: Run, args: dict[str, Any]) -> Any:
    qualification = run.typed_ref(args["qualification"], Qualification)
    day = as_date(args["date"], "date")
    with facts.as_of(day):
        return qualification_reject(
            by=run.reviewer(qualification.patient),
            qualification=qualification,
            decided_on=day,
            reason=str(args.get("reason", "")),
        )


def _cancel_filing(run: Run, args: dict[str, Any]) -> Any:
    filing = run.typed_ref(args["filing"], Filing)
    day = as_date(args["date"], "date")
    with facts.as_of(day):
        return filing_cancel(
            by=run.clerk(filing.patient), filing=filing, day=day, reason="情景取消"
        )


def _run_reminders(run: Run, args: dict[str, Any]) -> Any:
    day = as_date(args["date"], "date")
    with facts.as_of(day):
        return run_job(day, keep=True)


def _request_move(run: Run, args: dict[str, Any]) -> Any:
    day = as_date(args["date"], "date") if "date" in args else run.today
    county = as_code(args["region"])
    region = run.region(county)
    with facts.as_of(day):
        move = move_request(
            by=run.staff(run.bureau_for(county), Role.CLERK),
            patient=run.patient(args["patient"]),
            region=region,
            effective=as_date(args["effective"], "effective"),
            voucher=str(args.get("voucher", "")),
        )
    return _remembered(run, args, move)


def _accept_move(run: Run, args: dict[str, Any]) -> Any:
    move = run.typed_ref(args["move"], MoveRequest)
    day = as_date(args["date"], "date")
    with facts.as_of(day):
        return move_accept(by=run.staff(move.from_bureau, Role.CLERK), move=move, day=day)


def _refuse_move(run: Run, args: dict[str, Any]) -> Any:
    move = run.typed_ref(args["move"], MoveRequest)
    day = as_date(args["date"], "date")
    with facts.as_of(day):
        return move_refuse(
            by=run.staff(move.from_bureau, Role.CLERK),
            move=move,
            day=day,
            reason=str(args.get("reason", "")),
        )


def _move_out(run: Run, args: dict[str, Any]) -> Any:
    patient = run.patient(args["patient"])
    day = as_date(args["date"], "date")
    with facts.as_of(day):
        return move_out(by=run.clerk(patient), patient=patient, day=day)


# Each action of SCENARIOS.md: (run, its arguments) -> its record or answer.
HANDLERS: dict[str, Callable[[Run, dict[str, Any]], Any]] = {
    "register_patient": lambda run, args: _remembered(run, args, register(run, args, run.today)),
    "check_settlement": _check_settlement,
    "select_institution": lambda run, args: _remembered(run, args, select(run, args)),
    "end_selection": _end_selection,
    "apply_qualification": _apply_qualification,
    "approve_qualification": _approve_qualification,
    "reject_qualification": _reject_qualification,
    "file": lambda run, args: _remembered(run, args, file(run, args)),
    "cancel_filing": _cancel_filing,
    "issue_transfer_letter": lambda run, args: _remembered(run, args, issue_letter(run, args)),
    "run_reminders": _run_reminders,
    "request_move": _request_move,
    "accept_move": _accept_move,
    "refuse_move": _refuse_move,
    "move_out": _move_out,
}
ACTIONS = tuple(HANDLERS)


def perform(run: Run, action: str, args: dict[str, Any]) -> Any:
    """Run one action; returns its record (or answer). Refusals raise PolicyRefusal."""
    handler = HANDLERS.get(action)
    if handler is None:
        raise ScenarioError(f"unknown action {action!r}")
    return handler(run, args)


def _cited(refusal: PolicyRefusal) -> str:
    return ", ".join(refusal.rules)


def check_step(run: Run, number: int, step: dict[str, Any]) -> None:
    actions = [key for key in step if key != "expect"]
    if len(actions) != 1:
        raise ScenarioError(f"step {number}: expected one action of {', '.join(ACTIONS)}")
    action = actions[0]
    if action not in ACTIONS:
        raise ScenarioError(f"step {number}: unknown action {action}")
    args = only_known(f"step {number}: {action}", step[action] or {}, ACTION_KEYS[action])
    expect = only_known(
        f"step {number}: expect",
        step.get("expect") or {},
        EXPECT_KEYS.get(action, {"ok", "rules"}),
    )
    for item in expect.get("reminders") or []:
        only_known(f"step {number}: expect.reminders", item, REMINDER_KEYS)

    if action == "check_settlement":
        answer = perform(run, action, args)
        failed = [v.rule for v in answer.failed]
        want = str(expect.get("outcome", ""))
        missing = [r for r in expect.get("rules") or [] if r not in failed]
        if answer.outcome != want or missing:
            raise StepFailure(
                number,
                f"outcome {want}"
                + (f" citing {', '.join(expect['rules'])}" if expect.get("rules") else ""),
                f"outcome {answer.outcome} citing [{', '.join(failed)}]",
            )
        return

    if action == "run_reminders":
        report = perform(run, action, args)
        _check_reminders(run, number, expect, report)
        return

    want_ok = bool(expect.get("ok", True))
    try:
        with transaction.atomic():
            done = perform(run, action, args)
    except PolicyRefusal as refusal:
        if want_ok:
            raise StepFailure(number, "ok", f"refused: {refusal}") from None
        missing = [r for r in expect.get("rules") or [] if r not in refusal.rules]
        if missing:
            raise StepFailure(
                number,
                f"refusal citing {', '.join(expect['rules'])}",
                f"refusal citing {_cited(refusal)}",
            ) from None
        return
    if not want_ok:
        raise StepFailure(
            number, f"refusal citing {', '.join(expect.get('rules') or ['any rule'])}", "ok"
        )
    if "id_number" in expect and done.cert_number != as_code(expect["id_number"]):
        raise StepFailure(
            number, f"stored {as_code(expect['id_number'])}", f"stored {done.cert_number}"
        )


def _check_reminders(run: Run, number: int, expect: dict[str, Any], report: Any) -> None:
    names = {id(value): name for name, value in run.refs.items()}
    by_key = {
        (type(value).__name__, value.pk): name
        for name, value in run.refs.items()
        if isinstance(value, (Filing, TransferLetter, Qualification))
    }

    def record_ref(reminder: Any) -> tuple[str, str] | None:
        for key, model in (
            ("filing", Filing),
            ("transfer_letter", TransferLetter),
            ("qualification", Qualification),
        ):
            record_id = getattr(reminder, f"{key}_id")
            if record_id and (model.__name__, record_id) in by_key:
                return key, by_key[(model.__name__, record_id)]
        return None

    got = set()
    for reminder in report.to_send:
        found = record_ref(reminder)
        if found:
            got.add((found[0], found[1], str(reminder.stage)))
    want = set()
    for item in expect.get("reminders") or []:
        key = next((k for k in ("filing", "transfer_letter", "qualification") if k in item), None)
        if key is None:
            raise ScenarioError(
                f"step {number}: a reminder names filing, transfer_letter or qualification"
            )
        want.add((key, str(item[key]), str(item.get("stage"))))

    model_of = {"filing": Filing, "transfer_letter": TransferLetter, "qualification": Qualification}
    got_expired = {
        by_key[(model_of[key].__name__, pk)]
        for key, pks in report.expired.items()
        for pk in pks
        if (model_of[key].__name__, pk) in by_key
    }
    want_expired = {str(r) for r in expect.get("expired") or []}
    del names
    if got != want or got_expired != want_expired:

        def show(items: set[tuple[str, str, str]]) -> str:
            return ", ".join(f"{k}:{r}@{s}" for k, r, s in sorted(items)) or "none"

        raise StepFailure(
            number,
            f"reminders [{show(want)}] expired [{', '.join(sorted(want_expired)) or 'none'}]",
            f"reminders [{show(got)}] expired [{', '.join(sorted(got_expired)) or 'none'}]",
        )


def run_scenario(scenario: dict[str, Any]) -> Result:
    name = str(scenario.get("name", "(unnamed)"))
    try:
        with transaction.atomic():
            try:
                check_keys(scenario)
                run = Run(scenario, as_date(scenario.get("today", facts.today()), "today"))
                try:
                    create_facts(run, scenario.get("given") or {})
                except PolicyRefusal as refusal:
                    raise ScenarioError(f"a fact breaks a rule: {refusal}") from refusal
                for number, step in enumerate(scenario.get("when") or [], start=1):
                    if not isinstance(step, dict):
                        raise ScenarioError(f"step {number} is not a mapping")
                    check_step(run, number, step)
            finally:
                transaction.set_rollback(True)
    except StepFailure as failure:
        return Result(name, "FAIL", f"step {failure.step}: {failure.expected} / {failure.happened}")
    except ScenarioError as error:
        return Result(name, "ERROR", str(error))
    except (KeyError, TypeError, ValueError) as error:
        return Result(name, "ERROR", f"{type(error).__name__}: {error}")
    return Result(name, "PASS")


def run_paths(paths: Iterable[str | Path]) -> Iterator[Result]:
    """Every scenario of the files and directories in ``paths``, run as it is read; a
    file that does not load is one ERROR result."""
    for _path, scenario, error in iter_scenarios(paths):
        if error is not None:
            yield error
        elif scenario is not None:
            yield run_scenario(scenario)


def summary(results: list[Result]) -> str:
    passed = sum(1 for r in results if r.status == "PASS")
    return f"{passed} passed, {len(results) - passed} failed"
