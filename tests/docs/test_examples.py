"""The Python examples in the README and the integration guides, run as written against the running
service (only the base URL and credentials differ, through the environment variables they read)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import Database, RunningService

ROOT = Path(__file__).resolve().parents[2]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(document: str) -> list[str]:
    blocks = PYTHON_BLOCK.findall((ROOT / document).read_text())
    assert blocks, f"{document} has no python example"
    return blocks


def run(code: str, service: RunningService, customer_id: str, token: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEVAULT_")}
    env.update(ONEVAULT_URL=service.url, ONEVAULT_CUSTOMER_ID=customer_id, ONEVAULT_TOKEN=token)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the example failed:\n{done.stderr}"
    return done.stdout


def stored(database: Database) -> dict[str, tuple[str, str | None]]:
    """Every raw event with its event type and business-layer load status."""
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT r.event_id, r.raw_payload ->> 'event_type', s.business_status FROM raw.site_tracking_events r"
            " LEFT JOIN staging.site_events s USING (tenant_hk, event_id)"
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_readme_python_example_stores_its_event(service: RunningService, make_tenant, database: Database) -> None:
    [code] = python_blocks("README.md")
    acme = make_tenant("acme")
    event_id, status = run(code, service, "acme", acme.token).split()
    assert status == "completed"
    assert stored(database) == {event_id: ("api_call", "LOADED")}


def test_server_side_python_guide_examples_store_their_events(
    service: RunningService, make_tenant, database: Database
) -> None:
    smallest, production = python_blocks("docs/integrations/server-side-python.md")
    acme = make_tenant("acme")
    assert "'business_processed': True" in run(smallest, service, "acme", acme.token)
    output = run(production, service, "acme", acme.token)
    assert "'accepted': 3" in output
    types = sorted(event_type for event_type, _ in stored(database).values())
    assert types == ["api_call", "api_call", "signup", "signup", "signup"]


def test_segment_guide_python_example_stores_its_event(
    service: RunningService, make_tenant, make_site_key, database: Database
) -> None:
    [code] = python_blocks("docs/integrations/segment.md")
    make_tenant("acme")
    key = make_site_key("acme", origins=("https://shop.example.com",))
    code = code.replace("ovsk_...", key).replace("https://onevault.example.com", service.url)
    run(code, service, "acme", "unused")
    [(event_type, _)] = stored(database).values()
    assert event_type == "Order Completed"
