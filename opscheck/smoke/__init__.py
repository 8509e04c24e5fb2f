"""The smoke suite's rules: health, version, pages, headers."""
