"""Jobs the benchmarks enqueue (importable by worker subprocesses as ``bench_jobs``)."""

from __future__ import annotations

import goodjob


class NoopJob(goodjob.Job):
    async def perform(self) -> None:
        return None
