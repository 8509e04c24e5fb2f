"""Repository root: opscheck looks for opscheck.toml next to this file. The plugin loads itself through
its pytest11 entry point, so nothing is imported here."""
