"""Alembic migrations. HEAD names the newest revision so a start-up can see "up to date" without loading
Alembic (a test keeps it equal to the scripts' head)."""

HEAD = "0007"
