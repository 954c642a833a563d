"""The HTTP API: app factory, authentication, error shapes and routers."""
