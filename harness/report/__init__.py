"""Report writers: JSON, CSV and self-contained HTML (see load_report for load runs)."""
