"""Settings, the Temporal client and worker, and the one place that builds them (app.py): shared by every entry point."""
