"""Models and pure rules of renewal quotes (docs/rules.md). No I/O: safe inside workflows."""
