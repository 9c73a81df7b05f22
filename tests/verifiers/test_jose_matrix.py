"""The JOSE interoperability matrix (tests/verifiers/jose_matrix.py), run for real, and
the docs page it generates kept true."""

from __future__ import annotations

import pytest

from tests.verifiers import jose_matrix


@pytest.fixture(scope="module")
def outcomes() -> dict[jose_matrix.Case, str]:
    return jose_matrix.run()


def test_every_case_has_its_expected_outcome(outcomes: dict[jose_matrix.Case, str]) -> None:
    unexpected = {case: found for case, found in outcomes.items() if found != jose_matrix.expected(case)}
    assert unexpected == {}
    assert len(outcomes) == len(jose_matrix.cases()) == 3 * 7 * 4 * 2 - 3 * 2 + 3 * 2 * 2


@pytest.mark.parametrize("alg", ["ES256", "ES384"])
def test_the_leading_zero_row_holds_what_each_library_really_exports(alg: str) -> None:
    """authlib.jose drops a coordinate's leading zero byte, the others keep it: the row tests
    a short coordinate for real (a fix upstream fails here, and the docs' sentence goes)."""
    full = {"ES256": 43, "ES384": 64}[alg]
    lengths = {}
    for library in jose_matrix.LIBRARIES:
        exported, _ = jose_matrix.shaped(library, alg, jose_matrix.LEADING_ZERO)
        lengths[library] = min(len(exported["x"]), len(exported["y"]))
    assert lengths["jwcrypto"] == lengths["joserfc"] == full
    assert lengths["authlib.jose"] < full


def test_the_peers_own_limits_are_still_theirs(outcomes: dict[jose_matrix.Case, str]) -> None:
    """A peer that learns what it couldn't do fails here: then the table gains a cell."""
    limited = {(c.library, c.alg) for c, found in outcomes.items() if found in jose_matrix.PEER_LIMITS.values()}
    assert limited == set(jose_matrix.PEER_LIMITS)


def test_the_docs_table_is_what_this_run_found(outcomes: dict[jose_matrix.Case, str]) -> None:
    """docs/interop-jose.md is generated (`python -m tests.verifiers.jose_matrix`), never typed."""
    assert jose_matrix.DOC.read_text() == jose_matrix.render(outcomes)
