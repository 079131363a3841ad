"""Airflow 3 plugin: the hq-sync status page and its JSON twin (issue #7, product.md D4).

A FastAPI app mounted in the API server under ``/hq-sync`` (``fastapi_apps``) and a navigation
entry that shows the page inside the Airflow UI (``external_views``, under *Browse*):

- ``GET /hq-sync/status``               the page (per tenant and source: last run, next run,
                                         counts, open quarantine by reason, conflicts, broken files)
- ``GET /hq-sync/status.json``          the same data for monitoring tools
- ``GET /hq-sync/status/quarantine``    drill-down to the records (``?tenant=&source=&reason=``)
- ``GET /hq-sync/status/quarantine.json``  (the drill-down groups the records by what fixes them)
- ``GET /hq-sync/status/charts?tenant=&source=|dag_id=``  charts per tenant and source (issue 15);
                                         also the "Sync charts" tab of every DAG page
- ``GET /hq-sync/status/audit[.json|.csv|.xlsx]?tenant=``  drift audit drill-down and exports (docs/audit.md)
- ``GET /hq-sync/timesheets``, ``POST /hq-sync/timesheets/upload``  timesheet imports and upload (docs/timesheets.md)

Authentication is Airflow's own: the same JWT as the rest of the UI (the ``_token`` cookie the UI
sets at login, or ``Authorization: Bearer`` for tools), validated by the auth manager through
Airflow's ``get_user`` dependency; the user must be allowed to read DAGs. That token is forwarded to
Airflow's REST API for the run data, so the page never shows more than the user may see there.
Data comes from the staging database and the REST API, never from Airflow's metadata database.

All logic lives in the library (``hq_sync.ops.status``, ``hq_sync.ops.status_html``); this file
only wires it into Airflow. See docs/operations.md.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Any
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

log = logging.getLogger(__name__)

URL_PREFIX = "/hq-sync"


def _staging_engine() -> Any:
    """The staging engine (resolved like the tasks do: env, connection, SQLite), created once per
    process and shared with the webhook receiver (``hq_sync.airflow.hooks.shared_staging_engine``)."""
    from hq_sync.airflow.hooks import shared_staging_engine

    return shared_staging_engine()


def _airflow_base_url(request: Request) -> str:
    """Where this API server answers (for the REST calls): env, ``[api] base_url``, the request."""
    explicit = os.environ.get("HQ_SYNC_AIRFLOW_URL")
    if explicit:
        return explicit.rstrip("/")
    from airflow.configuration import conf

    configured = conf.get("api", "base_url", fallback="") or ""
    if configured.startswith("http"):
        return configured.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def _ui_base() -> str:
    """The UI's path prefix (``[api] base_url``'s path, e.g. '' or '/airflow')."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("_token")


async def require_dag_reader(request: Request) -> Any:
    """Airflow's own authentication (JWT from header or UI cookie), then: may the user read DAGs."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    header = request.headers.get("authorization", "")
    credentials = None
    if header.lower().startswith("bearer "):
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=header[7:].strip())
    user = await get_user(request, None, credentials)  # raises 401/403 like every Airflow endpoint
    if not get_auth_manager().is_authorized_dag(method="GET", user=user):
        raise HTTPException(status_code=403, detail="reading DAGs is not allowed for this user")
    return user


User = Annotated[Any, Depends(require_dag_reader)]


async def require_dag_runner(request: Request) -> Any:
    """Like ``require_dag_reader``, for writes that start DAG runs (a timesheet upload)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    user = await require_dag_reader(request)
    if not get_auth_manager().is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN, user=user):
        raise HTTPException(status_code=403, detail="starting DAG runs is not allowed for this user")
    return user


def _report(request: Request) -> Any:
    from hq_sync.ops.airflow_api import AirflowApi
    from hq_sync.ops.status import build_status

    api = AirflowApi(_airflow_base_url(request), token=_token(request), timeout=20)
    return build_status(_staging_engine(), api, ui_base=_ui_base())


def _esc(text: str) -> str:
    from html import escape

    return escape(text)


def _tenant_source(dag_id: str) -> tuple[str | None, str | None]:
    """The tenant and source of a sync DAG id (``personio_absences__acme`` → acme, personio)."""
    from hq_sync.kinds import SOURCES, kind_of_dag_id

    found = kind_of_dag_id(dag_id, SOURCES)
    return (found[1], found[0].id) if found else (None, None)


def _add_login_redirect(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _refused(request: Request, exc: HTTPException) -> Any:
        # A person without a session is sent to the login page; tools get the status code.
        wants_html = "text/html" in request.headers.get("accept", "") and not request.url.path.endswith(".json")
        if exc.status_code == 401 and wants_html:
            from airflow.api_fastapi.app import get_auth_manager

            try:
                login = get_auth_manager().get_url_login(next_url=str(request.url))
            except Exception:  # noqa: BLE001 - any auth manager without a next_url
                login = get_auth_manager().get_url_login()
            return RedirectResponse(login, status_code=302)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


def _add_status_routes(app: FastAPI) -> None:
    @app.get("/status", response_class=HTMLResponse)
    def status_page(request: Request, user: User) -> HTMLResponse:
        from hq_sync.ops.audit_status import audit_section
        from hq_sync.ops.status_html import render_status

        extra = [audit_section(_staging_engine(), base=URL_PREFIX)]  # drift audit + timesheets (issue 16)
        return HTMLResponse(render_status(_report(request), base=URL_PREFIX, ui_base=_ui_base(), extra_sections=extra))

    @app.get("/status.json")
    def status_json(request: Request, user: User) -> JSONResponse:
        return JSONResponse(_report(request).as_dict())


def _causes_json(groups: list[Any]) -> list[dict[str, Any]]:
    """The quarantine groups for JSON: each cause with its records' source ids instead of the records."""
    return [
        {
            **{k: v for k, v in g.as_dict().items() if k != "causes"},
            "causes": [
                {k: v for k, v in c.items() if k != "items"} | {"source_ids": [i["source_id"] for i in c["items"]]}
                for c in g.as_dict()["causes"]
            ],
        }
        for g in groups
    ]


def _add_quarantine_routes(app: FastAPI) -> None:
    def _items(tenant: str, source: str | None, reason: str | None, limit: int) -> list[dict[str, Any]]:
        from hq_sync.ops.status import quarantine_items

        with _staging_engine().connect() as conn:
            return quarantine_items(conn, tenant, source or None, reason or None, limit=limit)

    @app.get("/status/quarantine", response_class=HTMLResponse)
    def quarantine_page(
        user: User,
        tenant: str,
        source: str | None = None,
        reason: str | None = None,
        limit: Annotated[int, Query(ge=1, le=20000)] = 20000,
    ) -> HTMLResponse:
        from hq_sync.ops.status import quarantine_causes
        from hq_sync.ops.status_html import render_quarantine

        with _staging_engine().connect() as conn:
            groups = quarantine_causes(conn, tenant, source or None, reason or None, limit=limit)
        return HTMLResponse(render_quarantine(groups, tenant=tenant, source=source, reason=reason, base=URL_PREFIX))

    @app.get("/status/quarantine.json")
    def quarantine_json(
        user: User,
        tenant: str,
        source: str | None = None,
        reason: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> JSONResponse:
        from hq_sync.ops.status import quarantine_causes

        with _staging_engine().connect() as conn:
            causes = _causes_json(quarantine_causes(conn, tenant, source or None, reason or None, limit=20000))
        return JSONResponse(
            {
                "tenant": tenant,
                "source": source,
                "reason": reason,
                "items": _items(tenant, source, reason, limit),
                "causes": causes,
            }
        )


def _add_chart_routes(app: FastAPI) -> None:
    @app.get("/status/charts", response_class=HTMLResponse)
    def charts_page(
        request: Request,
        user: User,
        tenant: str | None = None,
        source: str | None = None,
        dag_id: str | None = None,
        runs: Annotated[int, Query(ge=1, le=100)] = 30,
        days: Annotated[float | None, Query(gt=0, le=366)] = None,
    ) -> HTMLResponse:
        """Charts per tenant and source (issue 15); ``dag_id``: the DAG tab of a sync DAG."""
        from hq_sync.ops.airflow_api import AirflowApi
        from hq_sync.ops.status import charts_data
        from hq_sync.ops.status_html import render_charts

        if dag_id:
            tenant, source = _tenant_source(dag_id)
            if tenant is None:
                return HTMLResponse(
                    f"<p style='font-family:sans-serif'>{_esc(dag_id)} is not a sync DAG of hq-sync: "
                    "charts are shown for the personio/awork/hq_to_awork/timesheets DAGs of a tenant.</p>"
                )
        if not tenant:
            raise HTTPException(status_code=422, detail="give tenant (and optionally source) or dag_id")
        api = AirflowApi(_airflow_base_url(request), token=_token(request), timeout=20)
        data = charts_data(_staging_engine(), api, tenant, source, runs=runs, days=days)
        return HTMLResponse(
            render_charts(
                data["histories"],
                tenant=tenant,
                display_name=data["display_name"],
                source=source,
                runs=runs,
                days=days,
                config_note=data["config_note"],
                base=URL_PREFIX,
                ui_base=_ui_base(),
            )
        )


def create_app() -> FastAPI:
    app = FastAPI(title="hq-sync status", description="Sync status of every hq-sync tenant and source.")
    _add_login_redirect(app)
    _add_status_routes(app)
    _add_quarantine_routes(app)
    _add_chart_routes(app)

    from hq_sync.ops.audit_status import register_routes  # drift audit drill-down/exports, timesheets (issue 16)

    register_routes(
        app,
        reader=require_dag_reader,
        writer=require_dag_runner,
        engine=_staging_engine,
        prefix=URL_PREFIX,
        ui_base=_ui_base,
    )

    @app.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse(f"{URL_PREFIX}/status")

    return app


class HqSyncStatusPlugin(AirflowPlugin):
    name = "hq_sync_status"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "hq-sync status"}]
    external_views = [
        {
            "name": "Sync status",
            "href": f"{URL_PREFIX}/status",
            "destination": "nav",
            "category": "browse",
            "url_route": "hq-sync-status",
        },
        {  # a tab on every DAG's page: the charts of its tenant source (issue 15)
            "name": "Sync charts",
            "href": f"{URL_PREFIX}/status/charts?dag_id={{DAG_ID}}",
            "destination": "dag",
            "url_route": "hq-sync-charts",
        },
    ]


__all__ = ["HqSyncStatusPlugin", "create_app"]
