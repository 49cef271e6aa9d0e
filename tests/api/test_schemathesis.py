"""Property-based fuzzing of the whole API from its OpenAPI description (schemathesis).

Every operation of ``/api/openapi.json`` is called with generated parameters and bodies, valid
ones and invalid ones, in-process (ASGI), by a logged-in operator using the session cookie and
its CSRF header (the browser's way), over the small simulated city. No answer may be a server
error: bad input must be refused with a 4xx (422 for invalid parameters). Examples per operation
and mode are bounded so that the run stays under a minute; logout is left out (it would end the
fuzzer's own session).

(Schemathesis' own pytest integration, ``schema.parametrize()`` on a fixture, does not run under
pytest 9, hence the loop over operations with Hypothesis' ``given``.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from belvedere.api.main import create_app
from belvedere.privacy.release import Actor
from belvedere.privacy.users import add_user, csrf_token, open_session
from belvedere.store.duckdb import DuckDBStore

MAX_EXAMPLES = 25
"""Per operation and generation mode (valid and invalid input)."""
SKIPPED = {"/api/v1/auth/logout"}


def _fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, token: str,
          call: Callable[[schemathesis.Case], None]) -> None:
    # The operator's session cookie and CSRF header are fixed; everything else is generated.
    cases = operation.as_strategy(generation_mode=mode, cookies={"belvedere_session": token},
                                  headers={"X-CSRF-Token": csrf_token(token)})

    @given(case=cases)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        call(case)

    run()


def test_no_operation_answers_a_server_error(city_store: DuckDBStore) -> None:
    add_user(city_store, "fuzz-op", "fuzz-operator-1", role="operator")
    token = open_session(city_store, Actor("fuzz-op", "operator"))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(city_store))
    # Random Authorization headers would only test the 401 path: log in as the operator instead.
    schema.config.generation.update(with_security_parameters=False)
    # A live stream (SSE) is read up to its first event, then closed: it never ends by itself.
    schema.config.max_stream_events = 1

    statuses: Counter[int] = Counter()

    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=[not_a_server_error])
        statuses[response.status_code] += 1

    operations = [r.ok() for r in schema.get_all_operations()]
    fuzzed, failures = [], []
    for operation in operations:
        if operation.path in SKIPPED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, token, call)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # no parameter to get wrong
            except Exception as exc:  # one report for every failing operation
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): "
                                f"{exc}")
        fuzzed.append(operation.path)
    assert len(fuzzed) >= 15, fuzzed
    assert not failures, "\n\n".join(failures)
    # The operator's session held (only the login's wrong credentials answer 401), and the
    # fuzzer got real answers as well as refusals of bad input.
    assert statuses[401] <= 2 * MAX_EXAMPLES, statuses
    assert statuses[200] >= 40 and statuses[422] >= 100, statuses
