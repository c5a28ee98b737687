"""Enqueue jobs from plain synchronous code: a script, a cron entry, a WSGI (Flask, Django) view.

    python sync_script.py photo1.png photo2.png

``perform_later_sync`` needs no event loop; it runs goodjob's async core on a private background
thread. In the default ``external`` mode the jobs wait for ``goodjob start --import jobs``.
``async_server`` behaves as external here: a script is not a web server. With
``GOOD_JOB_EXECUTION_MODE=async`` the script also runs a worker on that background thread while it
lives; at exit it lets running jobs finish (up to ``GOOD_JOB_SHUTDOWN_TIMEOUT``) and leaves the rest
queued for the next worker.
"""

from __future__ import annotations

import logging
import sys

from jobs import ResizeImage, build_report

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def main(paths: list[str]) -> None:
    for path in paths:
        job = ResizeImage.perform_later_sync(path, 640)
        print(f"enqueued {job.id} resize {path}")
    report = build_report.set(priority=5).perform_later_sync("daily")
    print(f"enqueued {report.id} report daily")


if __name__ == "__main__":
    main(sys.argv[1:] or ["example.png"])
