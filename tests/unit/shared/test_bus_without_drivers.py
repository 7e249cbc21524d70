"""The shared bus imports no database driver: each service passes its own classifier."""

import subprocess
import sys

import sqlalchemy.exc
from sorami_shared.messaging import is_transient, transient_classifier


def test_importing_the_bus_loads_no_database_driver() -> None:
    probe = (
        "import sys, sorami_shared.messaging; "
        "print(sorted(m for m in ('sqlalchemy', 'asyncpg', 'psycopg', 'psycopg2') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_default_classifier_knows_only_the_broker_and_the_os() -> None:
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, ValueError("server closed"))
    assert not is_transient(outage)
    assert transient_classifier(sqlalchemy.exc.OperationalError)(outage)
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
