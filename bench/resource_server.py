"""Micro-timings of the resource-server features: several issuers, RFC 9728 metadata.

Run: `PYTHONPATH=. python -m bench.resource_server`. Best of 5 loops, microseconds per
call; on a shared machine read the ratios within one run, not the absolute figures.
"""

from __future__ import annotations

import asyncio
import time
import timeit
from collections.abc import Callable
from typing import Any

import jwt

import asgi_auth as aa
from asgi_auth.rfc9728 import WELL_KNOWN
from asgi_auth.verifiers.issuers import unverified_issuer
from tests.verifiers.keys import public_pem, rsa_key

ISSUER = "https://a.example"


def best(call: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _send(message: Any) -> None:
    return None


def per_request(app: Any, path: str, number: int, headers: list[tuple[bytes, bytes]] | None = None) -> float:
    def scope() -> dict[str, Any]:
        return {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": headers or []}

    async def loop() -> float:
        start = time.perf_counter()
        for _ in range(number):
            await app(scope(), _receive, _send)
        return (time.perf_counter() - start) / number * 1e6

    return min(asyncio.run(loop()) for _ in range(5))


def main() -> None:
    key = public_pem(rsa_key())
    claims = {"iss": ISSUER, "aud": "api", "sub": "x", "scope": "read", "exp": int(time.time()) + 3600}
    token = jwt.encode(claims, rsa_key(), "RS256")

    def issuer(name: str, **options: Any) -> aa.Issuer:
        return aa.Issuer(name, key=key, algorithms=["RS256"], audience="api", **options)

    plain = aa.JWTVerifier(key=key, algorithms=["RS256"], issuer=ISSUER, audience="api", cache=False)
    ten = aa.TrustedIssuers(*(issuer(f"https://t{i}.example") for i in range(9)), issuer(ISSUER, cache=False))
    cached = aa.JWTVerifier(key=key, algorithms=["RS256"], issuer=ISSUER, audience="api")
    cached_one = aa.TrustedIssuers(issuer(ISSUER))
    for verifier in (plain, ten, cached, cached_one):
        assert verifier.verdict_inline(token)
    print(f"unverified_issuer                        {best(lambda: unverified_issuer(token), 20_000):8.2f}")
    print(f"RS256, JWTVerifier(cache=False)          {best(lambda: plain.verdict_inline(token), 2_000):8.2f}")
    print(f"RS256, TrustedIssuers of 10, no cache    {best(lambda: ten.verdict_inline(token), 2_000):8.2f}")
    print(f"cache hit, JWTVerifier                   {best(lambda: cached.verdict_inline(token), 20_000):8.2f}")
    print(f"cache hit, TrustedIssuers                {best(lambda: cached_one.verdict_inline(token), 20_000):8.2f}")

    resource = "https://r.example"
    bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key=key, algorithms=["RS256"], audience=resource))
    described = aa.AuthMiddleware(_app, aa.AuthPolicy([], default=bearer, resource=aa.ProtectedResource(resource)))
    undescribed = aa.AuthMiddleware(_app, aa.AuthPolicy([], default=bearer))
    good = jwt.encode({"sub": "x", "aud": resource, "exp": int(time.time()) + 3600}, rsa_key(), "RS256")
    header = [(b"authorization", f"Bearer {good}".encode())]
    print(f"401 without a token, no resource         {per_request(undescribed, '/x', 20_000):8.2f}")
    print(f"401 without a token, with a resource     {per_request(described, '/x', 20_000):8.2f}")
    print(f"the metadata document                    {per_request(described, WELL_KNOWN, 20_000):8.2f}")
    print(f"200 remembered token, no resource        {per_request(undescribed, '/x', 20_000, header):8.2f}")
    print(f"200 remembered token, with a resource    {per_request(described, '/x', 20_000, header):8.2f}")


if __name__ == "__main__":
    main()
