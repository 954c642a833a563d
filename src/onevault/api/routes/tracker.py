"""GET /tracker.js: the minified browser tracker, cacheable, gzip-encoded when the client accepts it."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from starlette.responses import Response

from onevault.tracker.build import TrackerBuild, tracker_build

router = APIRouter(tags=["tracker"])
# An hour, then a cheap revalidation by ETag: an upgraded tracker reaches sites within the hour.
CACHE_CONTROL = "public, max-age=3600"


@router.api_route("/tracker.js", methods=["GET", "HEAD"], include_in_schema=False)
async def tracker_js(request: Request) -> Response:
    build = await asyncio.to_thread(tracker_build)  # the first call minifies (a few hundred ms), then cached
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": build.etag,
        "Vary": "Accept-Encoding",
        # Any site may load it; with crossorigin="anonymous" (needed for integrity) the load is a CORS fetch.
        "Access-Control-Allow-Origin": "*",
    }
    if _matches(request.headers.get("if-none-match"), build):
        return Response(status_code=304, headers=headers)
    body = build.script
    if _accepts_gzip(request.headers.get("accept-encoding", "")):
        body = build.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type="application/javascript; charset=utf-8")


def _matches(if_none_match: str | None, build: TrackerBuild) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or build.etag in tags


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
