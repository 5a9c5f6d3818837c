"""Importing the membership system's CSV exports into the gym's tables.

``reader`` (encodings, delimiters, streamed records), ``values`` (money, dates,
flags, status words), ``tables`` (what each table holds), ``rows`` (header
mapping and row parsing), ``load`` (one import in one transaction),
``service`` (called from the CLI and the console), ``freshness`` (how old each
table's data is) and ``watch`` (the watch folder).  Nothing is imported here:
the console's start-up does not pay for the importer.
"""
