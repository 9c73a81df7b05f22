"""The API reference page documents exactly the public names."""

from __future__ import annotations

import re
from pathlib import Path

import asgi_auth as aa

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"


def documented() -> list[str]:
    return re.findall(r"^::: asgi_auth\.(\w+)\s*$", REFERENCE.read_text(), flags=re.MULTILINE)


def test_the_reference_lists_every_public_name_once() -> None:
    names = documented()
    assert len(names) == len(set(names)), "a name is documented twice"
    assert set(names) - {"integrations"} == set(aa.__all__)


def test_every_public_name_exists() -> None:
    for name in aa.__all__:
        assert hasattr(aa, name), name


def test_the_integrations_are_documented_as_modules() -> None:
    text = REFERENCE.read_text()
    for module in ("asgi_auth.integrations.fastapi", "asgi_auth.integrations.litestar"):
        assert f"::: {module}\n" in text
