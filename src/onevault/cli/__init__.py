"""The `onevault` command line."""
