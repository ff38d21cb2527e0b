"""Test stand-in for AWS Glue's `awsglue` library (see `glue_stand_in/__init__.py`); never shipped."""
