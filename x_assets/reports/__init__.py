"""Reports: charts and Markdown tables for the Dagster UI and the terminal."""
