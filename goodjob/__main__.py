"""``python -m goodjob`` is the ``goodjob`` command."""

from goodjob.cli import main

main(prog_name="goodjob")
