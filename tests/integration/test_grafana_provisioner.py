"""The Grafana provisioning custom resource against a real local HTTP server standing in for the Grafana API
(and for CloudFormation's response URL): the requests it makes, an idempotent update, a clean delete, the
short-lived token always deleted, and every outcome reported to CloudFormation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from grafana_provisioner import handler
from grafana_provisioner.provision import FOLDER_UID, SERVICE_ACCOUNT, on_event

from lakewatch.dashboards.definitions import DASHBOARDS
from lakewatch.dashboards.grafana import DATASOURCE_UID, dashboard_json

TOKEN = "glsa_test-token"


class FakeGrafana(ThreadingHTTPServer):
    """Grafana's data source, folder and dashboard endpoints over dictionaries; every request recorded."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.datasources: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.responses: list[dict] = []  # CloudFormation responses PUT to /cfn-response
        self.fail_dashboards = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any = None) -> None:
        payload = json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def _route(self, method: str) -> None:  # noqa: C901  one fake API, one dispatch
        server, path = self.server, self.path
        body = self._body()
        server.requests.append((method, path))
        if path == "/cfn-response":
            server.responses.append(body)
            return self._reply(200)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"message": "Unauthorized"})
        stores = {"/api/datasources/uid/": server.datasources, "/api/folders/": server.folders,
                  "/api/dashboards/uid/": server.dashboards}  # fmt: skip
        for prefix, store in stores.items():
            if path.startswith(prefix):
                uid = path[len(prefix) :]
                if uid not in store:
                    return self._reply(404, {"message": "not found"})
                if method == "GET":
                    return self._reply(200, store[uid])
                if method == "PUT":
                    store[uid] = body
                    return self._reply(200, {"message": "updated"})
                if method == "DELETE":
                    del store[uid]
                    return self._reply(200, {"message": "deleted"})
        if method == "POST" and path == "/api/datasources":
            if body["uid"] in server.datasources:
                return self._reply(409, {"message": "exists"})
            server.datasources[body["uid"]] = body
            return self._reply(200, {"id": 1})
        if method == "POST" and path == "/api/folders":
            server.folders[body["uid"]] = body
            return self._reply(200, {"uid": body["uid"]})
        if method == "POST" and path == "/api/dashboards/db":
            if server.fail_dashboards:
                return self._reply(500, {"message": "boom"})
            assert body["overwrite"] is True and body["dashboard"]["id"] is None
            server.dashboards[body["dashboard"]["uid"]] = body
            return self._reply(200, {"status": "success"})
        return self._reply(404, {"message": f"no route {method} {path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class FakeManagedGrafana:
    """The `grafana` boto3 client's service-account calls, recording tokens made and deleted."""

    def __init__(self) -> None:
        self.accounts: list[dict] = []
        self.tokens_created: list[dict] = []
        self.tokens_deleted: list[str] = []

    def list_workspace_service_accounts(self, *, workspaceId: str) -> dict:
        return {"serviceAccounts": list(self.accounts)}

    def create_workspace_service_account(self, *, workspaceId: str, name: str, grafanaRole: str) -> dict:
        account = {"id": f"sa-{len(self.accounts) + 1}", "name": name, "grafanaRole": grafanaRole}
        self.accounts.append(account)
        return account

    def create_workspace_service_account_token(self, **kwargs: Any) -> dict:
        self.tokens_created.append(kwargs)
        return {"serviceAccountToken": {"id": f"tok-{len(self.tokens_created)}", "key": TOKEN, "name": kwargs["name"]}}

    def delete_workspace_service_account_token(self, *, workspaceId: str, serviceAccountId: str, tokenId: str) -> dict:
        self.tokens_deleted.append(tokenId)
        return {}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


DATASOURCE = {"uid": DATASOURCE_UID, "name": "lakewatch Athena", "type": "grafana-athena-datasource",
              "access": "proxy", "jsonData": {"authType": "ec2_iam_role", "workgroup": "lakewatch-prod"}}  # fmt: skip


def _properties(grafana: FakeGrafana, dashboards: list[dict] | None = None, **datasource: Any) -> dict:
    models = dashboards if dashboards is not None else [dashboard_json(d) for d in DASHBOARDS]
    return {
        "ServiceToken": "arn:aws:lambda:eu-west-1:1:function:x",
        "WorkspaceId": "g-123",
        "Endpoint": grafana.url,
        "DataSource": json.dumps({**DATASOURCE, **datasource}),
        "Dashboards": [json.dumps(m) for m in models],
    }


def _event(grafana: FakeGrafana, request: str, properties: dict, old: dict | None = None) -> dict:
    event = {
        "RequestType": request,
        "ResponseURL": f"{grafana.url}/cfn-response",
        "StackId": "stack",
        "RequestId": "req",
        "LogicalResourceId": "GrafanaProvisioning",
        "ResourceProperties": properties,
    }
    if request != "Create":
        event["PhysicalResourceId"] = "g-123/lakewatch"
    if old is not None:
        event["OldResourceProperties"] = old
    return event


def test_create_provisions_the_data_source_folder_and_every_dashboard(grafana: FakeGrafana) -> None:
    managed = FakeManagedGrafana()
    assert on_event(_event(grafana, "Create", _properties(grafana)), managed) == "g-123/lakewatch"
    assert grafana.datasources[DATASOURCE_UID]["jsonData"]["workgroup"] == "lakewatch-prod"
    assert set(grafana.folders) == {FOLDER_UID}
    assert set(grafana.dashboards) == {d.uid for d in DASHBOARDS}
    assert {body["folderUid"] for body in grafana.dashboards.values()} == {FOLDER_UID}
    # One admin service account, one token of minutes, deleted once used.
    assert managed.accounts == [{"id": "sa-1", "name": SERVICE_ACCOUNT, "grafanaRole": "ADMIN"}]
    assert [token["secondsToLive"] for token in managed.tokens_created] == [600]
    assert managed.tokens_deleted == ["tok-1"]


def test_update_is_idempotent_and_removes_dashboards_no_longer_shipped(grafana: FakeGrafana) -> None:
    managed = FakeManagedGrafana()
    first = _properties(grafana)
    on_event(_event(grafana, "Create", first), managed)
    before = json.dumps([grafana.datasources, grafana.folders, grafana.dashboards], sort_keys=True)
    # The same properties again: the same state, the data source updated in place (PUT, not a second POST).
    grafana.requests.clear()
    on_event(_event(grafana, "Update", first, old=first), managed)
    assert json.dumps([grafana.datasources, grafana.folders, grafana.dashboards], sort_keys=True) == before
    assert ("PUT", f"/api/datasources/uid/{DATASOURCE_UID}") in grafana.requests
    assert ("POST", "/api/datasources") not in grafana.requests
    assert ("POST", "/api/folders") not in grafana.requests
    # A later version ships one dashboard fewer and another workgroup.
    fewer = _properties(grafana, [dashboard_json(d) for d in DASHBOARDS[:3]], jsonData={"workgroup": "lakewatch-dev"})
    on_event(_event(grafana, "Update", fewer, old=first), managed)
    assert set(grafana.dashboards) == {d.uid for d in DASHBOARDS[:3]}
    assert grafana.datasources[DATASOURCE_UID]["jsonData"] == {"workgroup": "lakewatch-dev"}
    assert len(managed.accounts) == 1  # the service account is reused
    assert managed.tokens_deleted == ["tok-1", "tok-2", "tok-3"]


def test_delete_removes_everything_and_tolerates_what_is_already_gone(grafana: FakeGrafana) -> None:
    managed = FakeManagedGrafana()
    properties = _properties(grafana)
    on_event(_event(grafana, "Create", properties), managed)
    del grafana.dashboards[DASHBOARDS[0].uid]  # someone deleted one by hand
    on_event(_event(grafana, "Delete", properties), managed)
    assert (grafana.datasources, grafana.folders, grafana.dashboards) == ({}, {}, {})
    on_event(_event(grafana, "Delete", properties), managed)  # a retried delete: nothing left, no error


def test_the_handler_reports_success_and_failure_to_cloudformation(grafana: FakeGrafana, monkeypatch) -> None:
    managed = FakeManagedGrafana()
    monkeypatch.setattr(handler, "grafana_client", lambda: managed)
    context = type("Context", (), {"function_name": "p", "memory_limit_in_mb": 128, "aws_request_id": "r",
                                   "invoked_function_arn": "arn"})()  # fmt: skip
    handler.handler(_event(grafana, "Create", _properties(grafana)), context)
    grafana.fail_dashboards = True
    handler.handler(_event(grafana, "Update", _properties(grafana), old=_properties(grafana)), context)
    handler.handler(_event(grafana, "Delete", _properties(grafana)), context)
    statuses = [(response["Status"], response["PhysicalResourceId"]) for response in grafana.responses]
    assert statuses == [("SUCCESS", "g-123/lakewatch"), ("FAILED", "g-123/lakewatch"), ("SUCCESS", "g-123/lakewatch")]
    assert "HTTP 500" in grafana.responses[1]["Reason"]
    assert TOKEN not in json.dumps(grafana.responses)
    assert managed.tokens_deleted == ["tok-1", "tok-2", "tok-3"]  # deleted even when the calls failed
