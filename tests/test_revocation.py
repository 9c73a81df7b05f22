"""Revocation: `MemoryRevocationList`, and `JWTVerifier(revocations=...)` consulted on
every verification and before any remembered decision is reused (issue 19)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa
from asgi_auth.stores import MemoryRevocationList, RevocationList
from tests.loopback import serve
from tests.verifiers.keys import HMAC_SECRET

pytestmark = pytest.mark.anyio

ISSUER = "https://issuer.example"


def token(**extra: Any) -> str:
    claims = {"iss": ISSUER, "sub": "alice", "exp": int(time.time()) + 600, "scope": "me", **extra}
    return jwt.encode(claims, HMAC_SECRET, algorithm="HS256")


def verifier(revocations: RevocationList, **options: Any) -> aa.JWTVerifier:
    return aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], issuer=ISSUER, revocations=revocations, **options)


async def test_memory_list_by_jti_and_by_subject_cut_off() -> None:
    revocations = MemoryRevocationList()
    now = time.time()
    assert not revocations.revoked({"iss": ISSUER, "jti": "a", "sub": "alice", "iat": now})
    await revocations.revoke_token(issuer=ISSUER, jti="a", expires_at=now + 60)
    assert revocations.revoked({"iss": ISSUER, "jti": "a"})
    assert not revocations.revoked({"iss": "https://other.example", "jti": "a"})  # another issuer's jti
    assert not revocations.revoked({"iss": ISSUER, "jti": "b"})
    await revocations.revoke_subject(issuer=ISSUER, subject="bob", issued_before=now, expires_at=now + 60)
    assert revocations.revoked({"iss": ISSUER, "sub": "bob", "iat": now - 1})
    assert revocations.revoked({"iss": ISSUER, "sub": "bob", "iat": int(now)})  # at the cut-off
    assert revocations.revoked({"iss": ISSUER, "sub": "bob"})  # no iat: not known to be after it
    assert not revocations.revoked({"iss": ISSUER, "sub": "bob", "iat": now + 1})  # issued after: good
    assert not revocations.revoked({"iss": ISSUER, "sub": "alice", "iat": now - 1})
    await revocations.revoke_subject(issuer=ISSUER, subject="bob", issued_before=now - 100, expires_at=now + 5)
    assert revocations.revoked({"iss": ISSUER, "sub": "bob", "iat": now - 1})  # an earlier cut-off narrows nothing
    assert len(revocations) == 2


async def test_memory_list_entries_expire_with_the_token_and_it_stays_bounded() -> None:
    revocations = MemoryRevocationList(max_entries=2)
    now = time.time()
    await revocations.revoke_token(issuer=None, jti="gone", expires_at=now - 1)  # already expired
    assert not revocations.revoked({"jti": "gone"})
    await revocations.revoke_token(issuer=None, jti="a", expires_at=now + 60)
    await revocations.revoke_token(issuer=None, jti="b", expires_at=now + 60)  # sweeps "gone" to make room
    assert len(revocations) == 2 and revocations.revoked({"jti": "a"}) and revocations.revoked({"jti": "b"})
    with pytest.raises(aa.ServiceUnavailable):  # full of live entries: never forgets one to make room
        await revocations.revoke_subject(issuer=None, subject="s", issued_before=now, expires_at=now + 60)
    assert revocations.revoked({"jti": "a"}) and revocations.revoked({"jti": "b"})
    await revocations.revoke_token(issuer=None, jti="a", expires_at=now + 120)  # a known one needs no room
    with pytest.raises(ValueError, match="positive"):
        MemoryRevocationList(max_entries=0)


async def test_verifier_refuses_a_revoked_token_even_when_its_verdict_is_cached() -> None:
    revocations = MemoryRevocationList()
    jwt_verifier = verifier(revocations)
    good, revoked_later = token(jti="keep"), token(jti="drop")
    assert jwt_verifier.verify_inline(good) is not None
    assert jwt_verifier.verify_inline(revoked_later) is not None  # verified and cached
    await revocations.revoke_token(issuer=ISSUER, jti="drop", expires_at=time.time() + 600)
    assert jwt_verifier.verify_inline(revoked_later) is None  # the cached verdict is not reused
    assert await jwt_verifier(revoked_later) is None
    assert jwt_verifier.verify_inline(good) is not None
    fresh = verifier(revocations)  # a fresh verification consults the list too
    assert fresh.verify_inline(revoked_later) is None and not fresh._cache
    for _ in range(3):  # nor is the refusal remembered: the list is asked each time (its outage: a 503)
        assert fresh.verdict_keyed(revoked_later, b"k" * 48) is None
    assert not fresh._cache


class Flaky:
    """A revocation list whose backing store can go away (a shared one's outage)."""

    def __init__(self) -> None:
        self.inner = MemoryRevocationList()
        self.down = False
        self.asked = 0

    def revoked(self, claims: Mapping[str, Any]) -> bool:
        self.asked += 1
        if self.down:
            raise aa.ServiceUnavailable("Revocation list unavailable")
        return self.inner.revoked(claims)

    async def revoke_token(self, *, issuer: str | None, jti: str, expires_at: float) -> None:
        await self.inner.revoke_token(issuer=issuer, jti=jti, expires_at=expires_at)

    async def revoke_subject(
        self, *, issuer: str | None, subject: str, issued_before: float, expires_at: float
    ) -> None:
        await self.inner.revoke_subject(
            issuer=issuer, subject=subject, issued_before=issued_before, expires_at=expires_at
        )


def app(revocations: RevocationList, schemes: list[aa.SecurityScheme]) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": aa.get_auth(request).principal.subject})

    rules = [aa.Rule("/me", require={schemes[0]: ["me"]})]
    if len(schemes) > 1:  # an alternative of two schemes: AnyOf
        rules.append(aa.Rule("/any", require=[{s: ["me"]} for s in schemes]))
    web = Starlette(routes=[Route("/me", me), Route("/any", me)])
    web.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(rules=rules, default=[]))
    return web


@pytest.mark.parametrize("path", ["/me", "/any"])
async def test_revoked_on_its_next_request_while_cached_over_uvicorn(path: str) -> None:
    revocations = Flaky()
    shared = verifier(revocations)
    bearer = aa.HTTPBearer(verifier=shared)
    other = aa.OAuth2PasswordBearer(tokenUrl="token", scheme_name="Other", verifier=shared, scopes={"me": "me"})
    now = time.time()
    by_jti, by_subject, later = token(jti="1"), token(jti="2", sub="bob", iat=int(now) - 10), token(jti="3")
    with serve(app(revocations, [bearer, other])) as url:
        async with httpx.AsyncClient(base_url=url) as client:

            async def get(credential: str) -> httpx.Response:
                return await client.get(path, headers={"Authorization": f"Bearer {credential}"})

            for credential in (by_jti, by_subject, later, by_jti, by_subject, later):  # verified, then remembered
                assert (await get(credential)).status_code == 200
            await revocations.revoke_token(issuer=ISSUER, jti="1", expires_at=now + 600)
            await revocations.revoke_subject(issuer=ISSUER, subject="bob", issued_before=now, expires_at=now + 600)
            for credential in (by_jti, by_subject):
                refused = await get(credential)
                assert refused.status_code == 401
                assert refused.json() == {"detail": "Could not validate credentials"}
                assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert (await get(later)).status_code == 200  # the others still pass
            revocations.down = True
            asked = revocations.asked
            for credential in (later, by_jti):  # an outage is a 503 each time, never a pass
                down = await get(credential)
                assert down.status_code == 503, down.text
            assert revocations.asked > asked  # asked, not answered from a cache
            revocations.down = False
            assert (await get(later)).status_code == 200  # nothing of the outage was remembered
            assert (await get(by_jti)).status_code == 401
