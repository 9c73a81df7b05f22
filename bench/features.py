"""The resource-server and shared-state features, per request, in one run:
`python -m bench.features [--quick] [--only NAME] [--markdown PATH]`.

Each group sets its rows against a named baseline, the path an asgi_auth user has
without the feature: a remembered bearer JWT for DPoP and introspection, one issuer for
`TrustedIssuers`, no state for the Digest nonce store and the revocation list. The
rounds are `bench.__main__`'s (interleaved, shuffled, fastest batch's median); the
peers are real and on loopback, started here and stopped after: authlib's
introspection endpoint (the tests' peer), and a `redis-server` without persistence.
Rows that need something made per request (a DPoP proof, a Digest count, a token never
seen) make it before their batch's clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import jwt
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

import asgi_auth as aa
from asgi_auth.rfc9449 import jwk_thumbprint
from asgi_auth.stores import MemoryNonceCounter, MemoryRevocationList, NonceUse
from bench import apps
from bench.__main__ import Variant, cell, measure, summarise

HOST = "bench"  # as bench.__main__.BASE_HEADERS name it
PATH = "/items"
URL = f"http://{HOST}{PATH}"
SECRET = apps.SECRET
RAW = "raw ASGI app"
#: Each group's baseline, the row its ratios are to.
BASELINES = {
    "dpop": "bearer JWT HS256, remembered",
    "introspection": "bearer JWT HS256, remembered (introspection's rule)",
    "issuers": "1 issuer RS256, cache off",
    "issuers-first": "1 issuer RS256, first sight",
    "issuers-cached": "1 issuer RS256, cached",
    "digest": "Digest, no nonce state",
    "revocation": "JWT HS256 remembered, no revocation list",
}
GROUPS = {
    "floors": "Floor: the app alone",
    "dpop": "DPoP (RFC 9449): a new proof each request, against a remembered bearer JWT",
    "introspection": "Introspection (RFC 7662): the answer kept, against a remembered JWT",
    "issuers": "Several issuers: TrustedIssuers of 16 against one, each token decoded (cache off)",
    "issuers-first": "Several issuers: a token never seen before each request (cache on)",
    "issuers-cached": "Several issuers: the same token again (cache on)",
    "digest": "Digest nonce counts: no state, the memory store, the Redis store (one round trip)",
    "revocation": "Revocation check on a remembered JWT: none, memory, Redis (a local copy)",
}
DIGEST_PER_NONCE = 60
#: Seconds the loop runs other tasks before each batch: the Redis revocation list's
#: refresh, which a batch (no await that yields) would otherwise starve past its staleness.
PAUSE = 0.01
AUDIENCE = "https://api.example"
#: The resource server's client at the loopback introspection endpoint.
CLIENT = ("rs", "bench-client-secret")


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await apps.raw_app(scope, receive, send)


def _policy_app(scheme: aa.SecurityScheme, scopes: list[str] | None = None) -> aa.AuthMiddleware:
    rules = [aa.Rule(PATH, require={scheme: scopes or []})]
    return aa.AuthMiddleware(apps.raw_app, aa.AuthPolicy(rules, default=scheme))


def _hs256(claims: dict[str, Any] | None = None) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "alice", "scope": "items", "iat": now, "exp": now + 86_400, **(claims or {})}, SECRET)


def _bearer_header(token: str, kind: str = "Bearer") -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"{kind} {token}".encode())]


# -- DPoP ----------------------------------------------------------------------------


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def dpop_proofs(alg: str, key: Any, token: str) -> Callable[[int], list[tuple[bytes, bytes]]]:
    """Request i's `Authorization: DPoP` and a new proof (its own `jti`, `iat` now)."""
    public, ath = key.as_dict(private=False), _ath(token)
    authorization = (b"authorization", f"DPoP {token}".encode())

    def headers(i: int) -> list[tuple[bytes, bytes]]:
        claims = {"jti": uuid.uuid4().hex, "htm": "GET", "htu": URL, "iat": int(time.time()), "ath": ath}
        header = {"typ": "dpop+jwt", "alg": alg, "jwk": public}
        proof = jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[alg])
        return [authorization, (b"dpop", proof.encode())]

    return headers


def _dpop_keys() -> list[tuple[str, Any]]:
    return [
        ("ES256", ECKey.generate_key("P-256")),
        ("EdDSA", OKPKey.generate_key("Ed25519")),
        ("PS256", RSAKey.generate_key(2048)),
    ]


# -- several issuers -------------------------------------------------------------------


def _issuers(n: int, key: Any, cache: bool) -> aa.TrustedIssuers:
    """`n` trusted issuers; the token's is the last one named."""
    names = [f"https://idp{i}.example" for i in range(n - 1)] + ["https://idp.example"]
    return aa.TrustedIssuers(
        *(aa.Issuer(name, key=key, algorithms=["RS256"], audience=AUDIENCE, cache=cache) for name in names)
    )


def _issuers_app(n: int, key: Any, cache: bool) -> aa.AuthMiddleware:
    return _policy_app(aa.HTTPBearer(verifier=_issuers(n, key, cache=cache)))


def _rs256_claims(jti: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "https://idp.example", "aud": AUDIENCE, "sub": "alice", "jti": jti, "iat": now, "exp": now + 3600}


def new_tokens(private: Any, tag: str) -> Callable[[int], list[tuple[bytes, bytes]]]:
    """Request i's own RS256 token, signed before its batch's clock starts."""
    return lambda i: _bearer_header(jwt.encode(_rs256_claims(f"{tag}-{i}"), private, "RS256"))


# -- Digest ------------------------------------------------------------------------------


class NoNonceState:
    """Every count accepted: the Digest path without replay protection, the floor."""

    async def use(self, nonce: str, count: int, *, username: str, issued_at: float, expires_at: float) -> NonceUse:
        return NonceUse.ACCEPTED


def digest_headers(scheme: aa.HTTPDigest) -> Callable[[int], list[tuple[bytes, bytes]]]:
    """Request i's Digest response: a new nonce every `DIGEST_PER_NONCE` requests, each
    count used once, as a client keeping its nonce sends them."""
    ha1 = hashlib.sha256(f"alice:{scheme.realm}:pw".encode()).hexdigest()
    ha2 = hashlib.sha256(f"GET:{PATH}".encode()).hexdigest()
    nonce = [""]

    def headers(i: int) -> list[tuple[bytes, bytes]]:
        if i % DIGEST_PER_NONCE == 0:
            nonce[0] = scheme.make_nonce()
        nc = f"{i % DIGEST_PER_NONCE + 1:08x}"
        response = hashlib.sha256(f"{ha1}:{nonce[0]}:{nc}:c:auth:{ha2}".encode()).hexdigest()
        value = (
            f'Digest username="alice", realm="{scheme.realm}", nonce="{nonce[0]}", uri="{PATH}", algorithm=SHA-256,'
            f' response="{response}", qop=auth, nc={nc}, cnonce="c", opaque="{scheme.opaque}"'
        )
        return [(b"authorization", value.encode())]

    return headers


def _digest_of(made: dict[str, Any]) -> Callable[[int], list[tuple[bytes, bytes]]]:
    return digest_headers(made["scheme"])


def _digest_app(counter: Any) -> tuple[aa.AuthMiddleware, aa.HTTPDigest]:
    scheme = aa.HTTPDigest(verifier=aa.inline(lambda username: "pw"), algorithms=["SHA-256"], nonce_counter=counter)
    return _policy_app(scheme), scheme


# -- the peers ---------------------------------------------------------------------------


@contextmanager
def introspection_peer() -> Iterator[Any]:
    """authlib's introspection endpoint on loopback, knowing one token."""
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # http on 127.0.0.1
    from tests.peers.introspection_server import Client, Token, authorization_server

    with authorization_server([Client(CLIENT[0], "client_secret_basic", CLIENT[1])]) as peer:
        peer.tokens["opaque-token"] = Token(aud=AUDIENCE)
        yield peer


@contextmanager
def redis_peer() -> Iterator[str | None]:
    """A `redis-server` on a free loopback port (`--save '' --appendonly no`), or None
    when none is installed."""
    if shutil.which("redis-server") is None:
        yield None
        return
    from tests.stores.servers import redis_server

    with redis_server() as server:
        yield server.url


# -- the rows ------------------------------------------------------------------------------


class Rows:
    def __init__(self, only: set[str] | None) -> None:
        self.only = only
        self.chosen: list[Variant] = []
        self.closers: list[Callable[[], Any]] = []
        self.known: set[str] = set()

    def add(
        self,
        name: str,
        group: str,
        app: Callable[[], Any],
        headers: list[tuple[bytes, bytes]] | None = None,
        extra: Callable[[], Callable[[int], list[tuple[bytes, bytes]]]] | None = None,
        status: int = 200,
        path: str = PATH,
    ) -> None:
        self.known.add(name)
        if self.only is not None and name not in self.only and name != RAW and name != BASELINES.get(group):
            return
        fixed = list(headers or [])
        against = None if name == BASELINES.get(group) else BASELINES.get(group)
        floor = None if name == RAW else RAW
        v = Variant(name, group, app(), path, fixed, status, floor, against=against)
        v.own_headers = extra() if extra is not None else None
        self.chosen.append(v)


async def build(only: set[str] | None, introspection_url: str | None, redis_url: str | None) -> Rows:
    rows = Rows(only)
    rows.add(RAW, "floors", lambda: apps.raw_app)

    # DPoP: bearer remembered, bearer decoded, DPoP proofs (never remembered).
    token = _hs256()

    def hs_bearer(cache: bool = True, dpop: Any = None) -> aa.HTTPBearer:
        return aa.HTTPBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"], cache=cache), dpop=dpop)

    rows.add(BASELINES["dpop"], "dpop", lambda: _policy_app(hs_bearer()), _bearer_header(token))
    rows.add("bearer JWT HS256, cache=False", "dpop", lambda: _policy_app(hs_bearer(False)), _bearer_header(token))
    rows.add(
        "bearer JWT HS256, remembered, dpop=allowed",
        "dpop",
        lambda: _policy_app(hs_bearer(dpop="allowed")),
        _bearer_header(token),
    )
    for alg, key in _dpop_keys():
        bound = _hs256({"cnf": {"jkt": jwk_thumbprint(dict(key.as_dict(private=False)))}})
        rows.add(
            f"DPoP {alg} proof, dpop=required",
            "dpop",
            lambda: _policy_app(hs_bearer(dpop="required")),
            extra=partial(dpop_proofs, alg, key, bound),
        )

    # Introspection: the kept answer (one POST, at warm-up) against a remembered JWT.
    def oauth2(verifier: Any) -> aa.AuthMiddleware:
        scheme = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=verifier)
        return _policy_app(scheme, ["items"])

    rows.add(
        BASELINES["introspection"],
        "introspection",
        lambda: oauth2(aa.JWTVerifier(key=SECRET, algorithms=["HS256"])),
        _bearer_header(token),
    )
    if introspection_url is not None:
        from tests.peers.introspection_server import ISSUER

        def introspecting() -> aa.AuthMiddleware:
            verifier = aa.IntrospectionVerifier(
                introspection_url, client_id=CLIENT[0], client_secret=CLIENT[1], audience=AUDIENCE, issuer=ISSUER
            )
            rows.closers.append(verifier.aclose)
            return oauth2(verifier)

        rows.add("introspection, answer kept", "introspection", introspecting, _bearer_header("opaque-token"))

    # Several issuers: 1 against 16; decoded each time, a new token each time, the same one kept.
    private = apps.PRIVATE["RS256"]
    public = private.public_key()
    same = jwt.encode(_rs256_claims("same"), private, "RS256")
    for n in (1, 16):
        name = f"{n} issuer{'s' if n > 1 else ''} RS256"
        off = partial(_issuers_app, n, public, False)
        on = partial(_issuers_app, n, public, True)
        rows.add(f"{name}, cache off", "issuers", off, _bearer_header(same))
        rows.add(f"{name}, first sight", "issuers-first", on, extra=partial(new_tokens, private, f"t{n}"))
        rows.add(f"{name}, cached", "issuers-cached", on, _bearer_header(same))
    single = lambda: _policy_app(  # noqa: E731
        aa.HTTPBearer(verifier=aa.JWTVerifier(key=public, algorithms=["RS256"], audience=AUDIENCE, cache=False))
    )
    rows.add("JWTVerifier RS256 (no TrustedIssuers), cache off", "issuers", single, _bearer_header(same))

    # Digest nonce counts.
    backend = None
    if redis_url is not None:
        from asgi_auth.redis_store import RedisBackend, RedisNonceCounter, RedisRevocationList

        backend = RedisBackend(redis_url)
        rows.closers.append(backend.aclose)
    counters: list[tuple[str, Callable[[], Any]]] = [
        (BASELINES["digest"], NoNonceState),
        ("Digest, memory nonce store", MemoryNonceCounter),
    ]
    if backend is not None:
        counters.append(("Digest, Redis nonce store", lambda: RedisNonceCounter(backend)))
    for name, make in counters:
        made: dict[str, Any] = {}

        def digest_app(make: Callable[[], Any] = make, made: dict[str, Any] = made) -> aa.AuthMiddleware:
            counter = make()
            app, made["scheme"] = _digest_app(counter)
            made["counter"] = counter
            return app

        rows.add(name, "digest", digest_app, extra=partial(_digest_of, made))
        if "counter" in made and hasattr(made["counter"], "start"):
            await made["counter"].start()

    # Revocation: none, memory, Redis (a local copy the background task refreshes).
    revoked_claims = {"jti": "revoked", "exp": time.time() + 3600}
    lists: list[tuple[str, Callable[[], Any]]] = [
        (BASELINES["revocation"], lambda: None),
        ("JWT HS256 remembered, memory revocations", MemoryRevocationList),
    ]
    if backend is not None:
        lists.append(("JWT HS256 remembered, Redis revocations", lambda: RedisRevocationList(backend)))
    jti_token = _hs256({"jti": "kept"})
    for name, make in lists:
        held: dict[str, Any] = {}

        def revocation_app(make: Callable[[], Any] = make, held: dict[str, Any] = held) -> aa.AuthMiddleware:
            held["list"] = make()
            verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"], revocations=held["list"])
            return _policy_app(aa.HTTPBearer(verifier=verifier))

        rows.add(name, "revocation", revocation_app, _bearer_header(jti_token))
        listed = held.get("list")
        if listed is not None:
            if hasattr(listed, "start"):
                await listed.start()
                rows.closers.append(listed.aclose)
            for i in range(1_000):  # a list that holds something
                await listed.revoke_token(issuer=None, jti=f"{revoked_claims['jti']}{i}", expires_at=time.time() + 3600)
    if only is not None:  # a baseline only for the groups of the rows named
        unknown = set(only) - rows.known
        if unknown:
            raise SystemExit(f"no row named {', '.join(sorted(unknown))}")
        named = {v.group for v in rows.chosen if v.name in only}
        rows.chosen = [v for v in rows.chosen if v.name in only or v.name == RAW or v.group in named]
    return rows


def ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's total time, and what it adds to the floor, as ratios to its group's baseline."""
    by = {r["name"]: r for r in rows}
    for r in rows:
        base = by.get(BASELINES.get(r["group"], ""))
        r["baseline"] = base["name"] if base else None
        r["x_baseline"] = round(r["median_us"] / base["median_us"], 2) if base else None


def table(rows: list[dict[str, Any]], heading: str) -> str:
    columns = ["variant", "median µs (fastest batch)", "p99 µs (all)", "added to the floor µs", "x baseline (total)"]
    columns.append("x baseline (added)")
    lines = [heading, ""]
    for group, title in GROUPS.items():
        chosen = [r for r in rows if r["group"] == group]
        if not chosen:
            continue
        base = BASELINES.get(group)
        lines += [f"**{title}**" + (f" — baseline: *{base}*" if base else ""), ""]
        lines += ["| " + " | ".join(columns) + " |", "| --- |" + " ---: |" * (len(columns) - 1)]
        for r in chosen:
            added = cell(r["overhead_us"], ".2f")
            total, over = cell(r["x_baseline"], ".2f"), cell(r["overhead_vs_asgi_auth"], ".2f")
            if r["name"] == base:
                total = over = "1 (baseline)"
            lines.append(f"| {r['name']} | {r['median_us']:.2f} | {r['p99_us']:.2f} | {added} | {total} | {over} |")
        lines.append("")
    return "\n".join(lines) + "\n"


async def run(args: argparse.Namespace, rounds: int, per_round: int, warmup: int) -> list[dict[str, Any]]:
    with ExitStack() as stack:
        url = stack.enter_context(introspection_peer()).introspection_url
        redis_url = stack.enter_context(redis_peer())
        if redis_url is None:
            print("redis-server is not installed: the Redis rows are skipped", file=sys.stderr)
        rows = await build(set(args.only) if args.only else None, url, redis_url)
        try:
            await measure(rows.chosen, rounds, per_round, warmup, pause=PAUSE)
        finally:
            for close in rows.closers:
                await close()
        out = summarise(rows.chosen)
    ratios(out)
    return out


def machine() -> str:
    import platform

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.machine()}, {cores} cores, {platform.python_implementation()} {platform.python_version()},"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.features")
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    parser.add_argument("--only", action="append", help="a row's name (repeatable), with its baseline and floor")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables as Markdown")
    args = parser.parse_args()
    rounds, per_round, warmup = (3, 100, 100) if args.quick else (12, 400, 400)
    out = asyncio.run(run(args, rounds, per_round, warmup))
    command = "python -m bench.features " + " ".join(sys.argv[1:])
    text = table(out, f"Measured on {machine()} with `{command.strip()}`, {rounds} rounds of {per_round}.")
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
