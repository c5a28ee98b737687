"""A tiny HTTP health server for orchestrators (Kubernetes probes and the like).

``/status`` answers 200 while the process runs; ``/status/started`` once the pools run;
``/status/connected`` once the LISTEN connection is up; ``/metrics`` this process's Prometheus
metrics (with the ``metrics`` extra installed; see goodjob/metrics/process.py). Anything else is 404.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class ProbeServer:
    def __init__(self, port: int, worker: object, host: str = "0.0.0.0") -> None:
        self.port = port
        self.host = host
        self.worker = worker
        self._server: asyncio.Server | None = None
        self.metrics: Any = None

    async def start(self) -> None:
        try:
            from goodjob.metrics.process import ProcessMetrics
        except ImportError:  # the metrics extra is not installed: /metrics says so
            self.metrics = None
        else:
            self.metrics = ProcessMetrics(self.worker)
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def stop(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def status(self, path: str) -> tuple[int, str]:
        worker = self.worker
        if path == "/status":
            return 200, "OK"
        if path == "/status/started":
            started = bool(getattr(worker, "started", False))
            return (200, "started") if started else (503, "not started")
        if path == "/status/connected":
            connected = bool(getattr(worker, "connected", False))
            return (200, "connected") if connected else (503, "not connected")
        return 404, "not found"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5)
            parts = line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else "/"
            with contextlib.suppress(asyncio.TimeoutError):
                while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                    pass
            content_type = "text/plain"
            if path == "/metrics" and self.metrics is not None:
                code, payload = 200, self.metrics.render()
                content_type = "text/plain; version=0.0.4; charset=utf-8"
            elif path == "/metrics":
                code, payload = 404, b"metrics need prometheus-client: pip install 'goodjob-pg[metrics]'\n"
            else:
                code, body = self.status(path)
                payload = body.encode() + b"\n"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[code]
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode() + payload
            )
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()
