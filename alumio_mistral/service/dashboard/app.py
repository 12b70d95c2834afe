"""The dashboard's WSGI application: pages rendered on the server, actions as POSTs.

``ServiceApp`` hands it ``/`` and the paths in :data:`PREFIXES`. Pages are Jinja2 templates;
each wraps its changing part in an element that htmx (shipped in ``static/``) fetches again
every few seconds, so the page follows the work without a script of ours. Retry and resolve
apply the rules of ``tasks retry``/``tasks resolve`` (:mod:`alumio_mistral.tasks.actions`).
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from alumio_mistral.errors import AlumioError
from alumio_mistral.schedule import Schedule
from alumio_mistral.secrets import redact
from alumio_mistral.service.dashboard import views
from alumio_mistral.service.dashboard.security import CSRF_FIELD, CSRF_HEADER, Guard
from alumio_mistral.tasks import actions
from alumio_mistral.tasks.store import STATUSES, TaskStore, TaskStoreError

log = logging.getLogger("alumio_mistral.serve.dashboard")

StartResponse = Callable[..., Any]
#: the paths the dashboard answers (``/`` itself too); everything else stays ``ServiceApp``'s
PREFIXES = ("/tasks", "/schedules", "/project", "/login", "/actions/", "/static/")
#: the largest form an action may post (ids, a note)
MAX_FORM_BYTES = 64 * 1024
#: how the dashboard asks for the risk of sending review tasks again to be confirmed
CONFIRM_REVIEW = "tick the box that names this risk to send it again anyway"

_REASONS = {200: "OK", 303: "See Other", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large"}


#: pages load only what the package ships (the chart's SVG is inline markup, not a script)
_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"


class Dashboard:
    """The pages and actions of one project's dashboard, over its store."""

    def __init__(
        self,
        *,
        store: TaskStore,
        project: Any,
        publish: Callable[[list[int]], Any],
        requests: Callable[[Any], list[dict[str, Any]]],
        breakers: Callable[[], Mapping[str, str]] = dict,
        schedules: Mapping[str, Schedule] | None = None,
        sections: Sequence[views.Section] = (),
        token: str | None = None,
        poll_seconds: float = 3.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.store = store
        self.project = project
        self._publish = publish
        self._requests = requests
        self._breakers = breakers
        self._schedules = dict(schedules or {})
        self._sections = list(sections)
        self.guard = Guard(token)
        self.poll_seconds = poll_seconds
        self._clock = clock
        self._hourly = views.HourlyCounts()
        self._templates = Environment(loader=PackageLoader("alumio_mistral.service.dashboard", "templates"),
                                      autoescape=select_autoescape(default=True), trim_blocks=True,
                                      lstrip_blocks=True)
        self._templates.globals["urlencode"] = urlencode

    @staticmethod
    def handles(path: str) -> bool:
        return path == "/" or path.startswith(PREFIXES)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO") or "/", environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):], start_response)
        if path == "/login":
            return self._login(environ, start_response)
        session = self.guard.session_of(environ)
        if session is None and self.guard.token is None:
            return self._text(start_response, 403, "this dashboard answers only to a loopback host name")
        if session is None:
            return self._page(start_response, "login.html", {"failed": False}, status=401)
        try:
            if method == "POST":
                return self._action(path, environ, session, start_response)
            if method not in ("GET", "HEAD"):
                return self._text(start_response, 405, "pages take GET, actions POST")
            return self._show(path, _query(environ), session, start_response)
        except AlumioError as error:
            log.warning("dashboard %s %s: %s", method, path, error)
            return self._page(start_response, "message.html", {"title": "Not done", "message": redact(str(error))},
                              status=409)

    # -- pages -------------------------------------------------------------------------------

    def _show(self, path: str, query: Mapping[str, str], session: str,
              start_response: StartResponse) -> Iterable[bytes]:
        now = self._clock()
        common = {"csrf": self.guard.csrf_token(session), "poll": self.poll_seconds,
                  "self_url": path + ("?" + urlencode(query) if query else ""),
                  "page": path.split("/")[1] or "overview",
                  "project_name": self.project.path.name}
        if path == "/":
            context = views.overview(self.store, list(self.project.outgoing), self._breakers(), self._sections,
                                     self._hourly, now)
            return self._page(start_response, "overview.html", {**common, **context})
        if path == "/tasks":
            chosen = views.TaskFilter.from_query(query)
            context = views.task_page(self.store, chosen)
            return self._page(start_response, "tasks.html", {
                **common, **context, "incomings": sorted(self.project.incoming),
                "outgoings": sorted(self.project.outgoing), "statuses": STATUSES})
        if path.startswith("/tasks/") and path[len("/tasks/"):].isdigit():
            task = self.store.get(int(path[len("/tasks/"):]))
            if task is None:
                return self._page(start_response, "message.html",
                                  {"title": "No such task", "message": f"no task with id {path[7:]}"}, status=404)
            return self._page(start_response, "task.html", {
                **common, **views.task_detail(task, self._requests),
                "review_risk": actions.review_risk([task.id]) if task.status == "review" else None})
        if path == "/schedules":
            return self._page(start_response, "schedules.html",
                              {**common, **views.schedules(self.store, self._schedules, now)})
        if path == "/project":
            return self._page(start_response, "project.html", {**common, **views.project_view(self.project.path)})
        return self._page(start_response, "message.html", {"title": "Not found", "message": f"no page {path}"},
                          status=404)

    # -- actions -----------------------------------------------------------------------------

    def _action(self, path: str, environ: dict[str, Any], session: str,
                start_response: StartResponse) -> Iterable[bytes]:
        form = _form(environ)
        if form is None:
            return self._text(start_response, 413, "form too large")
        offered = environ.get(CSRF_HEADER) or form.get(CSRF_FIELD, [""])[0]
        if not self.guard.csrf_ok(session, offered):
            return self._text(start_response, 403, "missing or wrong CSRF token: reload the page and try again")
        ids = [int(value) for value in form.get("id", []) if value.isdigit()]
        if not ids:
            return self._text(start_response, 400, "name the tasks to act on (id)")
        if path == "/actions/retry":
            self._retry(ids, confirmed=form.get("confirm_review", [""])[0] == "yes")
        elif path == "/actions/resolve":
            status, note = form.get("status", [""])[0], form.get("note", [""])[0]
            by = f"dashboard ({environ.get('REMOTE_ADDR', '?')})"
            for task_id in ids:
                self.store.resolve(task_id, status, actions.resolution(status, note, by))
        else:
            return self._text(start_response, 404, f"no action {path}")
        back = _local_path(form.get("next", [""])[0]) or f"/tasks/{ids[0]}"
        start_response("303 See Other", [("Location", back), ("Content-Length", "0")])
        return [b""]

    def _retry(self, ids: list[int], confirmed: bool) -> None:
        chosen = [self.store.get(task_id) for task_id in ids]
        missing = [task_id for task_id, task in zip(ids, chosen) if task is None]
        if missing:
            raise TaskStoreError(f"no task with id {missing[0]}")
        found = [task for task in chosen if task is not None]
        warning = actions.check_review(found, confirmed, CONFIRM_REVIEW)
        if warning:
            log.warning("dashboard retry: %s; sending again as confirmed", warning)
        actions.check_leases(self.store, found)
        self._publish(actions.requeue_for_retry(self.store, found))

    # -- login, assets, answers ----------------------------------------------------------------

    def _login(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self._page(start_response, "login.html", {"failed": False})
        form = _form(environ) or {}
        if not self.guard.accepts_login(form.get("token", [""])[0]):
            return self._page(start_response, "login.html", {"failed": True}, status=401)
        secure = environ.get("wsgi.url_scheme") == "https"
        start_response("303 See Other", [("Location", "/"), self.guard.set_cookie_header(secure),
                                         ("Content-Length", "0")])
        return [b""]

    def _static(self, name: str, start_response: StartResponse) -> Iterable[bytes]:
        folder = resources.files("alumio_mistral.service.dashboard") / "static"
        if "/" in name or name.startswith(".") or not (folder / name).is_file():
            return self._text(start_response, 404, f"no asset {name}")
        body = (folder / name).read_bytes()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "max-age=3600")])
        return [body]

    def _page(self, start_response: StartResponse, template: str, context: Mapping[str, Any],
              status: int = 200) -> list[bytes]:
        body = self._templates.get_template(template).render(**context).encode()
        start_response(f"{status} {_REASONS[status]}", [
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), ("X-Frame-Options", "DENY"),
            ("Content-Security-Policy", _POLICY)])
        return [body]

    @staticmethod
    def _text(start_response: StartResponse, status: int, message: str) -> list[bytes]:
        body = message.encode()
        start_response(f"{status} {_REASONS[status]}", [("Content-Type", "text/plain; charset=utf-8"),
                                                        ("Content-Length", str(len(body)))])
        return [body]


def _local_path(path: str) -> str | None:
    """``path`` when it stays on this site (``//host`` and ``/\\host`` lead browsers away), else ``None``."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else None


def _query(environ: Mapping[str, Any]) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _form(environ: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """The url-encoded form of a POST (``None`` when larger than :data:`MAX_FORM_BYTES`)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_FORM_BYTES:
        return None
    body = environ["wsgi.input"].read(length) if length else b""
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def dashboard_for(runtime: Any, *, token: str | None = None, schedules: Mapping[str, Schedule] | None = None,
                  breakers: Callable[[], Mapping[str, str]] | None = None, poll_seconds: float = 3.0) -> Dashboard:
    """The dashboard of a :class:`~alumio_mistral.runtime.Runtime`: retry publishes through it,
    a task's request is rebuilt by its outgoing's dry-run planner."""
    from alumio_mistral import engine

    def requests(task: Any) -> list[dict[str, Any]]:
        if task.outgoing is None:
            return []
        return [call.describe() for call in runtime.planner(task.outgoing).plan(task.entity)]

    def all_breakers() -> Mapping[str, str]:
        return {name: runtime.clients[name].breaker_state for name in runtime.project.clients}

    return Dashboard(store=runtime.store, project=runtime.project,
                     publish=lambda ids: engine.publish(runtime, task_ids=ids), requests=requests,
                     breakers=breakers or all_breakers, schedules=schedules, token=token,
                     sections=default_sections(runtime.store), poll_seconds=poll_seconds)


def default_sections(store: TaskStore) -> list[views.Section]:
    """The overview's panels filled by other parts: a part that starts reporting replaces its
    ``read=None`` here with a function returning its rows."""
    def outbox_backlog() -> Mapping[str, Any]:
        counts = store.outbox_counts()
        return {topic: f"{states.get('pending', 0)} pending, {states.get('gave_up', 0)} given up"
                for topic, states in sorted(counts.items())} or {"messages": "none"}

    return [views.Section("Open batch jobs"),
            views.Section("Logging outbox backlog", outbox_backlog if hasattr(store, "outbox_counts") else None)]
