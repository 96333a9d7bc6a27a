"""Activities: thin I/O around domain/, each safe to run more than once."""
