"""The import's fast path: a group of patients checked in memory and written with COPY.

``BatchWriter`` answers the engine's calls as ``ServiceWriter`` does — the same rules
from ``cases.rules``, with the same facts, in the same order, refusing with the same
violations — but reads each group's records once (a handful of queries for the whole
group) and keeps them up to date in memory as rows are accepted, instead of locking and
reading a patient's case for every row. What a group creates is written at the group's
end: records and their history with ``COPY``, ids reserved from the tables' sequences.
In a dry run nothing is written at all.

The database's own constraints (one registration per certificate, the selection slots,
no overlapping periods) still check every row written; if they refuse a group (a
concurrent write its reads did not see), the engine takes that group again through the
services. ``tests/cases/test_import_batch.py`` checks that both paths reach the same
outcome for every row and write the same records and history.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DataError, connection, models
from django.db.models import Count, Q
from django.db.models.functions import Left
from django.utils import timezone

from cases import access, facts, rules
from cases.imports.sheets import LETTERS, PATIENTS, CellError, parse_date, text
from cases.imports.writers import (
    Key,
    change_reason,
    check_given_letter_end,
    check_given_validity,
    filing_key,
    letter_keys,
    qualification_key,
    selection_key,
)
from cases.models import (
    Filing,
    InsuredPeriod,
    Patient,
    Qualification,
    Selection,
    TransferLetter,
)
from cases.services import PolicyRefusal, refuse_if, reminders_may_be_due
from cases.services.patients import name_pinyin
from institutions.models import Disease, Institution, Region
from institutions.parameters import parameters_on
from portal.models import Bureau, User

# Written in this order: what a record refers to goes in before it.
MODELS: tuple[type[models.Model], ...] = (
    Patient,
    InsuredPeriod,
    TransferLetter,
    Qualification,
    Filing,
    Selection,
)
RESERVE = 500  # ids taken from a sequence at a time
DRY_RUN_IDS = 10**15  # ids of a dry run's records: above any real one, never written


@dataclass
class Case:
    """One patient's records as the rules see them, kept current as rows are accepted."""

    patient: Patient
    qualifications: list[rules.QualificationFacts] = field(default_factory=list)
    selections: list[rules.SelectionFacts] = field(default_factory=list)
    filings: list[rules.FilingFacts] = field(default_factory=list)
    letters: list[TransferLetter] = field(default_factory=list)

    # The orders the services read them in (the models' Meta.ordering): a rule that
    # takes the first match finds the same record on both paths.
    def qualification_facts(self) -> list[rules.QualificationFacts]:
        return sorted(self.qualifications, key=lambda q: (-q.applied_on.toordinal(), -q.id))

    def selection_facts(self) -> list[rules.SelectionFacts]:
        return sorted(self.selections, key=lambda s: (s.slot, -s.period.start.toordinal()))

    def filing_facts(self) -> list[rules.FilingFacts]:
        return sorted(self.filings, key=lambda f: (-f.period.start.toordinal(), -f.id))

    def bases(self) -> list[rules.FilingFacts]:
        """Filings, then cross-province letters (facts.patient_bases)."""
        letters = sorted(self.letters, key=lambda x: (-x.issued_on.toordinal(), -x.pk))
        return self.filing_facts() + [
            basis for letter in letters if (basis := facts.letter_fact(letter)) is not None
        ]


class Ids:
    """Primary keys for new records: reserved from each table's sequence, a few hundred at
    a time, so that a record is known by its id before the group is written."""

    def __init__(self, *, apply: bool) -> None:
        self.apply = apply
        self.pools: dict[type[models.Model], list[int]] = defaultdict(list)
        self.dry = itertools.count(DRY_RUN_IDS)

    def take(self, model: type[models.Model]) -> int:
        if not self.apply:
            return next(self.dry)
        pool = self.pools[model]
        if not pool:
            table = model._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, RESERVE],
                )
                pool.extend(sorted((pk for (pk,) in cursor.fetchall()), reverse=True))
        return pool.pop()


class Serials:
    """TL-4's serials as the group's letters meet them: how many each county and day has
    issued (a generated serial numbers on from it), and whether a serial is taken. Read
    when the group's first letter is written, in two queries: the counts for every county
    and issue day the group's letter rows name, then which of the serials they could give
    (the given ones, and each count's next few) are taken."""

    def __init__(self) -> None:
        self.expected: dict[str, int] = defaultdict(int)  # prefix → letter rows naming it
        self.given: set[str] = set()
        self.issued: dict[str, int] = {}  # prefix → serials starting so
        self.taken: set[str] = set()
        self.checked: set[str] = set()  # known to be taken (in self.taken) or free
        self.read = False

    def expect(self, prefixes: Iterable[str], given: str) -> None:
        for prefix in prefixes:
            self.expected[prefix] += 1
        if given:
            self.given.add(given)

    def _read(self, prefixes: set[str], given: set[str], headroom: dict[str, int]) -> None:
        self.read = True
        prefixes -= set(self.issued)
        if prefixes:
            length = len(next(iter(prefixes)))
            wanted = Q()
            for prefix in prefixes:
                wanted |= Q(serial__startswith=prefix)  # an index range (varchar_pattern_ops)
            letters = access.across_bureaus(TransferLetter.objects.filter(wanted), "TL-4 serials")
            counted = dict(
                letters.annotate(prefix=Left("serial", length))
                .values_list("prefix")
                .annotate(n=Count("pk"))
                .values_list("prefix", "n")
            )
            for prefix in prefixes:
                self.issued[prefix] = counted.get(prefix, 0)
        candidates = set(given)
        for prefix in prefixes:
            first = self.issued[prefix] + 1
            candidates |= {f"{prefix}{n:03d}" for n in range(first, first + headroom[prefix])}
        candidates -= self.checked
        if candidates:
            letters = TransferLetter.objects.filter(serial__in=candidates)
            found = access.across_bureaus(letters, "TL-4 serials").values_list("serial", flat=True)
            self.taken.update(found)
            self.checked |= candidates

    def _ensure(self) -> None:
        if not self.read:
            self._read(set(self.expected), set(self.given), self.expected)

    def count(self, prefix: str) -> int:
        """How many serials start with ``prefix`` (rules.next_serial's count)."""
        self._ensure()
        if prefix not in self.issued:  # a county or day the rows did not name
            self._read({prefix}, set(), {prefix: 1})
        return self.issued[prefix]

    def is_taken(self, serial: str) -> bool:
        self._ensure()
        if serial not in self.checked:
            self._read(set(), {serial}, {})
        return serial in self.taken

    def exists(self, serial: str) -> None:
        """A letter already there has ``serial`` (counted by the read, if it comes)."""
        self.taken.add(serial)
        self.checked.add(serial)

    def add(self, serial: str) -> None:
        """A letter written with ``serial``: it is taken, and counts for its prefixes."""
        self.taken.add(serial)
        self.checked.add(serial)
        for prefix in self.issued:
            if serial.startswith(prefix):
                self.issued[prefix] += 1


def storable(instance: models.Model) -> None:
    """What the database would refuse on save: text longer than its column, or a NUL."""
    for f in instance._meta.concrete_fields:
        value = getattr(instance, f.attname)
        too_long = f.max_length is not None and len(str(value)) > f.max_length
        if isinstance(value, str) and ("\x00" in value or too_long):
            raise DataError(f"{f.name} cannot be stored")


class History:
    """History entries as simple-history writes them, one row per save."""

    def __init__(self) -> None:
        self.rows: dict[type[models.Model], list[tuple[Any, ...]]] = defaultdict(list)
        self._fields: dict[type[models.Model], list[models.Field[Any, Any]]] = {}

    def fields(self, model: type[models.Model]) -> list[models.Field[Any, Any]]:
        """The historical table's fields but its own key (the sequence gives it)."""
        if model not in self._fields:
            historical = model.history.model  # type: ignore[attr-defined]
            self._fields[model] = [
                f for f in historical._meta.concrete_fields if f.attname != "history_id"
            ]
        return self._fields[model]

    def add(self, instance: models.Model, kind: str, by: User, own_reason: str = "") -> None:
        model = type(instance)
        special = {
            "history_date": timezone.now(),
            "history_change_reason": change_reason(own_reason) or None,
            "history_type": kind,
            "history_user_id": by.pk,
        }
        self.rows[model].append(
            tuple(
                special[f.attname] if f.attname in special else getattr(instance, f.attname)
                for f in self.fields(model)
            )
        )


def copy_in(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
    # psycopg's own COPY, its errors as Django's (IntegrityError, DataError).
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)


class BatchWriter:
    """The engine's writer for a group at a time (see the module's docstring)."""

    def __init__(
        self, *, apply: bool, user: User, reviewer: User, bureau: Bureau, lookups: Any
    ) -> None:
        self.apply, self.user, self.reviewer, self.bureau = apply, user, reviewer, bureau
        self.regions: dict[str, Region] = lookups.regions
        self.lookups = lookups
        self.ids = Ids(apply=apply)
        self.institutions: dict[int, rules.InstitutionFacts] = {}
        self._reset()

    def _reset(self) -> None:
        self.cases: dict[int, Case] = {}
        self.spans: dict[int, list[rules.InsuredSpan]] = defaultdict(list)
        self.by_certificate: dict[tuple[str, str], Patient] = {}
        self.looked_up: set[str] = set()
        self.serials = Serials()
        self.known: set[Key] = set()
        self.created: dict[type[models.Model], list[models.Model]] = defaultdict(list)
        self.history = History()

    # --- a group's facts, read once -----------------------------------------------------------

    def start_group(
        self, patients: dict[str, Patient], rows: Sequence[Any]
    ) -> set[tuple[object, ...]]:
        """Read the group's records (and the natural keys of those there, returned)."""
        self._reset()
        for patient in patients.values():
            self.cases[patient.pk] = Case(patient)
        self._read_records(list(self.cases))
        numbers = {row.key for row in rows}
        numbers |= {
            rules.normalize_cert_number(row.cells.get("证件号码", ""))
            for row in rows
            if row.sheet == PATIENTS.name
        }
        self._read_registered(numbers)
        self._expect_serials(rows)
        return self.known

    def _read_records(self, ids: list[int]) -> None:
        if not ids:
            return

        def of(model: Any) -> Any:
            return access.under_patients(model.objects.all(), ids)

        known = self.known
        for period in of(InsuredPeriod):
            self.spans[period.patient_id].append(
                self._span(period.region_id, period.start, period.end)
            )
        for (
            pk,
            patient,
            disease_id,
            disease,
            status,
            applied_on,
            decided_on,
            valid_from,
            valid_until,
        ) in of(Qualification).values_list(
            "id",
            "patient_id",
            "disease_id",
            "disease__code",
            "status",
            "applied_on",
            "decided_on",
            "valid_from",
            "valid_until",
        ):
            if key := qualification_key(patient, disease_id, status, decided_on, applied_on):
                known.add(key)
            self.cases[patient].qualifications.append(
                rules.QualificationFacts(
                    id=pk,
                    disease=disease,
                    status=status,
                    applied_on=applied_on,
                    valid_from=valid_from,
                    valid_until=valid_until,
                )
            )
        for pk, patient, institution_id, institution, slot, start, end in of(Selection).values_list(
            "id", "patient_id", "institution_id", "institution__code", "slot", "start", "end"
        ):
            known.add(selection_key(patient, institution_id, start))
            self.cases[patient].selections.append(
                rules.SelectionFacts(
                    id=pk, institution=institution, slot=slot, period=rules.Period(start, end)
                )
            )
        for filing in of(Filing).only(
            "id", "patient_id", "type", "destination_id", "start", "end", "status"
        ):
            known.add(
                filing_key(filing.patient_id, filing.type, filing.destination_id, filing.start)
            )
            self.cases[filing.patient_id].filings.append(facts.filing_fact(filing))
        for letter in of(TransferLetter).select_related("receiver__location"):
            known |= letter_keys(
                letter.patient_id,
                letter.serial,
                letter.receiver_id,
                letter.issued_on,
                letter.disease_id,
            )
            self.cases[letter.patient_id].letters.append(letter)
            self.serials.exists(letter.serial)

    def _read_registered(self, numbers: set[str]) -> None:
        """Who holds the group's certificate numbers, at any bureau (ID-1)."""
        found = Patient.objects.filter(cert_number__in=numbers)
        for patient in access.across_bureaus(found, "import: ID-1"):
            self.by_certificate[patient.cert_type, patient.cert_number] = patient
        self.looked_up = numbers

    def _expect_serials(self, rows: Sequence[Any]) -> None:
        """The counties and issue days whose serials the group's letters may take (TL-4)."""
        letters = [row for row in rows if row.sheet == LETTERS.name]
        if not letters:
            return
        counties = {self.bureau.county_id} | {c.patient.region_id for c in self.cases.values()}
        for row in rows:
            if row.sheet == PATIENTS.name:
                try:
                    region = self.lookups.region(row.cells.get("参保地"), rule="", what="")
                except CellError:  # the row's own refusal, when it comes
                    continue
                if region is not None:
                    counties.add(region.code)
        for row in letters:
            try:
                day = parse_date(row.cells.get("开具日期", ""))
            except CellError:
                day = None
            prefixes = [rules.serial_prefix(c, day) for c in counties if c] if day else []
            self.serials.expect(prefixes, text(row.cells.get("编号", "")))

    # --- the engine's calls -------------------------------------------------------------------

    def registered(self, cert_type: str, number: str) -> Patient | None:
        if number not in self.looked_up:
            self._read_registered(self.looked_up | {number})
        return self.by_certificate.get((cert_type, number))

    def _institution(self, institution: Institution) -> tuple[Institution, rules.InstitutionFacts]:
        loaded = facts.require_institution(institution.pk)
        if institution.pk not in self.institutions:
            self.institutions[institution.pk] = facts.institution_facts(loaded)
        return loaded, self.institutions[institution.pk]

    def _case(self, patient: Patient) -> Case:
        if patient.pk not in self.cases:  # a patient the group's first read did not name
            self.cases[patient.pk] = Case(patient)
            self._read_records([patient.pk])
        return self.cases[patient.pk]

    def _span(self, county: str, start: dt.date | None, end: dt.date | None) -> rules.InsuredSpan:
        region = self.regions[county]
        return rules.InsuredSpan(county, region.prefecture_id or region.code, start, end)

    def _county(self, patient: Patient, day: dt.date) -> str:
        span = rules.insured_on(self.spans.get(patient.pk, []), day)
        return span.county if span is not None else patient.region_id

    def _prefecture(self, patient: Patient, day: dt.date) -> str:
        """The insured prefecture in force on ``day`` (MV-6), as facts.patient_prefecture."""
        span = rules.insured_on(self.spans.get(patient.pk, []), day)
        if span is not None:
            return span.prefecture
        region = self.regions[patient.region_id]
        return region.prefecture_id or region.code

    def _keep(self, instance: models.Model) -> None:
        self.created[type(instance)].append(instance)

    def register(
        self,
        *,
        cert_type: str,
        number: str,
        name: str,
        insurance_type: str,
        region: Region | None,
        phone: str,
        address: str,
    ) -> Patient:
        # As services.patients.patient_register.
        today = facts.today()
        phone = rules.normalize_phone(phone)
        given = rules.normalize_cert_number(number)
        number = rules.resident_number(cert_type, given)
        name = name.strip()
        region_code = (region.code if region else self.bureau.county_id or "").strip()
        found = self.regions.get(region_code)
        violations = rules.check_certificate(cert_type, number, today)
        violations += rules.check_patient(
            name=name,
            insurance_type=insurance_type,
            region_code=found.code if found else None,
            region_is_active_county=bool(
                found and found.active and found.level == Region.Level.COUNTY
            ),
            bureau_county=self.bureau.county_id,
            phone=phone,
        )
        if not violations:
            violations += rules.check_not_registered(
                registered=self.registered(cert_type, number) is not None
            )
        if violations or found is None:
            raise PolicyRefusal(violations)
        patient = Patient(
            id=self.ids.take(Patient),
            cert_type=cert_type,
            cert_number=number,
            name=name,
            insurance_type=insurance_type,
            region=found,
            bureau=self.bureau,
            phone=phone,
            address=address.strip()[:200],
            created_at=timezone.now(),
        )
        if cert_type == rules.CertType.RESIDENT_ID:
            patient.birth_date = rules.id_birth_date(number)
            patient.sex = rules.id_sex(number)
        patient.name_pinyin, patient.name_initials = name_pinyin(name)
        storable(patient)
        own = "ID-1：15位身份证号已按规则转换为18位登记" if number != given else ""
        self.history.add(patient, "+", self.user, own)
        self._keep(patient)
        period = InsuredPeriod(
            id=self.ids.take(InsuredPeriod), patient=patient, region=found, bureau=self.bureau
        )
        self.history.add(period, "+", self.user)
        self._keep(period)
        self.spans[patient.pk] = [self._span(found.code, None, None)]
        self.cases[patient.pk] = Case(patient)
        self.by_certificate[cert_type, number] = patient
        return patient

    def qualification(
        self,
        *,
        patient: Patient,
        disease: Disease,
        applied_on: dt.date,
        institution: Institution | None,
        diagnosed: dt.date | None,
        doctor: str,
        decided_on: dt.date | None,
        valid_until: dt.date | None,
    ) -> None:
        # As services.qualifications.qualification_apply, then _approve.
        case = self._case(patient)
        params = parameters_on(applied_on)
        existing = case.qualification_facts()
        described = facts.disease_facts(disease)
        violations = rules.check_application(
            disease=described,
            insurance_type=patient.insurance_type,
            applied_on=applied_on,
            diagnosis_date=diagnosed,
            diagnosis_institution=institution.code if institution else None,
            diagnosis_doctor=doctor,
            existing=existing,
            params=params,
            today=facts.today(),
            birth_date=patient.birth_date,
        )
        violations += rules.check_agent("window", rules.Agent())
        violations += rules.check_not_moved_out(patient.moved_out_on is not None)
        refuse_if(violations)
        renewed = rules.renewal_target(disease.code, applied_on, existing, params)
        assert institution is not None  # noqa: S101 - QL-5 refused a missing one
        assert diagnosed is not None  # noqa: S101 - QL-5 refused a missing date
        qualification = Qualification(
            id=self.ids.take(Qualification),
            patient=patient,
            bureau_id=patient.bureau_id,
            disease=disease,
            applied_on=applied_on,
            diagnosis_institution=institution,
            diagnosis_date=diagnosed,
            diagnosis_doctor=doctor.strip(),
            recorded_by=self.user,
            channel="window",
            renewal_of_id=renewed.id if renewed else None,
        )
        storable(qualification)
        saves = [(copy_of(qualification), "+", self.user)]
        held = self._facts(qualification)
        if decided_on is not None:
            existing = sorted([*existing, held], key=lambda q: (-q.applied_on.toordinal(), -q.id))
            previous = next((q for q in existing if q.id == qualification.renewal_of_id), None)
            if previous is not None and not previous.held:
                previous = None
            period = rules.approval_period(
                disease=described, decided_on=decided_on, renewed=previous
            )
            violations = rules.check_decision(
                status=rules.QualificationStatus.SUBMITTED,
                applied_on=applied_on,
                decided_on=decided_on,
                recorded_by=self.user.pk,
                reviewer=self.reviewer.pk,
                today=facts.today(),
            )
            violations += rules.check_approval(
                disease=described,
                qualification_id=qualification.pk,
                period=period,
                existing=existing,
            )
            refuse_if(violations)
            qualification.status = rules.QualificationStatus.APPROVED
            qualification.reviewed_by = self.reviewer
            qualification.decided_on = decided_on
            qualification.valid_from = period.start
            qualification.valid_until = period.end
            check_given_validity(qualification.valid_until, valid_until)
            saves.append((copy_of(qualification), "~", self.reviewer))
            held = self._facts(qualification)
            if qualification.valid_until is not None:
                reminders_may_be_due(patient.pk)
        for snapshot, kind, by in saves:
            self.history.add(snapshot, kind, by)
        case.qualifications.append(held)
        self._keep(qualification)

    @staticmethod
    def _facts(q: Qualification) -> rules.QualificationFacts:
        return rules.QualificationFacts(
            id=q.pk,
            disease=q.disease.code,
            status=q.status,
            applied_on=q.applied_on,
            valid_from=q.valid_from,
            valid_until=q.valid_until,
        )

    def selection(
        self,
        *,
        patient: Patient,
        institution: Institution,
        start: dt.date,
        end: dt.date | None,
        end_reason: str,
    ) -> list[str]:
        # As services.selections.selection_add, then selection_end.
        case = self._case(patient)
        loaded, described = self._institution(institution)
        check = rules.check_selection(
            patient_prefecture=self._prefecture(patient, start),
            institution=described,
            start=start,
            existing=case.selection_facts(),
            bases=case.bases(),
            params=parameters_on(start),
        )
        refuse_if(check.violations + rules.check_not_moved_out(patient.moved_out_on is not None))
        selection = Selection(
            id=self.ids.take(Selection),
            patient=patient,
            institution=loaded,
            slot=check.slot,
            start=start,
            scope=check.scope,
            created_by=self.user,
        )
        if check.basis is not None:
            if check.basis.kind == "filing":
                selection.basis_filing_id = check.basis.id
            else:
                selection.basis_letter_id = check.basis.id
        storable(selection)
        snapshots = [copy_of(selection)]
        if end is not None:
            refuse_if(
                rules.check_selection_end(
                    start=selection.start, current_end=None, end=end, reason=end_reason
                )
            )
            selection.end = end
            selection.end_reason = end_reason.strip()[:200]
            snapshots.append(copy_of(selection))
        for i, snapshot in enumerate(snapshots):
            self.history.add(snapshot, "~" if i else "+", self.user)
        case.selections.append(
            rules.SelectionFacts(
                id=selection.pk,
                institution=loaded.code,
                slot=selection.slot,
                period=rules.Period(selection.start, selection.end),
            )
        )
        self._keep(selection)
        return check.notices

    def letter_by_serial(self, patient: Patient, serial: str) -> TransferLetter | None:
        case = self._case(patient)
        return next((x for x in case.letters if x.serial == serial), None)

    def filing(
        self,
        *,
        patient: Patient,
        type: str,
        subtype: str,
        destination: Region,
        start: dt.date,
        end: dt.date | None,
        filed_on: dt.date,
        channel: str,
        materials: list[str],
        letter: TransferLetter | None,
    ) -> None:
        # As services.filings.filing_create.
        case = self._case(patient)
        agent = rules.Agent()
        letter_facts = None
        if letter is not None:
            _, receiver = self._institution(letter.receiver)
            letter_facts = rules.LetterFacts(
                id=letter.pk,
                patient_matches=letter.patient_id == patient.pk,
                receiver=receiver,
                period=rules.Period(letter.issued_on, letter.end),
            )
        request = rules.FilingRequest(
            type=type,
            subtype=subtype,
            destination=facts.region_facts(destination),
            start=start,
            end=end,
            filed_on=filed_on,
            channel=channel,
            agent=agent,
            materials=frozenset(materials),
            letter=letter_facts,
        )
        check = rules.check_filing(
            request, existing=case.filing_facts(), params=parameters_on(start)
        )
        refuse_if(check.violations + rules.check_not_moved_out(patient.moved_out_on is not None))
        filing = Filing(
            id=self.ids.take(Filing),
            patient=patient,
            bureau_id=patient.bureau_id,
            type=type,
            subtype=subtype,
            destination=destination,
            start=check.start,
            end=check.end,
            filed_on=filed_on,
            retroactive=check.retroactive,
            treatment_start=check.start if check.retroactive else None,
            channel=channel,
            materials=sorted(set(materials)),
            transfer_letter=letter if subtype == "transfer" else None,
            created_by=self.user,
        )
        storable(filing)
        self.history.add(filing, "+", self.user)
        reminders_may_be_due(patient.pk)
        case.filings.append(facts.filing_fact(filing))
        self._keep(filing)

    def letter(
        self,
        *,
        patient: Patient,
        disease: Disease,
        issuer: Institution,
        receiver: Institution,
        reason: str,
        issued_on: dt.date,
        serial: str,
        given_end: dt.date | None,
    ) -> TransferLetter:
        # As services.letters.letter_issue.
        case = self._case(patient)
        params = parameters_on(issued_on)
        issuer_loaded, issuer_facts = self._institution(issuer)
        receiver_loaded, receiver_facts = self._institution(receiver)
        violations = rules.check_letter(
            patient_prefecture=self._prefecture(patient, issued_on),
            issuer=issuer_facts,
            receiver=receiver_facts,
            reason=reason,
            reason_text="",
            issued_on=issued_on,
            disease=disease.code,
            qualifications=case.qualification_facts(),
            params=params,
            today=facts.today(),
        )
        serial = serial.strip()
        if not serial:
            county = self._county(patient, issued_on)  # the insured county then (MV-6)
            prefix = rules.serial_prefix(county, issued_on)
            serial = rules.next_serial(county, issued_on, self.serials.count(prefix))
        violations += rules.check_serial(taken=self.serials.is_taken(serial))
        violations += rules.check_not_moved_out(patient.moved_out_on is not None)
        refuse_if(violations)
        period = rules.letter_period(issued_on, params)
        letter = TransferLetter(
            id=self.ids.take(TransferLetter),
            serial=serial,
            patient=patient,
            bureau_id=patient.bureau_id,
            disease=disease,
            issuer=issuer_loaded,
            receiver=receiver_loaded,
            reason=reason,
            issued_on=issued_on,
            end=period.end or issued_on,
            created_by=self.user,
        )
        storable(letter)
        check_given_letter_end(letter.end, given_end)
        self.history.add(letter, "+", self.user)
        reminders_may_be_due(patient.pk)
        case.letters.append(letter)
        self.serials.add(serial)
        self._keep(letter)
        return letter

    # --- the group's writes -------------------------------------------------------------------

    def finish_group(self) -> None:
        """Everything the group created, with COPY; the deferred checks (foreign keys) run
        now, so that a refusal is the group's and the engine can take it again."""
        for model in MODELS:
            created = self.created.get(model, [])
            if not created:
                continue
            fields = model._meta.concrete_fields
            copy_in(
                model._meta.db_table,
                [f.column for f in fields],
                (
                    [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
                    for obj in created
                ),
            )
        for model, rows in self.history.rows.items():
            historical = model.history.model  # type: ignore[attr-defined]
            columns = [f.column for f in self.history.fields(model)]
            copy_in(historical._meta.db_table, columns, rows)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        self._reset()


def copy_of(instance: models.Model) -> models.Model:
    """The record as it is now (a history entry of this save)."""
    clone = type(instance)()
    clone.__dict__.update(instance.__dict__)
    clone._state = instance._state
    return clone
