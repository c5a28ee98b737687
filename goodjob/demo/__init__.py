"""``goodjob demo``: sample jobs (``samples``), a small web app with the dashboard (``web``), and the
command's entry points (``run``)."""
