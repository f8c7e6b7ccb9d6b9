"""Ingest: the source file, reads per account, pages to rows, staging, and one run end to end."""
