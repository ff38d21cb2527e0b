"""Domain code shared by the Lambdas, the Glue jobs, the CDK table definitions and the local runner.

Everything here is pure Python (plus msgspec on the hot path) so it can ship in a Lambda layer and a
Glue job's `--extra-py-files` unchanged.
"""
