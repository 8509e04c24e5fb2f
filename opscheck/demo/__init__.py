"""The embedded default stack behind ``opscheck demo``."""
