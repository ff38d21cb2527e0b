"""The few Grafana HTTP API calls the provisioning makes, over the standard library (no dependency).

Create-or-update everywhere (a data source by uid, a folder by uid, dashboards with `overwrite`), and deletes
that treat "not found" as done, so a repeated deploy or delete converges instead of failing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 15


class GrafanaError(RuntimeError):
    """Grafana answered with an error status: the method, path and status (never the token)."""


class GrafanaApi:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token

    def _call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310  the URL is the workspace endpoint, always https in AWS
            f"{self.base_url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
                     "Accept": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as error:
            if missing_ok and error.code == 404:
                return None
            raise GrafanaError(f"{method} {path}: HTTP {error.code}") from None
        return json.loads(payload) if payload else {}

    # ------------------------------------------------------------------------------------------ data sources
    def upsert_datasource(self, datasource: dict[str, Any]) -> None:
        uid = datasource["uid"]
        if self._call("GET", f"/api/datasources/uid/{uid}", missing_ok=True) is None:
            self._call("POST", "/api/datasources", datasource)
        else:
            self._call("PUT", f"/api/datasources/uid/{uid}", datasource)

    def delete_datasource(self, uid: str) -> None:
        self._call("DELETE", f"/api/datasources/uid/{uid}", missing_ok=True)

    # --------------------------------------------------------------------------------------------- folders
    def ensure_folder(self, uid: str, title: str) -> None:
        if self._call("GET", f"/api/folders/{uid}", missing_ok=True) is None:
            self._call("POST", "/api/folders", {"uid": uid, "title": title})

    def delete_folder(self, uid: str) -> None:
        self._call("DELETE", f"/api/folders/{uid}", missing_ok=True)

    # ------------------------------------------------------------------------------------------ dashboards
    def put_dashboard(self, dashboard: dict[str, Any], folder_uid: str) -> None:
        body = {"dashboard": {**dashboard, "id": None}, "folderUid": folder_uid, "overwrite": True,
                "message": "lakewatch deploy"}  # fmt: skip
        self._call("POST", "/api/dashboards/db", body)

    def delete_dashboard(self, uid: str) -> None:
        self._call("DELETE", f"/api/dashboards/uid/{uid}", missing_ok=True)
