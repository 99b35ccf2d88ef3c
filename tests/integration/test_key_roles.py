"""An agency always keeps an owner: two owners demoting each other at the same time are
serialised, and the second one, no longer an owner, is refused."""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.accounts.keys import change_agency_key_role, create_key
from engine.db import get_engine
from engine.errors import Forbidden
from tests.helpers import add_agency


def test_two_owners_demoting_each_other_leave_one_owner(session) -> None:
    agency = add_agency(session, -1.68, 48.11)
    first = create_key(session, "owner", agency, "first").id
    second = create_key(session, "owner", agency, "second").id
    session.commit()
    outcome: dict[str, object] = {}

    with Session(get_engine()) as one:
        change_agency_key_role(one, agency, second, "viewer", by_key=first)  # not committed yet

        def the_other() -> None:
            with Session(get_engine()) as two:
                try:
                    change_agency_key_role(two, agency, first, "viewer", by_key=second)
                    two.commit()
                    outcome["second"] = "changed"
                except Forbidden as refused:
                    outcome["second"] = refused.code

        racer = threading.Thread(target=the_other)
        racer.start()
        racer.join(timeout=1)
        assert racer.is_alive()  # it waits for the first change…
        one.commit()
    racer.join(timeout=10)

    assert outcome["second"] == "forbidden_role"  # …and then finds it is no longer an owner
    roles = session.execute(
        text("SELECT label, role FROM api_key WHERE agency_id = :a ORDER BY label"), {"a": agency}
    ).all()
    assert [tuple(r) for r in roles] == [("first", "owner"), ("second", "viewer")]
