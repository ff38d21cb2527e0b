"""What the provisioning custom resource does, given an AWS Managed Grafana client and a way to reach the API.

On Create and Update: a short-lived token of the workspace's `lakewatch-provisioner` service account (created
once, an admin of the workspace), then the Athena data source, the `lakewatch` folder and every dashboard,
create-or-update; dashboards an update no longer carries are deleted. On Delete: the dashboards, the folder and
the data source. The token lives minutes and is deleted when done, whatever happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grafana_provisioner.grafana_api import GrafanaApi

SERVICE_ACCOUNT = "lakewatch-provisioner"
TOKEN_SECONDS = 600
FOLDER_UID = "lakewatch"
FOLDER_TITLE = "lakewatch"


@dataclass(frozen=True, slots=True)
class Desired:
    """The resource's properties: the workspace, the data source and the dashboards (JSON text each)."""

    workspace_id: str
    endpoint: str
    datasource: dict[str, Any]
    dashboards: tuple[dict[str, Any], ...]

    @classmethod
    def from_properties(cls, properties: dict[str, Any]) -> Desired:
        return cls(
            workspace_id=properties["WorkspaceId"],
            endpoint=properties["Endpoint"],
            datasource=json.loads(properties["DataSource"]),
            dashboards=tuple(json.loads(text) for text in properties["Dashboards"]),
        )

    @property
    def base_url(self) -> str:
        return self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}"

    @property
    def dashboard_uids(self) -> set[str]:
        return {dashboard["uid"] for dashboard in self.dashboards}


def _service_account_id(grafana: Any, workspace_id: str) -> str:
    listed = grafana.list_workspace_service_accounts(workspaceId=workspace_id).get("serviceAccounts", [])
    for account in listed:
        if account["name"] == SERVICE_ACCOUNT:
            return str(account["id"])
    created = grafana.create_workspace_service_account(
        workspaceId=workspace_id, name=SERVICE_ACCOUNT, grafanaRole="ADMIN"
    )
    return str(created["id"])


def with_api(
    grafana: Any, desired: Desired, api_for: Callable[[str, str], GrafanaApi], action: Callable[[GrafanaApi], None]
) -> None:
    """Run `action` with an API client authenticated by a fresh short-lived token, deleted afterwards."""
    account_id = _service_account_id(grafana, desired.workspace_id)
    token = grafana.create_workspace_service_account_token(
        workspaceId=desired.workspace_id, serviceAccountId=account_id, name=f"{SERVICE_ACCOUNT}-deploy",
        secondsToLive=TOKEN_SECONDS,
    )  # fmt: skip
    try:
        action(api_for(desired.base_url, token["serviceAccountToken"]["key"]))
    finally:
        grafana.delete_workspace_service_account_token(
            workspaceId=desired.workspace_id, serviceAccountId=account_id, tokenId=token["serviceAccountToken"]["id"]
        )


def apply(api: GrafanaApi, desired: Desired, previous: Desired | None = None) -> None:
    api.upsert_datasource(desired.datasource)
    api.ensure_folder(FOLDER_UID, FOLDER_TITLE)
    for dashboard in desired.dashboards:
        api.put_dashboard(dashboard, FOLDER_UID)
    if previous is not None:
        for uid in sorted(previous.dashboard_uids - desired.dashboard_uids):
            api.delete_dashboard(uid)


def remove(api: GrafanaApi, desired: Desired) -> None:
    for uid in sorted(desired.dashboard_uids):
        api.delete_dashboard(uid)
    api.delete_folder(FOLDER_UID)
    api.delete_datasource(desired.datasource["uid"])


def on_event(event: dict[str, Any], grafana: Any, api_for: Callable[[str, str], GrafanaApi] = GrafanaApi) -> str:
    """Handle one CloudFormation custom resource event; returns the physical resource id."""
    desired = Desired.from_properties(event["ResourceProperties"])
    physical_id = f"{desired.workspace_id}/{FOLDER_UID}"
    request = event["RequestType"]
    if request == "Delete":
        with_api(grafana, desired, api_for, lambda api: remove(api, desired))
        return event.get("PhysicalResourceId", physical_id)
    previous = None
    if request == "Update":
        previous = Desired.from_properties(event["OldResourceProperties"])
    with_api(grafana, desired, api_for, lambda api: apply(api, desired, previous))
    return physical_id
