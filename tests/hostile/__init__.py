"""Hostile inputs through the command line (issue 16): the harness, the case tables, the tests."""
