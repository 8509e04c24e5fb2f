"""Backups and the restore drill: where backups are, whether a dump is whole, restoring it, and what
the restored database must show."""
