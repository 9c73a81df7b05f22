"""The declared verifier protocol (verifiers/base.py): verdicts, and how a verifier is asked."""

from __future__ import annotations

import inspect
import time
from typing import Any

import jwt
import pytest

import asgi_auth as aa
from asgi_auth import decision
from asgi_auth.verifiers import base
from asgi_auth.verifiers import jwt as jwt_module
from tests.conftest import Recorder, call_asgi, client_for, http_scope
from tests.verifiers.keys import HMAC_SECRET

pytestmark = pytest.mark.anyio


def token(sub: str = "u", ttl: int = 60) -> str:
    return jwt.encode({"sub": sub, "scope": "me", "exp": int(time.time()) + ttl}, HMAC_SECRET)


def test_a_verdict_is_immutable_and_slotted() -> None:
    verdict = aa.Verdict(aa.Principal("u"), 1.0, 2.0)
    with pytest.raises(AttributeError):
        verdict.valid_until = 3.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        verdict.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(verdict, "__dict__")
    assert verdict.still_valid is None and verdict.lasting
    assert aa.Verdict(None, 2.0, 2.0) == aa.Verdict(principal=None, valid_from=2.0, valid_until=2.0)
    assert not aa.Verdict(None, 2.0, 2.0).lasting


def uncached_refusal() -> object:
    return aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache=False).verdict_inline(token() + "x")


def test_the_jwt_verdict_is_the_cached_window_and_the_principal_verify_inline_gives() -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    good = token()
    verdict = verifier.verdict_inline(good)
    assert isinstance(verdict, aa.Verdict)
    assert verifier.verdict_inline(good) is verdict  # the cache holds the verdict itself
    assert verifier.verify_inline(good) is verdict.principal
    assert verifier.lifetime(good) == (verdict.valid_from, verdict.valid_until)
    assert verifier.verdict_inline(good + "x") is None
    refused = verifier.verdict_keyed(good + "x", b"k" * 48)  # a final rejection is vouched for, briefly
    assert isinstance(refused, aa.Verdict) and refused.principal is None
    assert 0 < refused.valid_until - refused.valid_from <= verifier.negative_ttl
    assert verifier.verify_inline(good + "x") is None and verifier.lifetime(good + "x") is None
    assert uncached_refusal() is None
    uncached = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache=False)
    once = uncached.verdict_inline(good)
    assert isinstance(once, aa.Verdict) and not once.lasting  # vouches for this request only
    assert isinstance(uncached.verify_inline(good), aa.Principal)


async def test_with_the_cache_off_nothing_of_a_request_is_kept() -> None:
    """`cache=False` decodes every request: its fresh principals are neither remembered
    by header nor kept as contexts, so the rule's tables stay empty."""
    scheme = aa.HTTPBearer(verifier=aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache=False))
    policy = aa.AuthPolicy([], default=scheme)
    inner = Recorder()
    app = aa.AuthMiddleware(inner, policy)
    for _ in range(5):
        await call_asgi(app, http_scope("/", headers=[(b"authorization", f"Bearer {token()}".encode())]))
    assert len(inner.scopes) == 5
    assert all(scope["state"]["auth"].authenticated for scope in inner.scopes)
    assert not policy.default.decided and not policy.default.contexts


@pytest.mark.parametrize("make", [aa.HTTPBearer, lambda **kw: aa.OAuth2PasswordBearer("token", **kw)])
async def test_a_token_is_hashed_once_per_request(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22: one hash per request across the decision and the verifier: the
    decision's digest of the header finds its remembered decision and, on a miss, the
    verifier's verdict (a second rule's first request: verified once, by that key)."""
    hashed: list[bytes | str] = []

    def counting(real: Any) -> Any:
        def count(value: Any) -> bytes:
            hashed.append(value)
            return bytes(real(value))

        return count

    monkeypatch.setattr(jwt_module, "_digest", counting(jwt_module._digest))
    monkeypatch.setattr(decision, "digest", counting(decision.digest))
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    scheme = make(verifier=verifier)
    inner = Recorder()
    good = token()
    policy = aa.AuthPolicy([aa.Rule("/other", require=scheme)], default=scheme)
    async with client_for(aa.AuthMiddleware(inner, policy)) as client:
        first = await client.get("/", headers={"authorization": f"Bearer {good}"})
        again = await client.get("/", headers={"authorization": f"Bearer {good}"})
        other = await client.get("/other", headers={"authorization": f"Bearer {good}"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert hashed == [f"Bearer {good}".encode()] * 3  # the header, once per request; never the token again
    assert len(verifier._cache) == 1  # the second rule found the verdict by the same digest
    assert inner.scopes[0]["state"]["auth"] is inner.scopes[1]["state"]["auth"]


async def test_a_verifier_may_vouch_with_a_verdict_of_its_own() -> None:
    asked: list[str] = []

    @aa.inline
    def vouching(key: str) -> aa.Verdict | None:
        asked.append(key)
        if key == "k-0":  # a false principal inside a verdict is still a refusal
            return aa.Verdict(None, 0.0, time.time() + 60)
        now = time.time()
        return aa.Verdict(aa.Principal(key), now - 1, now + 60) if key.startswith("k-") else None

    scheme = aa.APIKeyHeader(name="k", verifier=vouching)
    inner = Recorder()
    async with client_for(aa.AuthMiddleware(inner, aa.AuthPolicy([], default=scheme))) as client:
        statuses = [(await client.get("/", headers={"k": k})).status_code for k in ("k-1", "k-1", "k-0", "k-0", "x")]
    assert statuses == [200, 200, 401, 401, 401]
    assert asked == ["k-1", "k-0", "k-0", "x"]  # k-1's decision was remembered
    assert inner.scopes[0]["state"]["auth"].principal == aa.Principal("k-1")


async def test_an_awaited_verdict_is_remembered_and_unwrapped_in_any_of() -> None:
    asked: list[str] = []

    async def vouching(key: str) -> aa.Verdict:
        asked.append(key)
        return aa.Verdict(aa.Principal(key), time.time() - 1, time.time() + 60)

    one = aa.APIKeyHeader(name="k", verifier=vouching)
    other = aa.APIKeyHeader(name="o", scheme_name="other", verifier=aa.inline(lambda key: None))
    policy = aa.AuthPolicy([aa.Rule("/any", require=[other, one])], default=one)
    inner = Recorder()
    async with client_for(aa.AuthMiddleware(inner, policy)) as client:
        statuses = [(await client.get(path, headers={"k": "k-1"})).status_code for path in ("/", "/", "/any")]
    assert statuses == [200, 200, 200]
    assert asked == ["k-1", "k-1"]  # remembered on "/", asked again by the other rule
    assert [s["state"]["auth"].principal for s in inner.scopes] == [aa.Principal("k-1")] * 3


def test_how_each_kind_of_verifier_is_asked() -> None:
    jwt_verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    assert base.answerer(jwt_verifier) == jwt_verifier.verdict_inline

    class Inline:
        def verify_inline(self, key: str) -> aa.Principal:
            return aa.Principal(key)

    inline = Inline()
    assert isinstance(inline, base.InlineVerifier) and not isinstance(inline, base.LifetimeVerifier)
    assert base.answerer(inline) == inline.verify_inline

    class Lasting(Inline):
        def lifetime(self, key: str) -> tuple[float, float] | None:
            return (1.0, 2.0) if key == "lasting" else None

    ask = base.answerer(Lasting())
    assert ask("lasting") == aa.Verdict(aa.Principal("lasting"), 1.0, 2.0)
    assert ask("brief") == aa.Principal("brief")

    def fast(key: str) -> None:
        return None

    def sync(key: str) -> None:
        return None

    assert base.answerer(aa.inline(fast)) is fast
    threaded = base.answerer(sync)
    pending = threaded("k")
    assert threaded is not sync and inspect.iscoroutine(pending)  # to a worker thread
    pending.close()


def test_schemes_state_facts_about_themselves_not_for_a_cache() -> None:
    digest = aa.HTTPDigest(verifier=lambda u: "pw", secret=b"s" * 32)
    assert digest.challenges_vary and digest.source_header is None  # fresh nonces
    assert not aa.HTTPDigest(verifier=aa.EXTRACT_ONLY).challenges_vary
    bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"]))
    assert not bearer.challenges_vary and bearer.source_header == b"authorization"
    assert aa.APIKeyHeader(name="X-Key", verifier=aa.EXTRACT_ONLY).source_header == b"x-key"
    assert aa.APIKeyQuery(name="k", verifier=aa.EXTRACT_ONLY).source_header is None
    for scheme in (digest, bearer):
        assert not hasattr(scheme, "lifetime") and not hasattr(scheme, "has_lifetime")
