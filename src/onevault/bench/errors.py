"""The one error of the benchmark."""

from __future__ import annotations

from onevault.errors import OneVaultError


class BenchError(OneVaultError):
    """The benchmark could not run, or what it measured is not true (a count did not match)."""

    code = "bench_error"
