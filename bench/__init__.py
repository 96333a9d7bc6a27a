"""`make bench`: figures for the quote lifecycle on the embedded stack (a script, not a test)."""
