"""A smoke check that configuration cannot express: follow one response into the next."""

from __future__ import annotations

import os

import pytest

# Under suites/smoke/ the gate is implied; the marker keeps it when the file is copied.
pytestmark = pytest.mark.gate("smoke")


@pytest.fixture
def dev_key() -> str:
    """The demo's developer key, from the environment like every secret."""
    key = os.environ.get("DEMO_DEV_KEY")
    if not key:
        pytest.fail("environment variable DEMO_DEV_KEY is not set; export it to run this check")
    return key


def test_a_listed_item_can_be_fetched_by_id(gate_client, dev_key) -> None:
    listed = gate_client.get("/api/items", params={"limit": 1}, headers={"X-Api-Key": dev_key})
    assert listed.status_code == 200, listed.text
    items = gate_client.json_of(listed)["items"]
    if not items:
        pytest.skip("the service holds no items yet")
    first = items[0]
    fetched = gate_client.get(f"/api/items/{first['id']}", headers={"X-Api-Key": dev_key})
    assert fetched.status_code == 200, fetched.text
    assert gate_client.json_of(fetched) == first
