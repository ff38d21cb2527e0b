"""`python -m lakewatch.dashboards`: write the Grafana dashboard JSON files from the definitions."""

from __future__ import annotations

import sys

from lakewatch.dashboards.grafana import render_all

if __name__ == "__main__":
    for path in render_all():
        sys.stdout.write(f"{path}\n")
