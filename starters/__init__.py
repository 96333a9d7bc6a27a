"""The `renewals` command line: how backend systems and people start and read quotes."""
