"""``fg-automl dashboard RUN_DIR``: optuna-dashboard over a run's study.

The search writes every trial to the Optuna study in the run directory as it
goes (``study.journal``, Optuna's journal storage; runs of earlier versions
have ``study.db``, SQLite): its configuration, state, running CV F1 after
each fold and, as user attributes, whatever else the search records.
optuna-dashboard shows that study: the trials with their parameters, values,
intermediate values and user attributes, and Optuna's history,
intermediate-value and parameter-importance plots. This module only opens
the study and serves optuna-dashboard's own WSGI app; it adds no view of its
own.

The view is read-only. Requests that would change the study
(optuna-dashboard can rename or delete a study, tell a trial, write notes)
are refused, and beneath them the storage itself cannot write, so nothing a
browser does can disturb a running search or alter a finished one. Reading
is safe while the search writes: a journal reader skips a record still being
appended and reads it next time; SQLite readers and the writer take turns,
each waiting up to :data:`BUSY_TIMEOUT_S`.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from finegrain_automl.errors import UsageError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DashboardServer", "open_study_storage", "serve", "start"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: The study's file in a run directory: the journal the search writes
#: (``finegrain_automl.search._study``), or the SQLite file of earlier versions.
JOURNAL_FILE, SQLITE_FILE = "study.journal", "study.db"
STUDY_NAME = "search"
#: Seconds a read of a SQLite study waits for a write to finish (SQLite's busy timeout).
BUSY_TIMEOUT_S = 30.0
#: What a refused (changing) request answers, in optuna-dashboard's error format.
READ_ONLY_REASON = (
    "fg-automl dashboard is read-only: the study is the search's record and is not changed here."
)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def study_file(run_dir: Path) -> Path:
    """The run's study file (``study.journal``, else ``study.db``), after
    checking that ``run_dir`` is a run directory that has one.

    Raises:
        UsageError: ``run_dir`` does not exist, is not a run directory, or
            has no study yet.
    """
    from finegrain_automl.results import RUN_FILE

    if not run_dir.is_dir():
        raise UsageError(f"Run directory {run_dir} does not exist. Pass a folder under fg-runs/ "
                         "(fg-automl search prints it).")
    for name in (JOURNAL_FILE, SQLITE_FILE):
        if (run_dir / name).is_file():
            return run_dir / name
    if not (run_dir / RUN_FILE).is_file():
        raise UsageError(f"{run_dir} is not a run directory (no {RUN_FILE}, no {JOURNAL_FILE}). Pass a "
                         "folder under fg-runs/ (fg-automl search prints it).")
    raise UsageError(f"{run_dir} has no {JOURNAL_FILE} yet: the search writes it when its trials start. "
                     "Run this again in a moment.")


def open_study_storage(run_dir: Path) -> Any:
    """The run's study storage, read-only (an Optuna ``JournalStorage``, or
    ``RDBStorage`` on SQLite for runs of earlier versions).

    Raises:
        UsageError: See :func:`study_file`; or the file is not an Optuna
            study this Optuna can read.
    """
    import optuna
    import sqlalchemy.exc

    path = study_file(run_dir)
    try:
        return _journal_storage(path) if path.name == JOURNAL_FILE else _sqlite_storage(path)
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError, RuntimeError, ValueError) as exc:
        # Not a database or a journal, not a study, or a schema of another Optuna: the cause says which.
        cause = exc.__cause__ if isinstance(exc, optuna.exceptions.OptunaError) and exc.__cause__ else exc
        cause = getattr(cause, "orig", None) or cause  # SQLAlchemy's wrapper adds the SQL and a link
        reason = " ".join(str(cause).split())[:200]
        raise UsageError(
            f"{path} cannot be read as an Optuna study ({reason}). Pass the run directory of a search made "
            f"with this version of finegrain-automl (Optuna {optuna.__version__})."
        ) from None


def _journal_storage(path: Path) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import BaseJournalBackend, JournalFileBackend

    class ReadOnlyJournal(BaseJournalBackend):
        """The search's journal, read as it grows; nothing is appended to it."""

        def __init__(self) -> None:
            self._file = JournalFileBackend(str(path))  # the file exists: opening it changes nothing

        def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
            return self._file.read_logs(log_number_from)

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            raise PermissionError(READ_ONLY_REASON)

    try:
        return JournalStorage(ReadOnlyJournal())
    except ValueError as exc:  # a line that is not JSON
        raise ValueError(f"a line is not an Optuna journal record: {exc}") from None


def _sqlite_storage(path: Path) -> Any:
    import optuna

    # SQLite's read-only mode through a file: URI (quoted: Optuna formats the URL as a template).
    url = f"sqlite:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"timeout": BUSY_TIMEOUT_S}}, skip_table_creation=True
    )


class _Server(ThreadingMixIn, WSGIServer):
    """A WSGI server that answers each request in its own thread (a page loads several at once)."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """No line per request (the terminal shows the URL and nothing else)."""


class DashboardServer:
    """optuna-dashboard over one run's study, listening on ``host:port``.

    Made by :func:`start`; :meth:`serve_forever` answers requests until
    :meth:`shutdown` (or Ctrl-C); as a context manager it serves in a
    background thread.
    """

    def __init__(self, server: WSGIServer, *, host: str, run_dir: Path, study_id: int | None) -> None:
        self._server = server
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self.host = host
        self.port: int = server.server_address[1]
        self.run_dir = run_dir
        #: optuna-dashboard's id of the search's study; None while the search has not created it.
        self.study_id = study_id

    @property
    def url(self) -> str:
        """The address of the dashboard: the trials view of the study when it exists."""
        every_network = {"": DEFAULT_HOST, "0.0.0.0": DEFAULT_HOST, "::": "::1"}
        host = every_network.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        path = f"/dashboard/studies/{self.study_id}" if self.study_id is not None else "/dashboard"
        return f"http://{host}:{self.port}{path}"

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach it (the dashboard has no sign-in)."""
        return self.host in _LOOPBACK

    def serve_forever(self) -> None:
        """Answers requests until :meth:`shutdown` is called from another thread (or Ctrl-C).

        Raises:
            RuntimeError: It already serves (two loops on one socket would leave
                one blocked in ``accept`` and :meth:`shutdown` waiting for it).
        """
        if self._serving.is_set():
            raise RuntimeError("the dashboard is already serving")
        self._serving.set()
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self._serving.clear()

    def shutdown(self) -> None:
        """Stops :meth:`serve_forever` if it runs (waiting for it) and closes the socket."""
        if self._serving.is_set():
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> DashboardServer:
        self._thread = threading.Thread(target=self.serve_forever, name="fg-automl-dashboard", daemon=True)
        self._thread.start()
        self._serving.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def read_only(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``app`` answering only GET and HEAD; anything else gets 405 and :data:`READ_ONLY_REASON`."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
            return app(environ, start_response)
        body = json.dumps({"reason": READ_ONLY_REASON}).encode()
        start_response("405 Method Not Allowed", [
            ("Content-Type", "application/json"), ("Allow", "GET, HEAD"), ("Content-Length", str(len(body))),
        ])
        return [body]

    return guarded


def start(run_dir: Path, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> DashboardServer:
    """Opens the run's study and binds optuna-dashboard to ``host:port`` (0: any free port).

    Nothing is served until :meth:`DashboardServer.serve_forever` (or the
    ``with`` block) runs.

    Raises:
        UsageError: ``run_dir`` holds no readable study (:func:`open_study_storage`),
            or ``host:port`` cannot be listened on (the port is taken, the
            host is not this machine's).
    """
    import optuna_dashboard

    run_dir = run_dir.expanduser()
    storage = open_study_storage(run_dir)
    app = read_only(optuna_dashboard.wsgi(storage))
    server = _bind(host, port)
    server.set_app(app)
    try:
        study_id: int | None = storage.get_study_id_from_name(STUDY_NAME)
    except KeyError:  # the search has not created it yet; optuna-dashboard lists it once it has
        study_id = None
    return DashboardServer(server, host=host, run_dir=run_dir, study_id=study_id)


def _bind(host: str, port: int) -> WSGIServer:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, but got {port}.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("_BoundServer", (_Server,), {"address_family": family})
    try:
        return server_class((host, port), _QuietHandler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"Port {port} on {host} is in use (another dashboard?). Pass a free one, "
                             f"e.g. --port {port + 1 if port < 65535 else 8081}.") from None
        if exc.errno == errno.EACCES:
            raise UsageError(f"Port {port} needs administrator rights. Pass --port 1024 or above, e.g. "
                             f"--port {DEFAULT_PORT}.") from None
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            f"Cannot listen on --host {host} ({reason.lower()}). Pass an address of this machine, e.g. "
            f"--host {DEFAULT_HOST} (this machine only) or --host 0.0.0.0 (every network)."
        ) from None


def serve(
    run_dir: Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[DashboardServer], None] | None = None,
) -> None:
    """Serves optuna-dashboard over the run's study until Ctrl-C.

    Works while the search runs (the view follows it) and afterwards.

    Args:
        run_dir: A run directory (``fg-runs/<task>-<timestamp>``).
        host: Address to listen on; the default, loopback, lets only this
            machine in (optuna-dashboard has no sign-in).
        port: Port to listen on; 0 picks a free one.
        on_ready: Called with the bound server (its ``url``) before serving.

    Raises:
        UsageError: See :func:`start`.
    """
    server = start(run_dir, host=host, port=port)
    # Optuna's notes on what it computes for a page (few trials for an importance...): not the user's to fix.
    warnings.filterwarnings("ignore", module=r"optuna(_dashboard)?(\.|$)")
    try:
        if on_ready is not None:
            on_ready(server)
        server.serve_forever()
    finally:
        server.shutdown()
