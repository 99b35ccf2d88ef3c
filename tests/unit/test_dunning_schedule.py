"""The dunning schedule on plain values (engine/billing/dunning.py): each step once, in order,
never before its day. tests/integration/test_billing.py runs it on the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from engine.billing.dunning import Case, Schedule, due_steps

FAILED = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)
DEFAULT = Schedule((3, 7), 15)
schedules = st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 60)).map(
    lambda t: Schedule((min(t[0], t[1]), max(t[0], t[1])), t[2])
)
ages = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90))


def taken(case: Case, steps: list) -> Case:  # type: ignore[type-arg]
    columns = {s.column for s in steps}
    return Case(
        case.failed_at,
        (
            case.reminded[0] or "reminded_3_at" in columns,
            case.reminded[1] or "reminded_7_at" in columns,
        ),
        case.suspended or "suspended_at" in columns,
    )


def test_the_default_schedule_day_by_day() -> None:
    case = Case(FAILED, (False, False), False)
    seen = {}
    for day in range(0, 20):
        steps = due_steps(case, DEFAULT, FAILED + timedelta(days=day))
        seen[day] = [s.kind for s in steps]
        case = taken(case, steps)
    assert {d: k for d, k in seen.items() if k} == {
        3: ["reminder"],
        7: ["reminder"],
        15: ["suspension"],
    }


@given(schedules, st.lists(ages, min_size=1, max_size=8))
def test_each_step_is_taken_once_and_never_before_its_day(schedule, checks) -> None:
    case = Case(FAILED, (False, False), False)
    taken_steps = []
    for age in sorted(checks):
        steps = due_steps(case, schedule, FAILED + age)
        for step in steps:
            assert age >= timedelta(days=step.days)
        taken_steps += steps
        case = taken(case, steps)
    columns = [s.column for s in taken_steps]
    assert len(columns) == len(set(columns))
    last = max(checks)
    owed = sum(last >= timedelta(days=d) for d in schedule.reminder_days)
    owed += last >= timedelta(days=schedule.suspend_after_days)
    assert len(taken_steps) == owed  # whatever the checks, nothing due is left behind


@given(schedules, ages)
def test_a_case_with_every_step_taken_has_nothing_left(schedule, age) -> None:
    assert due_steps(Case(FAILED, (True, True), True), schedule, FAILED + age) == []
