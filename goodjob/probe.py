"""A tiny HTTP health server for orchestrators (Kubernetes probes and the like).

``/status`` answers 200 while the process runs; ``/status/started`` once the pools run;
``/status/connected`` once the LISTEN connection is up. Anything else is 404.
"""

from __future__ import annotations

import asyncio
import contextlib


class ProbeServer:
    def __init__(self, port: int, worker: object, host: str = "0.0.0.0") -> None:
        self.port = port
        self.host = host
        self.worker = worker
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def stop(self) -> None:
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
            code, body = self.status(path)
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[code]
            payload = body.encode() + b"\n"
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode() + payload
            )
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()
