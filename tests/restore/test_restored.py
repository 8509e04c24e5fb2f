"""What the drill checks in a restored database, against a real PostgreSQL 15."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from opscheck.config import load_config
from opscheck.errors import ConfigError
from opscheck.restore.expectations import amcheck_indexes, missing_tables, row_counts
from opscheck.restore.tablenames import parse_table_name
from tests.support.suite_run import write_opscheck_toml


def test_amcheck_checks_every_leaf_partition_index_and_skips_partitioned_parents(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE payment (id int, paid_on date, PRIMARY KEY (id, paid_on)) PARTITION BY RANGE (paid_on);"
            "CREATE TABLE payment_2025 PARTITION OF payment FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
            "CREATE TABLE payment_rest PARTITION OF payment DEFAULT;"
            "CREATE TABLE region (code text, country text) PARTITION BY LIST (country);"
            "CREATE TABLE region_eu PARTITION OF region FOR VALUES IN ('DE', 'FR');"
            "CREATE INDEX region_code ON region (code);"
            "INSERT INTO payment SELECT g, date '2025-01-01' + g FROM generate_series(1, 800) AS g;"
            "INSERT INTO region VALUES ('BY', 'DE')"
        )
        # payment_pkey and region_code are partitioned (relkind I): their 3 leaf indexes are checked
        assert amcheck_indexes(conn) == 3


def test_table_names_are_exact_and_schema_qualified_and_a_count_never_raises(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            'CREATE SCHEMA app; CREATE TABLE app.orders (id int); CREATE TABLE public."Mixed" (id int);'
            'INSERT INTO app.orders SELECT generate_series(1, 500); INSERT INTO "Mixed" VALUES (1)'
        )
        expected = ["app.orders", "orders", "Mixed", "mixed", "public.Mixed", '"app"."orders"']
        assert missing_tables(conn, expected) == ["orders", "mixed"]
        counts, failed = row_counts(conn, exact={"app.orders", "orders", "Mixed"})
        assert counts["app.orders"] == 500
        assert counts["Mixed"] == 1
        assert list(failed) == ["orders"]
        assert 'relation "public.orders" does not exist' in failed["orders"]


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("User", ("public", "User")),
        ("app.orders", ("app", "orders")),
        ("Sales.OrderLines", ("Sales", "OrderLines")),
        ('"my.schema"."Orders"', ("my.schema", "Orders")),
        ('"a ""quoted"" name"', ("public", 'a "quoted" name')),
        ("données.clients_été", ("données", "clients_été")),
    ],
)
def test_parse_table_name(name: str, parsed: tuple[str, str]) -> None:
    assert parse_table_name(name) == parsed


@pytest.mark.parametrize("name", ["a.b.c", "", "app.", '"unterminated'])
def test_a_malformed_table_name_is_a_one_line_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="table name"):
        parse_table_name(name)


def test_a_malformed_table_name_in_the_config_is_rejected_at_load(tmp_path: Path) -> None:
    config = write_opscheck_toml(tmp_path, restore={"expect_tables": ["app.orders.x"]})
    with pytest.raises(
        ConfigError, match=r"environments\.x\.restore\.expect_tables: table name 'app.orders.x'"
    ):
        load_config(config)
    config = write_opscheck_toml(tmp_path, restore={"min_rows": {'"app': 1}})
    with pytest.raises(ConfigError, match=r"restore\.min_rows: table name"):
        load_config(config)
