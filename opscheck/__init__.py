"""opscheck."""
