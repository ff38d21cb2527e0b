"""What a dashboard is made of, independent of who draws it (Grafana on AWS, or the local report), and the panel
SQL files it points at. Standard library only: the CDK app renders the dashboards too.

Panel SQL lives once, in `dashboards/sql/<dashboard>/<panel>.sql` (Athena/Trino SQL with the Grafana Athena
data source's macros, see `macros.py`). A line `-- include: <name>` stands for `sql/shared/<name>.sql`, the
common table expressions several panels (and saved queries) share, such as one de-duplication of sales or runs
and the outlier rule, so each is written once; the SQL Grafana receives, and the SQL the local report runs, is
the file with its includes expanded by `lakewatch.athena_sql.expand_includes`, the expander the saved queries use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lakewatch.athena_sql import SHARED_SQL_DIR, expand_includes

#: The repository's `dashboards/sql/` folder, wherever the process was started from.
SQL_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "sql"
#: Grafana's grid is 24 columns wide.
GRID_COLUMNS = 24

PanelKind = Literal["timeseries", "barchart", "stat", "table", "matrix"]


def load_sql(dashboard: str, name: str, sql_dir: Path = SQL_DIR, fragments_dir: Path = SHARED_SQL_DIR) -> str:
    """`dashboards/sql/<dashboard>/<name>.sql` with its includes expanded."""
    text = (sql_dir / dashboard / f"{name}.sql").read_text(encoding="utf-8")
    return expand_includes(text, fragments_dir, source=f"{dashboard}/{name}.sql")


@dataclass(frozen=True, slots=True)
class Series:
    """How one result column is drawn where it is not drawn like the others."""

    color: str | None = None
    #: Drawn as separate markers (e.g. outliers), not joined by a line.
    points: bool = False
    dashed: bool = False
    label: str | None = None
    #: Grafana unit id of this column when it differs from the panel's (a stat panel's tiles).
    unit: str | None = None
    #: Another column of the panel: the area between this series and that one is filled, the way an interval
    #: (upper bound filled down to the lower bound) is drawn as a band.
    fill_below_to: str | None = None


@dataclass(frozen=True, slots=True)
class Panel:
    """One panel: its SQL file (`name`), what it shows and how it is drawn."""

    name: str
    title: str
    kind: PanelKind
    description: str
    width: int = 12
    height: int = 8
    #: Grafana unit id of the values (`currencyUSD`, `h`, `percentunit`, ...); `unit_variable` overrides it with a
    #: dashboard variable's text (the minutes/hours switch).
    unit: str = "none"
    #: Result columns: the category (bar charts, tables keyed by it), and for `matrix` the (x, y, value) columns.
    category: str | None = None
    matrix: tuple[str, str, str] | None = None
    series: dict[str, Series] = field(default_factory=dict)
    stacked: bool = False
    horizontal: bool = False
    #: A column whose cells link to the client investigation dashboard (tables of client jobs).
    links_to_investigation: bool = False
    decimals: int | None = None

    @property
    def is_time_series(self) -> bool:
        return self.kind == "timeseries"

    def band_edges(self) -> frozenset[str]:
        """The columns that bound a filled band (both ends of every `fill_below_to`): drawn as the band's edge only,
        without a line of their own, so the band reads as one shape behind the lines."""
        return frozenset(
            name
            for column, style in self.series.items()
            if style.fill_below_to
            for name in (column, style.fill_below_to)
        )

    def display_name(self, column: str) -> str:
        """What a column is called on screen: its label, else its name (Grafana matches `fillBelowTo` on it)."""
        style = self.series.get(column)
        return (style.label if style else None) or column


@dataclass(frozen=True, slots=True)
class Variable:
    """A dashboard variable: a query over the lake (its SQL file `var_<name>.sql`) or fixed options."""

    name: str
    label: str
    #: (text, value) pairs of a custom variable; None for a query variable.
    options: tuple[tuple[str, str], ...] | None = None

    @property
    def sql_name(self) -> str:
        return f"var_{self.name}"


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A dashboard: its `uid` (stable: alert links and bookmarks point at it), panels in reading order."""

    name: str
    uid: str
    title: str
    audience: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = ()
    default_range_days: int = 30

    def sql(self, panel: Panel | Variable, sql_dir: Path = SQL_DIR) -> str:
        return load_sql(self.name, panel.sql_name if isinstance(panel, Variable) else panel.name, sql_dir)

    def grid(self) -> list[tuple[Panel, dict[str, int]]]:
        """Each panel with its grid position: left to right in reading order, a new row when the next is too wide."""
        placed: list[tuple[Panel, dict[str, int]]] = []
        x = y = row_height = 0
        for panel in self.panels:
            if x + panel.width > GRID_COLUMNS:
                x, y, row_height = 0, y + row_height, 0
            placed.append((panel, {"h": panel.height, "w": panel.width, "x": x, "y": y}))
            x += panel.width
            row_height = max(row_height, panel.height)
        return placed
