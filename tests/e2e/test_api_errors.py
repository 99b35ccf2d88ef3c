"""What a client sees when it sends bad input: problem+json with a stable code, never a 500.

Every endpoint of the API is fed wrong bodies, wrong parameters, wrong keys and other agencies'
ids; a refused request must leave the database as it was.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from engine.demo.seed import demo_siret
from tests.conftest import issue_key

PROBLEM = "application/problem+json"
PARIS_13 = {"postal_code": "75013", "city": "Paris"}
DROP = object()  # an override that removes the field from the body


def new_agency(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Agence du Marais",
        "siret": "73282932000074",
        "email": "contact@marais.fr",
        "office": PARIS_13,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not DROP}


def bearer(role: str, agency_id: object = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_key(role, agency_id)}"}


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is an RFC 9457 problem with this status (and code), and no trace of internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code
    return body


def refused_at(response: Any, path: str, code: str | None = None) -> None:
    """A 422 whose `errors` name the field at `path` (with this code)."""
    errors = problem(response, 422)["errors"]
    by_path = {e["path"]: e["code"] for e in errors}
    assert path in by_path, errors
    if code is not None:
        assert by_path[path] == code


def cases(table: dict[str, tuple[Any, ...]]) -> list[Any]:
    """A table of cases as pytest params, each named by its key."""
    return [pytest.param(*values, id=name) for name, values in table.items()]


def count(session: Any, table: str) -> int:
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


@pytest.fixture
def agency(client, admin_headers) -> dict[str, Any]:
    response = client.post("/api/v1/agencies", json=new_agency(), headers=admin_headers)
    assert response.status_code == 201
    return response.json()


@pytest.fixture
def other_agency(client, admin_headers) -> dict[str, Any]:
    body = new_agency(
        name="Agence de Lyon", siret=demo_siret(2), office={"postal_code": "69002", "city": "Lyon"}
    )
    return client.post("/api/v1/agencies", json=body, headers=admin_headers).json()


# --- POST /api/v1/agencies ---------------------------------------------------------------------


def office(postal_code: str | None = None, city: str | None = None, **more: Any) -> dict[str, Any]:
    place = {"postal_code": postal_code, "city": city, **more}
    return {"office": {k: v for k, v in place.items() if v is not None}}


CREATE_REFUSALS = {
    "unknown field": ({"zz": 1}, "zz", "unknown_field"),
    "unknown nested field": (office("75013", "Paris", zz=1), "office.zz", "unknown_field"),
    "missing name": ({"name": DROP}, "name", "missing_field"),
    "name not a string": ({"name": 123}, "name", "invalid_field"),
    "radius not a number": ({"radius_km": "twenty"}, "radius_km", "invalid_field"),
    "communes not a list": ({"communes": "75056"}, "communes", "invalid_field"),
    "bad luhn key": ({"siret": "73282932000075"}, "siret", "invalid_siret"),
    "13-digit siret": ({"siret": "7328293200007"}, "siret", "invalid_siret"),
    "bad email": ({"email": "contact@"}, "email", "invalid_email"),
    "foreign phone": ({"phone": "+44 7700 900123"}, "phone", "invalid_phone"),
    "radius 4 km": ({"radius_km": 4}, "radius_km", None),
    "radius 51 km": ({"radius_km": 51}, "radius_km", None),
    "unknown postal code": (office("99999", "Paris"), "office.postal_code", "unknown_postal_code"),
    "4-digit postal code": (office("7501", "Paris"), "office.postal_code", "invalid_postal_code"),
    "city not at that code": (office("75013", "Lyon"), "office.city", "unknown_city"),
    "office in London": (office(lat=51.5, lon=-0.12), "office.lat", "outside_france"),
    "far from the commune": (  # Lyon's town hall, 390 km from Paris 13e
        office("75013", "Paris", lat=45.7676, lon=4.8345),
        "office.lat",
        "coordinates_far_from_commune",
    ),
    "lat without lon": (
        office("75013", "Paris", lat=48.83),
        "office.lon",
        "incomplete_coordinates",
    ),
    "lone lat": (office(lat=48.83), "office", "location_required"),
    "latitude 91": (office(lat=91, lon=2), "office.lat", None),
    "unknown commune": ({"communes": ["75056", "00000"]}, "communes[1]", "unknown_commune"),
    "negative budget": ({"monthly_budget_cents": -1}, "monthly_budget_cents", None),
}


@pytest.mark.parametrize(("overrides", "path", "code"), cases(CREATE_REFUSALS))
def test_an_invalid_agency_is_refused_at_the_bad_field_and_nothing_is_created(
    client, admin_headers, session, overrides, path, code
) -> None:
    response = client.post("/api/v1/agencies", json=new_agency(**overrides), headers=admin_headers)

    refused_at(response, path, code)
    assert count(session, "agency") == 0


def test_a_postal_code_shared_by_many_communes_is_resolved_by_the_city(
    client, admin_headers
) -> None:
    body = new_agency(**office("01400", "Châtillon-sur-Chalaronne"))

    response = client.post("/api/v1/agencies", json=body, headers=admin_headers)

    assert response.status_code == 201
    assert response.json()["office"]["commune_code"] == "01093"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"name": "Agence",', b'{"office": {"lat": NaN, "lon": 2}}'],
    ids=["garbage", "truncated", "NaN"],
)
def test_a_body_that_is_not_json_is_a_400_problem(client, admin_headers, content) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}

    response = client.post("/api/v1/agencies", content=content, headers=headers)

    problem(response, 400, "invalid_request")


def test_an_empty_body_is_refused_without_leaking_an_internal_name(client, admin_headers) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}

    response = client.post("/api/v1/agencies", content=b"", headers=headers)

    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "'data'" not in response.text  # the name of a Litestar kwarg, not a message for people


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_api_key"),
        ("Basic YWRtaW46YWRtaW4=", "missing_api_key"),
        ("Bearer not-a-key", "invalid_api_key"),
        ("Bearer mdt_0123456789ab_" + "x" * 43, "invalid_api_key"),
    ],
    ids=["no header", "basic auth", "malformed key", "unknown key"],
)
def test_a_caller_without_a_valid_key_gets_a_401_with_a_bearer_challenge(
    client, session, authorization, code
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post("/api/v1/agencies", json=new_agency(), headers=headers)

    problem(response, 401, code)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(session, "agency") == 0


def test_a_revoked_key_or_a_wrong_secret_is_the_same_401(client) -> None:
    from engine.accounts.keys import create_key, revoke_key
    from engine.db import unit_of_work

    with unit_of_work() as s:
        revoked = create_key(s, "admin", None)
    with unit_of_work() as s:
        revoke_key(s, revoked.id)
    prefix = issue_key("admin")[: len("mdt_") + 12]

    for key in (revoked.key, f"{prefix}_{'x' * 43}"):
        response = client.get(
            "/api/v1/admin/matching?postal_code=75013", headers={"Authorization": f"Bearer {key}"}
        )
        problem(response, 401, "invalid_api_key")


@pytest.mark.parametrize("role", ["owner", "buyer", "viewer", "finance"])
def test_only_an_admin_creates_an_agency(client, agency, session, role) -> None:
    headers = bearer(role, None if role == "finance" else agency["id"])

    response = client.post(
        "/api/v1/agencies", json=new_agency(siret=demo_siret(3)), headers=headers
    )

    problem(response, 403, "forbidden_role")
    assert count(session, "agency") == 1


# --- GET /api/v1/agencies/{id} -----------------------------------------------------------------


def test_an_agency_id_that_is_not_a_uuid_is_a_client_error(client, admin_headers) -> None:
    response = client.get("/api/v1/agencies/not-a-uuid", headers=admin_headers)

    assert response.status_code in (404, 422)
    assert response.headers["content-type"].startswith(PROBLEM)


def test_another_agencys_id_answers_exactly_like_an_unknown_one(
    client, admin_headers, agency, other_agency
) -> None:
    owner = bearer("owner", agency["id"])

    unknown = client.get(f"/api/v1/agencies/{uuid.uuid4()}", headers=owner)
    foreign = client.get(f"/api/v1/agencies/{other_agency['id']}", headers=owner)

    problem(unknown, 404, "agency_not_found")
    problem(foreign, 404, "agency_not_found")
    assert foreign.json() == unknown.json()
    problem(
        client.get(f"/api/v1/agencies/{uuid.uuid4()}", headers=admin_headers),
        404,
        "agency_not_found",
    )
    assert client.get(f"/api/v1/agencies/{agency['id']}", headers=owner).status_code == 200


# --- POST /api/v1/agencies/{id}/api-keys -------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "body", "path"),
    [
        ("owner", {"role": "admin"}, "role"),
        ("admin", {"role": "superuser"}, "role"),
        ("admin", {}, "role"),
        ("owner", {"role": "viewer", "label": "x" * 201}, "label"),
        ("owner", {"role": "viewer", "scope": "all"}, "scope"),
    ],
    ids=["owner asks for admin", "unknown role", "no role", "label too long", "unknown field"],
)
def test_a_key_request_with_a_bad_role_or_field_is_a_422(
    client, agency, session, role, body, path
) -> None:
    headers = bearer(role, None if role == "admin" else agency["id"])
    before = count(session, "api_key")

    response = client.post(f"/api/v1/agencies/{agency['id']}/api-keys", json=body, headers=headers)

    refused_at(response, path)
    assert count(session, "api_key") == before


def test_keys_are_issued_only_by_the_agencys_owner_or_an_admin(
    client, admin_headers, agency, other_agency
) -> None:
    owner = bearer("owner", agency["id"])
    body = {"role": "viewer"}

    foreign = client.post(
        f"/api/v1/agencies/{other_agency['id']}/api-keys", json=body, headers=owner
    )
    by_buyer = client.post(
        f"/api/v1/agencies/{agency['id']}/api-keys",
        json=body,
        headers=bearer("buyer", agency["id"]),
    )
    unknown = client.post(
        f"/api/v1/agencies/{uuid.uuid4()}/api-keys", json=body, headers=admin_headers
    )

    problem(foreign, 404, "agency_not_found")
    problem(by_buyer, 403, "forbidden_role")
    problem(unknown, 404, "agency_not_found")


def test_an_issued_key_works_at_once_and_is_never_shown_again(client, admin_headers, agency):
    owner = bearer("owner", agency["id"])
    issued = client.post(
        f"/api/v1/agencies/{agency['id']}/api-keys",
        json={"role": "viewer", "label": "Accueil"},
        headers=owner,
    )
    assert issued.status_code == 201
    key = issued.json()["key"]
    viewer = {"Authorization": f"Bearer {key}"}

    own = client.get("/api/v1/agency", headers=viewer)

    assert own.status_code == 200
    assert own.json()["id"] == agency["id"]
    later = [
        own,
        client.get(f"/api/v1/agencies/{agency['id']}", headers=admin_headers),
        client.get("/api/v1/agency", headers=owner),
    ]
    assert all(key not in r.text and key.split("_", 2)[2] not in r.text for r in later)
    problem(
        client.patch("/api/v1/agency", json={"paused": True}, headers=viewer), 403, "forbidden_role"
    )


# --- GET / PATCH /api/v1/agency ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "finance"])
def test_a_staff_key_has_no_agency_of_its_own(client, role) -> None:
    headers = bearer(role)

    problem(client.get("/api/v1/agency", headers=headers), 403, "agency_key_required")
    problem(
        client.patch("/api/v1/agency", json={"paused": True}, headers=headers),
        403,
        "agency_key_required",
    )


@pytest.mark.parametrize("role", ["viewer", "buyer"])
def test_only_the_owner_changes_the_agency(client, agency, role) -> None:
    response = client.patch(
        "/api/v1/agency", json={"radius_km": 30}, headers=bearer(role, agency["id"])
    )

    problem(response, 403, "forbidden_role")
    assert client.get("/api/v1/agency", headers=bearer("owner", agency["id"])).json() == agency


PATCH_REFUSALS = {
    "radius 3 km": ({"radius_km": 3}, "radius_km", None),
    "4-digit centre code": (
        {"center": {"postal_code": "7501"}},
        "center.postal_code",
        "invalid_postal_code",
    ),
    "unknown centre code": (
        {"center": {"postal_code": "99999"}},
        "center.postal_code",
        "unknown_postal_code",
    ),
    "centre in London": ({"center": {"lat": 51.5, "lon": -0.12}}, "center.lat", "outside_france"),
    "unknown centre field": ({"center": {"lat": 48.8, "zz": 1}}, "center.zz", "unknown_field"),
    "unknown commune": ({"communes": ["75056", "1234"]}, "communes[1]", "unknown_commune"),
    "http webhook": (
        {"webhook_url": "http://example.com/hook"},
        "webhook_url",
        "invalid_webhook_url",
    ),
    "blank name": ({"name": "  "}, "name", "invalid_name"),
    "bad email": ({"email": "nope"}, "email", "invalid_email"),
    "paused not a bool": ({"paused": "yes"}, "paused", "invalid_field"),
    "unknown field": ({"zz": 1}, "zz", "unknown_field"),
    "good radius, bad commune": (
        {"radius_km": 30, "communes": ["9"]},
        "communes[0]",
        "unknown_commune",
    ),
}


@pytest.mark.parametrize(("changes", "path", "code"), cases(PATCH_REFUSALS))
def test_a_bad_change_is_refused_at_its_field_and_the_agency_stays_as_it_was(
    client, agency, changes, path, code
) -> None:
    owner = bearer("owner", agency["id"])

    response = client.patch("/api/v1/agency", json=changes, headers=owner)

    refused_at(response, path, code)
    assert client.get("/api/v1/agency", headers=owner).json() == agency


def test_a_null_centre_puts_the_zone_back_on_the_office(client, agency) -> None:
    owner = bearer("owner", agency["id"])
    office = {"lat": agency["office"]["lat"], "lon": agency["office"]["lon"]}
    moved = client.patch(
        "/api/v1/agency",
        json={"center": {"postal_code": "78000", "city": "Versailles"}},
        headers=owner,
    )
    assert moved.json()["zone"]["center"] != office

    back = client.patch("/api/v1/agency", json={"center": None}, headers=owner)

    assert back.status_code == 200
    assert back.json()["zone"]["center"] == office


# --- GET /api/v1/admin/matching ----------------------------------------------------------------


MATCHING_REFUSALS = {
    "lat not a number": ("postal_code=75013&lat=abc", "lat", "invalid_field"),
    "lat without lon": ("postal_code=75013&lat=48.83", "lon", "incomplete_coordinates"),
    "latitude 100": ("postal_code=75013&lat=100&lon=2", "lat", "invalid_field"),
    "unknown postal code": ("postal_code=99999&city=Paris", "postal_code", "unknown_postal_code"),
    "4-digit postal code": ("postal_code=7501&city=Paris", "postal_code", "invalid_postal_code"),
    "city not at that code": ("postal_code=75013&city=Lyon", "city", "unknown_city"),
    "missing postal code": ("city=Paris", "postal_code", None),
}


@pytest.mark.parametrize(("query", "path", "code"), cases(MATCHING_REFUSALS))
def test_a_bad_matching_query_is_a_422_at_the_parameter(client, admin_headers, query, path, code):
    response = client.get(f"/api/v1/admin/matching?{query}", headers=admin_headers)

    refused_at(response, path, code)


def test_an_agency_key_cannot_preview_matching(client, agency) -> None:
    response = client.get(
        "/api/v1/admin/matching?postal_code=75013&city=Paris", headers=bearer("owner", agency["id"])
    )

    problem(response, 403, "forbidden_role")


# --- Input the database cannot store ------------------------------------------------------------

TOO_BIG = 2**63  # one past PostgreSQL's bigint


UNSTORABLE = {
    "huge budget": ("POST", "/agencies", {"monthly_budget_cents": TOO_BIG}, "monthly_budget_cents"),
    "NUL in name": ("POST", "/agencies", {"name": "Agence\x00"}, "name"),
    "NUL in commune code": ("POST", "/agencies", {"communes": ["75\x00056"]}, "communes[0]"),
    "huge budget (patch)": (
        "PATCH",
        "/agency",
        {"monthly_budget_cents": TOO_BIG},
        "monthly_budget_cents",
    ),
    "NUL in name (patch)": ("PATCH", "/agency", {"name": "Agence\x00"}, "name"),
    "unparsable webhook url": (
        "PATCH",
        "/agency",
        {"webhook_url": "https://[::1/hook"},
        "webhook_url",
    ),
    "NUL in key label": (
        "POST",
        "/agencies/{id}/api-keys",
        {"role": "viewer", "label": "\x00"},
        "label",
    ),
}


@pytest.mark.parametrize(("method", "url", "body", "path"), cases(UNSTORABLE))
def test_input_the_database_cannot_store_is_a_422_not_a_500(
    client, admin_headers, agency, method, url, body, path
) -> None:
    headers = admin_headers if url == "/agencies" else bearer("owner", agency["id"])
    if url == "/agencies":
        body = new_agency(siret=demo_siret(4), **body)
    url = "/api/v1" + url.format(id=agency["id"])

    response = client.request(method, url, json=body, headers=headers)

    assert response.status_code != 500, response.text
    refused_at(response, path)


# --- Routing, health and schema ----------------------------------------------------------------


def test_an_unknown_route_or_method_is_a_problem_too(client, admin_headers) -> None:
    problem(client.get("/api/v1/nothing-here", headers=admin_headers), 404, "not_found")
    problem(client.delete("/api/v1/agency", headers=admin_headers), 405, "method_not_allowed")
    problem(
        client.put("/api/v1/agencies", json={}, headers=admin_headers), 405, "method_not_allowed"
    )


def test_the_service_reports_itself_alive_ready_and_at_the_migration_head(client) -> None:
    from engine.migrate import head_revision

    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["migration"] == head_revision()


@pytest.mark.parametrize(
    ("version", "status", "schema"),
    [("0008", 503, "behind"), ("0099_from_a_newer_release", 200, "ahead")],
)
def test_ready_unless_the_schema_lacks_a_migration_this_code_needs(
    client, owner_database_url, version, status, schema
) -> None:
    from engine.db import unit_of_work
    from engine.migrate import head_revision

    def migrated_to(revision: str) -> None:  # what only the schema's owner records
        with unit_of_work(owner_database_url) as owner:
            owner.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})

    migrated_to(version)
    try:
        ready = client.get("/readyz")
    finally:
        migrated_to(head_revision())

    assert ready.status_code == status
    assert (ready.json()["schema"], ready.json()["migration"]) == (schema, version)


def test_the_openapi_document_describes_the_agency_endpoints(client) -> None:
    response = client.get("/schema/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    assert {"/api/v1/agencies", "/api/v1/agency"} <= set(schema["paths"])


def test_a_nul_character_in_a_query_parameter_is_a_422_not_a_server_error(
    client, admin_headers
) -> None:
    answer = client.get("/api/v1/admin/audit?action=agency%00", headers=admin_headers)

    body = problem(answer, 422, "validation_failed")
    assert body["errors"][0]["path"] == "action"
    assert body["errors"][0]["code"] == "invalid_characters"
