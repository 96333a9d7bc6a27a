"""The application layer: what the command line, the web app, the dev stack and the tests do, each a class taking its clients."""
