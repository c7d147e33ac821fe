"""The scoring pipeline benchmark: ingest -> queue -> worker -> hub -> screen (``python -m
load_tests.pipeline``; see `load_tests.pipeline.cli`)."""
