"""The engine of goodjob: everything except the CLI, the ASGI glue and the dashboard."""
