"""The one line that says why a tracking store could not be reached, and the fix.

Each names the store (its password masked), what went wrong, and what to do:
start the server, fix the URI, install the driver, or raise the bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelinex_mlflow.masking import mask_url_passwords
from pipelinex_mlflow.tracking.server_probe import (
    DEFAULT_DATABASE_PORTS,
    database_scheme,
    server_address,
)

if TYPE_CHECKING:
    from pipelinex_mlflow.tracking.server_probe import ProbeResult

_FIX_URI = (
    "fix the `uri` of MLflowBasicLoggerHook or the MLFLOW_TRACKING_URI environment "
    "variable"
)
_DATABASE_NAMES = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mssql": "SQL Server"}
# What to install for a SQLAlchemy driver that is missing.
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "pymysql": "pymysql",
    "mysqldb": "mysqlclient",
    "mysqlconnector": "mysql-connector-python",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}


def _raise_bound(timeout_s: float) -> str:
    return (
        "if it is only slow, raise the bound with "
        f"MLflowBasicLoggerHook(server_timeout=...) (now {timeout_s:g} s)"
    )


def database_message(uri: str, timeout_s: float, result: ProbeResult) -> str:
    """One line for a database store that did not take a connection."""
    from sqlalchemy.engine import make_url

    scheme = database_scheme(uri) or ""
    database = _DATABASE_NAMES.get(scheme, "database")
    shown = repr(mask_url_passwords(uri))
    try:
        url = make_url(uri)
        host = url.host or "localhost"
        port = url.port or DEFAULT_DATABASE_PORTS.get(scheme, 0)
        driver = uri.split(":", 1)[0].partition("+")[2] or url.get_driver_name()
    except Exception:  # an unusable URI: said by the detail
        host, port, driver = "", 0, ""
    address = f"{host}:{port}"
    messages = {
        "refused": (
            f"Cannot reach the {database} database of the MLflow store at {shown}: "
            f"connection refused at {address}. Start the database server (or check "
            f"its port), or {_FIX_URI}."
        ),
        "unresolved": (
            f"Cannot reach the {database} database of the MLflow store at {shown}: "
            f"the host name {host!r} does not resolve. Check its spelling and the "
            f"DNS, or {_FIX_URI}."
        ),
        "no_connection": (
            f"The {database} database of the MLflow store at {shown} did not accept "
            f"a connection within {timeout_s:g} s. Check the host, the port and any "
            f"firewall or VPN in between; {_raise_bound(timeout_s)}."
        ),
        "no_answer": (
            f"The {database} database of the MLflow store at {shown} accepted the "
            f"connection but did not answer within {timeout_s:g} s. Check that "
            f"{address} is a {database} server and that it is not stuck or "
            f"overloaded; {_raise_bound(timeout_s)}."
        ),
        "rejected": (
            f"The {database} database of the MLflow store at {shown} refused the "
            f"connection: {result.detail}. Check the user name, the password and the "
            f"database name in the URI, and that this user may connect from here."
        ),
        "no_driver": (
            f"The MLflow store at {shown} needs the {database} driver "
            f"{driver or '(unknown)'!r}, which cannot be loaded ({result.detail}). "
            f"Install it (`pip install {_DRIVER_PACKAGES.get(driver, driver)}`), or "
            f"name an installed driver in the URI ({scheme}+<driver>://...)."
        ),
    }
    default = (
        f"Cannot open the {database} database of the MLflow store at {shown} "
        f"({result.detail}). Check the URI, or {_FIX_URI}."
    )
    return mask_url_passwords(messages.get(result.kind, default))


def unreachable_message(uri: str, timeout_s: float, result: ProbeResult) -> str:
    """One line for a tracking server that did not answer the check."""
    host, port = server_address(uri) or ("", 0)
    shown = repr(mask_url_passwords(uri))
    address = f"{host}:{port}"
    fix_uri = _FIX_URI
    raise_bound = _raise_bound(timeout_s)
    messages = {
        "refused": (
            f"Cannot reach the MLflow tracking server at {shown}: connection refused. "
            "Start it (for example `mlflow server --host 127.0.0.1 --port "
            f"{port}`), or {fix_uri}."
        ),
        "unresolved": (
            f"Cannot reach the MLflow tracking server at {shown}: the host name "
            f"{host!r} does not resolve. Check its spelling and the DNS, "
            f"or {fix_uri}."
        ),
        "no_connection": (
            f"The MLflow tracking server at {shown} did not accept a connection "
            f"within {timeout_s:g} s. Check the host, the port and any firewall, VPN "
            f"or proxy in between; {raise_bound}."
        ),
        "no_answer": (
            f"The MLflow tracking server at {shown} accepted the connection but did "
            f"not answer within {timeout_s:g} s. Check that {address} is an MLflow "
            f"server and that it is not stuck or overloaded (`curl "
            f"{mask_url_passwords(uri).rstrip('/')}/health` should answer OK); "
            f"{raise_bound}."
        ),
        "not_http": (
            f"The MLflow tracking server at {shown} accepted the connection but did "
            f"not answer in HTTP ({result.detail}). Check that {address} is an "
            "MLflow server, and whether the URI should say https:// instead of "
            "http:// or the reverse."
        ),
        "tls": (
            f"Cannot reach the MLflow tracking server at {shown}: the TLS handshake "
            f"failed ({result.detail}). Point MLFLOW_TRACKING_SERVER_CERT_PATH at "
            "the CA bundle that signed its certificate, or set "
            "MLFLOW_TRACKING_INSECURE_TLS=true for a server you trust."
        ),
        "proxy": (
            f"Cannot reach the MLflow tracking server at {shown} through the proxy "
            f"({result.detail}). Check HTTP_PROXY, HTTPS_PROXY and NO_PROXY."
        ),
    }
    default = (
        f"Cannot reach the MLflow tracking server at {shown} ({result.detail}). "
        f"Check that it runs, or {fix_uri}."
    )
    return mask_url_passwords(messages.get(result.kind, default))
