"""The gym's SQLite database: schema, connection, demo data."""

from gymconsole.db.connection import Database, DatabaseError, Transaction, open_database

__all__ = ["Database", "DatabaseError", "Transaction", "open_database"]
