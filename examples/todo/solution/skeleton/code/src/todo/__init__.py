"""A small todo app: SQLite storage, a JSON HTTP API and a command-line tool."""

__version__ = "0.1.0"
