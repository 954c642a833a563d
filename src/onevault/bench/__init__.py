"""`onevault bench`: the service measured against its own ceilings, with the goals of issue 5.

It starts the service on a fresh database as separate processes (the API as `onevault serve --no-worker`,
workers as `onevault worker`), drives HTTP load with wrk from another process, and reports each figure
beside its ceiling and its goal (see docs/performance.md).
"""
