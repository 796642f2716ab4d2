"""schemathesis against /api/v1/openapi.json over real HTTP: no 5xx, every answer matches
the schema, and nothing opens without a token."""

from __future__ import annotations

from typing import Any, cast

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate

from meldpunt.api.tokens import issue_token
from meldpunt.reports.models import Tag
from tests.conftest import make_staff, submit

pytestmark = pytest.mark.django_db(transaction=True)
FUZZ = settings(
    max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def operations(live_server: Any) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    # Each entry is Ok(operation) or Err(problem); .ok() raises on a broken schema, as it should.
    return [cast(Any, result).ok() for result in schema.get_all_operations()]


def test_the_api_holds_against_generated_requests(live_server: Any) -> None:
    submit(Client())  # something to list and read
    # A tag, so the document lists the tag filter's values and the fuzzer picks from them.
    Tag.objects.create(name="fuzzed")
    # Every scope a triager may hold, so that the writes are generated too.
    alice = make_staff("alice@example.org", "triager")
    token = issue_token(alice, "fuzz", scopes=["read", "triage", "publish"])
    auth = {"Authorization": f"Bearer {token}"}
    ops = operations(live_server)
    assert len(ops) >= 12
    for operation in ops:

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case: Any) -> None:
            # A cursor is opaque: only one the API gave is valid (others are a documented 422,
            # see test_api_pages), and no schema can say which strings those are.
            if case.query:
                case.query.pop("cursor", None)
            case.call_and_validate(base_url=live_server.url, headers=auth)

        run()


def test_nothing_opens_without_a_token(live_server: Any) -> None:
    for operation in operations(live_server):

        @given(case=operation.as_strategy())
        @settings(max_examples=3, deadline=None, derandomize=True)
        def run(case: Any) -> None:
            response = case.call(base_url=live_server.url, headers={"Authorization": ""})
            assert response.status_code == 401, (case.method, case.path, response.status_code)

        run()


def test_its_openapi_document_is_valid_openapi(live_server: Any) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    validate(schema)  # raises OpenAPIValidationError naming the first problem
    assert schema["openapi"].startswith("3.1")
