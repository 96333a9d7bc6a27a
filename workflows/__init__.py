"""Workflows: deterministic, no I/O; every change to the world goes through an activity."""
