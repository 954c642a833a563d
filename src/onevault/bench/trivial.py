"""The ceiling for request handling: a trivial endpoint on the service's own stack.

FastAPI under uvicorn started with the options and collector settings `onevault serve` uses, reading the
body and answering small JSON, with no database. Run as `python -m onevault.bench.trivial PORT`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

from onevault.api.responses import json_response
from onevault.gctuning import tune_for_serving

PATH = "/trivial"


def create_trivial_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tune_for_serving()  # as `onevault serve` does, at the same point: the same stack
        yield

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.post(PATH)
    async def trivial(request: Request) -> Response:
        await request.body()
        return json_response({"success": True}, 202)

    @app.get("/health")
    async def health() -> Response:
        return json_response({"status": "ok"})

    return app


def main() -> None:
    uvicorn.run(
        create_trivial_app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        proxy_headers=True,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
