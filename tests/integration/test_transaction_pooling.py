"""Transaction pooling: many clients over few backend connections, with prepared statements
and session settings that follow each client from one backend connection to the next."""
from __future__ import annotations

import psycopg
import pytest

from conftest import TEST_DB


def transaction_mode(swiftpool, **overrides):
    params = {"pool_mode": "transaction", "transaction_pool_size": 2, "num_event_loops": 1,
              "load_balance_mode": False}
    params.update(overrides)
    return swiftpool(params)


def test_a_client_moves_between_backend_connections_and_keeps_its_settings(swiftpool):
    proxy = transaction_mode(swiftpool)
    with proxy.connect() as a, proxy.connect() as b:
        a.execute("SET search_path TO app_schema_a, public")
        a.execute("SET application_name = 'client-a'")
        seen = set()
        for _ in range(10):
            with a.transaction():
                seen.add(a.execute("SELECT pg_backend_pid()").fetchone()[0])
                assert a.execute("SHOW search_path").fetchone()[0] == "app_schema_a, public"
                assert a.execute("SELECT current_setting('application_name')").fetchone()[0] == "client-a"
            with b.transaction():
                b.execute("SELECT pg_backend_pid()")
                assert b.execute("SHOW search_path").fetchone()[0] == '"$user", public'
