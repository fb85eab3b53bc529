"""Fuzz the whole HTTP API from its own OpenAPI schema (schemathesis): whatever the input, never a 5xx."""

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from app.main import create_app

EXAMPLES = 40


def test_no_server_errors_on_any_operation(settings, service):
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, service))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/search", "/classify", "/videos/{video_id}", "/healthz"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
