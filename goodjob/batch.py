"""``goodjob.Batch``: group jobs, then run callback jobs when they are all done.

Like GoodJob's ``GoodJob::Batch``::

    async with goodjob.Batch({"user_id": 7}, description="import", on_finish=ImportDone,
                             on_success=Notify, on_discard=Alert) as batch:
        await ImportRow.perform_later(1)
        await ImportRow.perform_later(2)

    batch = await goodjob.Batch.enqueue(ImportRow.new(1), ImportRow.new(2), on_finish=ImportDone)

Every job enqueued inside the block (or passed to :meth:`Batch.add`) belongs to the batch. The
batch can finish only after the block ends, so a fast job cannot finish it while it is still being
filled. A job of the batch reaches it as ``self.batch`` and can add jobs to it
(``async with self.batch: ...`` or ``await self.batch.add(...)``): they are committed before the job
itself finishes, so the batch stays open for them. A callback job is performed as
``perform(batch, event)``: the loaded :class:`Batch` (properties, counts, times) and ``"finish"``,
``"success"`` or ``"discard"``. Semantics and storage: goodjob/core/batches.py and README.md
("Cron, batches, pauses and labels").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any
from uuid import UUID

from goodjob.core import scope
from goodjob.core.enqueue import uuid7
from goodjob.core.features import batches
from goodjob.core.features.batches import BatchRecord, CallbackSpec
from goodjob.core.runtime import get_runtime
from goodjob.core.storage.db import Connection, Executor, is_connection
from goodjob.core.types import Enqueued
from goodjob.pending import perform_all_later

__all__ = ["Batch"]


def _callback_spec(target: Any, event: str, queue: str | None, priority: int | None) -> CallbackSpec:
    cls = getattr(target, "job_class", target)  # a @goodjob.job function carries its class
    name = getattr(cls, "job_name", None)
    if isinstance(target, str):
        return CallbackSpec(target, queue or "default", priority or 0)
    if not isinstance(name, str):
        raise TypeError(f"on_{event}={target!r} must be a goodjob.Job subclass, a @goodjob.job function "
                        "or a job class name")
    return CallbackSpec(
        name, queue or str(getattr(cls, "queue_name", "default")),
        priority if priority is not None else int(getattr(cls, "priority", 0)),
        tuple(getattr(cls, "labels", ()) or ()),
    )


class Batch:
    """A batch being built, or a handle on an existing one (``self.batch``, :meth:`find`)."""

    def __init__(
        self,
        properties: Mapping[str, Any] | None = None,
        /,
        *,
        description: str | None = None,
        on_finish: Any = None,
        on_success: Any = None,
        on_discard: Any = None,
        callback_queue: str | None = None,
        callback_priority: int | None = None,
        connection: Executor | None = None,
        **more_properties: Any,
    ) -> None:
        self.id: UUID = uuid7()
        self.description = description
        self.properties: dict[str, Any] = {**(properties or {}), **more_properties}
        targets = {"finish": on_finish, "success": on_success, "discard": on_discard}
        self._callbacks = {
            event: _callback_spec(target, event, callback_queue, callback_priority)
            for event, target in targets.items() if target is not None
        }
        self._connection = connection
        self._created = False
        self._tokens: list[object] = []
        self.record: BatchRecord | None = None

    @classmethod
    def _existing(cls, batch_id: UUID, record: BatchRecord | None = None) -> Batch:
        batch = cls.__new__(cls)
        batch.id = batch_id
        batch.description = record.description if record else None
        batch.properties = dict(record.properties) if record else {}
        batch._callbacks = {}
        batch._connection = None
        batch._created = True
        batch._tokens = []
        batch.record = record
        return batch

    def __repr__(self) -> str:
        return f"<goodjob.Batch {self.id} {self.status}>"

    # --- building --------------------------------------------------------------------------------

    async def __aenter__(self) -> Batch:
        await self._ensure_created()
        self._tokens.append(scope.enter(scope.EnqueueScope(batch_id=self.id)))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        scope.leave(self._tokens.pop())
        # Closed even when the block raised: jobs it already enqueued run and must be able to finish
        # the batch. (With the caller's connection, a rollback removes batch and jobs together.)
        await self.close()

    def __enter__(self) -> Batch:
        get_runtime().run_sync(self._ensure_created)
        self._tokens.append(scope.enter(scope.EnqueueScope(batch_id=self.id)))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        scope.leave(self._tokens.pop())
        get_runtime().run_sync(self.close)

    async def add(self, *jobs: Any) -> list[Enqueued]:
        """Enqueue jobs built with ``MyJob.new(...)`` (or iterables of them) into this batch, in one
        round trip. The batch stays as it was: outside its block, add jobs before it can finish."""
        await self._ensure_created()
        pending = [p for item in jobs for p in (item if isinstance(item, Iterable) else (item,))]
        for p in pending:
            p.request.batch_id = self.id
            if p.built:  # a job not built yet takes the id from its request when it is
                p.job.batch_id = self.id
        return await perform_all_later(pending, connection=self._connection)

    def add_sync(self, *jobs: Any) -> list[Enqueued]:
        items = list(jobs)
        return get_runtime().run_sync(lambda: self.add(*items))

    @classmethod
    async def enqueue(cls, *jobs: Any, **options: Any) -> Batch:
        """Create a batch of ``jobs`` (``MyJob.new(...)``) and close it: GoodJob's ``Batch.enqueue``."""
        batch = cls(**options)
        async with batch:
            await batch.add(*jobs)
        return batch

    async def close(self) -> list[Enqueued]:
        """End the filling: from now on the batch finishes when its jobs have (maybe at once)."""
        await self._ensure_created()
        runtime = get_runtime()
        if self._connection is not None and is_connection(self._connection):
            fired = await batches.close(self._connection, self.id)
        else:
            db = await runtime.database()
            async with db.acquire() as conn:
                fired = await batches.close(conn, self.id)
        if fired and runtime.config.execution_mode == "inline" and self._connection is None:
            for job in fired:
                await runtime.perform_inline_job(job.id)
        return fired

    async def _ensure_created(self) -> None:
        if self._created:
            return
        ex = self._connection if self._connection is not None else (await get_runtime().database()).pool
        await batches.create(ex, self.id, description=self.description, properties=self.properties,
                             callbacks=self._callbacks)
        self._created = True

    # --- an existing batch -----------------------------------------------------------------------

    @classmethod
    async def find(cls, batch_id: UUID | str) -> Batch | None:
        """The batch with this id, loaded (properties, counts, times); None if there is none."""
        key = batch_id if isinstance(batch_id, UUID) else UUID(str(batch_id))
        record = await batches.find((await get_runtime().database()).pool, key)
        return cls._existing(key, record) if record is not None else None

    @classmethod
    def find_sync(cls, batch_id: UUID | str) -> Batch | None:
        return get_runtime().run_sync(lambda: cls.find(batch_id))

    async def reload(self) -> Batch:
        """Read the batch again (properties, job counts by state, times); returns self."""
        record = await batches.find(await self._executor(), self.id)
        if record is None:
            raise LookupError(f"batch {self.id} does not exist (not created yet, or cleaned up)")
        self.record = record
        self.description = record.description
        self.properties = dict(record.properties)
        return self

    def reload_sync(self) -> Batch:
        return get_runtime().run_sync(self.reload)

    async def retry(self) -> int:
        """Re-queue the batch's discarded jobs and reopen it; its callbacks may fire again."""
        return await batches.retry(await self._executor(), self.id)

    def retry_sync(self) -> int:
        return get_runtime().run_sync(self.retry)

    async def _executor(self) -> Executor | Connection:
        if self._connection is not None:
            return self._connection
        return (await get_runtime().database()).pool

    # --- what was loaded (None / 0 until reload() or find()) -------------------------------------

    @property
    def status(self) -> str:
        return self.record.status if self.record is not None else ("open" if self._created else "new")

    @property
    def enqueued_at(self) -> datetime | None:
        return self.record.enqueued_at if self.record else None

    @property
    def finished_at(self) -> datetime | None:
        return self.record.finished_at if self.record else None

    @property
    def discarded_at(self) -> datetime | None:
        return self.record.discarded_at if self.record else None

    @property
    def succeeded(self) -> bool:
        return self.record.succeeded if self.record else False

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.record.counts) if self.record else {}

    @property
    def jobs_count(self) -> int:
        return self.record.jobs_count if self.record else 0

    @property
    def finished_count(self) -> int:
        return self.record.finished_count if self.record else 0

    @property
    def discarded_count(self) -> int:
        return self.record.discarded_count if self.record else 0
