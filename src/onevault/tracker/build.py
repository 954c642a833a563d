"""The served tracker: `onevault.js` minified once per process, with the hashes the snippet and caches need.

The minified bytes are made here, from the source shipped in the package, so the bytes `/tracker.js`
serves and the bytes `onevault site snippet` hashes for Subresource Integrity are the same by construction.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
from dataclasses import dataclass
from html import escape
from importlib import resources

from calmjs.parse import es5
from calmjs.parse.unparsers.es5 import minify_print

SIZE_BUDGET = 2560  # bytes, minified and gzipped: the 2.5 KB


@dataclass(frozen=True)
class TrackerBuild:
    """The minified script, its gzip encoding, a strong ETag and the SRI `integrity` value."""

    script: bytes
    gzipped: bytes
    etag: str
    integrity: str


def source() -> str:
    """The readable tracker source shipped in the package."""
    return resources.files("onevault.tracker").joinpath("onevault.js").read_text(encoding="utf-8")


def minify(text: str) -> bytes:
    """Minify ES5 source: whitespace and comments removed, local names shortened (globals kept)."""
    minified: str = minify_print(es5(text), obfuscate=True, obfuscate_globals=False)
    return minified.encode("utf-8")


@functools.cache
def tracker_build() -> TrackerBuild:
    """The build served at /tracker.js (made on first use, then kept for the life of the process)."""
    script = minify(source())
    digest = hashlib.sha384(script).digest()
    return TrackerBuild(
        script=script,
        # mtime=0: the same source gives the same gzip bytes on every start and every machine.
        gzipped=gzip.compress(script, compresslevel=9, mtime=0),
        etag='"' + hashlib.sha256(script).hexdigest()[:32] + '"',
        integrity="sha384-" + base64.b64encode(digest).decode("ascii"),
    )


def snippet(base_url: str, site_key: str, *, cookieless: bool = False, integrity: bool = True) -> str:
    """The one-line script tag that loads the tracker from `base_url` and tracks page views."""
    attrs = [f'data-site-key="{escape(site_key)}"']
    if cookieless:
        attrs.append("data-cookieless")
    attrs.append(f'src="{escape(base_url.rstrip("/"))}/tracker.js"')
    if integrity:
        # crossorigin makes the browser fetch in CORS mode, which integrity checking needs.
        attrs += [f'integrity="{tracker_build().integrity}"', 'crossorigin="anonymous"']
    return f"<script defer {' '.join(attrs)}></script>"
