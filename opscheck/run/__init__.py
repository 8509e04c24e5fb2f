"""One opscheck run: its options and environment, markers, what checks record, redaction, the verdict,
signals, and the work done once per run."""
