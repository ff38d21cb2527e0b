"""The local runner: the AWS pipeline replayed offline (moto, pyarrow, DuckDB + sqlglot, local Spark)."""
