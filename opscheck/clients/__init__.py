"""How opscheck talks to a deployment: HTTP (bounded), TLS, PostgreSQL (read-only), Redis and AWS."""
