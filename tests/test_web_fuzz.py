"""The web lab's API fuzzed from its own OpenAPI schema (schemathesis): valid and invalid bodies
for every operation, a fixed seed and a bounded number of examples. Every check runs on every
answer: no 5xx, status codes, content types, headers and bodies as the schema states them,
and data the schema forbids is rejected."""

import schemathesis

from lrlab.web import create_app

# Any host: schemathesis's ASGI client calls itself "testserver".
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(allowed_hosts=None))
# Deterministic generation (no example database, a fixed derandomised seed), few examples per
# operation so that the whole run stays well under a minute on two shared cores.
schema.config.generation.update(max_examples=10, deterministic=True, database="none")
# A schema-valid body may still be refused with a 400: an objective is a language the schema
# cannot state (an expression that does not parse), and the work limits multiply fields.
accepted = schema.config.checks.positive_data_acceptance
accepted.expected_statuses = [*accepted.expected_statuses, "400"]


@schema.parametrize()
def test_every_operation_answers_as_its_schema_says(case):
    case.call_and_validate()
