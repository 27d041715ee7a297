"""Accord's database: SQLite by default (embedded, zero set-up), PostgreSQL by `settings.database_url`.

db.py holds the engine and migrations-at-start, models.py the tables, one repository module per concept
(threads.py; keys and usage come later).
"""
