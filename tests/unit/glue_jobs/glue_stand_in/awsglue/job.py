"""`Job` as Glue's: `init` starts a run (and its bookmark state), `commit` records what the run read."""

from __future__ import annotations

import sys
from typing import Any

#: Job bookmarks by job name: the (URI, ETag) of every object a committed run has read, per transformation_ctx.
BOOKMARKS: dict[str, dict[str, set[tuple[str, str]]]] = {}


class Job:
    def __init__(self, glue_context: Any) -> None:
        self._context = glue_context
        self._name: str | None = None

    def init(self, job_name: str, args: dict[str, str] | None = None) -> None:
        self._name = job_name
        option = "job-bookmark-disable"
        if "--job-bookmark-option" in sys.argv:
            option = sys.argv[sys.argv.index("--job-bookmark-option") + 1]
        self._context._start_run(job_name, bookmarks_enabled=option == "job-bookmark-enable")

    def commit(self) -> None:
        if self._name is None:
            raise RuntimeError("Job.commit() before Job.init()")
        self._context._commit_run(BOOKMARKS.setdefault(self._name, {}))
