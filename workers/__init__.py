"""The worker process and the embedded development stack."""
