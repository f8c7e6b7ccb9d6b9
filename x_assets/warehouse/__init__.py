"""The warehouse: every table's columns, one-transaction writes to DuckDB, derived SQL, reading."""
