"""The gym's SQLite database: schema, connection, demo data."""

from gymconsole.db.connection import (
    Database,
    DatabaseBusy,
    DatabaseError,
    DatabaseFault,
    Transaction,
    configure_waiting,
    open_database,
)

__all__ = ["Database", "DatabaseBusy", "DatabaseError", "DatabaseFault", "Transaction", "configure_waiting",
           "open_database"]
