"""Models and pure rules of renewal quotes (DOMAIN.md). No I/O: safe inside workflows."""
