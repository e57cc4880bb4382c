"""The registry's HTTP API (FastAPI): thin routes over :class:`~mlwarden.registry.service.Registry`.

Everything under ``/v1`` needs a bearer token (an ``mlw_`` API token or, when configured, an OIDC JWT).
Errors are RFC 9457 ``application/problem+json``. Uploads and downloads stream: a push is written to
the staging directory chunk by chunk as it arrives, a pull is read from the blob store chunk by chunk
and verified as it goes (the last chunk is withheld until the digest matched, so a corrupted blob ends
in a broken transfer, never in a complete wrong file). ``/healthz``, ``/readyz``, ``/metrics``
(Prometheus, ``mlwarden_registry_*``) and ``/v1/audit/checkpoint`` (public by design) need no token.
While the app runs, a background thread signs audit checkpoints (:mod:`mlwarden.registry.checkpoints`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from mlwarden import __version__
from mlwarden.errors import MlwardenError
from mlwarden.registry.auth import Authenticator, FailureLimiter, OidcVerifier, Principal, ProblemError
from mlwarden.registry.checkpoints import CheckpointScheduler
from mlwarden.registry.service import FileStream, Ref, Registry
from mlwarden.registry.settings import RegistrySettings
from mlwarden.registry.tarstream import archive_size, tar_chunks

log = logging.getLogger("mlwarden.registry")
PROBLEM = "application/problem+json"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# What each problem status means here; a route declares, with ``problems()``, only those it can answer.
# Every authenticated route can answer 401 and 429 (the ``Caller`` dependency) and 422 (any path name
# that is not a plain identifier, and an OIDC token whose roles claim names an unknown role).
PROBLEM_DESCRIPTIONS = {
    400: "The body cannot be parsed (e.g. JSON that is not UTF-8)",
    401: "No, invalid, expired or revoked credentials",
    403: "The caller's roles in this namespace do not allow it",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The body is too large",
    422: "Invalid request, or refused (gate, signature, approval checks)",
    423: "The version is quarantined",
    429: "Too many failed logins from this client",
    503: "Storage unavailable",
}
PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "pattern": "^Bearer "}}},
    429: {
        "Retry-After": {
            "description": "Seconds until this client may try again",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for the problem statuses it can answer: problem+json, ``Problem`` schema."""
    return {
        code: {
            "description": PROBLEM_DESCRIPTIONS[code],
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": PROBLEM_HEADERS[code]} if code in PROBLEM_HEADERS else {}),
        }
        for code in codes
    }


def _no_nul(value: str) -> str:
    """Refuse NUL: PostgreSQL text cannot hold it, and no name, reason or grant needs it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class Problem(BaseModel):
    """RFC 9457 problem details; some problems add members (``errors``, ``decision``, ``retry_after``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class PromoteBody(BaseModel):
    """Which version an alias should point at."""

    version: str = Field(max_length=64)


class RollbackBody(BaseModel):
    """An explicit earlier version (default: the newest good one the alias held)."""

    version: str | None = Field(default=None, max_length=64)


class QuarantineBody(BaseModel):
    """Why the version is blocked."""

    reason: Text = Field(min_length=1, max_length=2000)


class ReleaseBody(BaseModel):
    """Why the quarantine is lifted (recorded in the audit log)."""

    reason: Text = Field(min_length=1, max_length=2000)


class TokenBody(BaseModel):
    """A token to create: for whom, with which grants (``namespace:role``), for how long."""

    principal: Text = Field(min_length=1, max_length=255)
    grants: list[Text] = Field(min_length=1, max_length=100)
    days: int | None = Field(default=None, ge=1, le=3650)
    description: Text = Field(default="", max_length=1000)


class Metrics:
    """The registry's Prometheus metrics, in their own collector registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlwarden_registry_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlwarden_registry_request_duration_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
        )
        self.pushes = Counter("mlwarden_registry_pushes_total", "Pushes", ["outcome"], registry=self.registry)
        self.pulled = Counter("mlwarden_registry_pulled_bytes_total", "Bytes served", registry=self.registry)
        self.verify_failures = Counter(
            "mlwarden_registry_verify_failures_total",
            "Blobs that failed verification at pull",
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "mlwarden_registry_auth_failures_total",
            "Failed authentications",
            ["reason"],
            registry=self.registry,
        )
        self.checkpoints = Counter(
            "mlwarden_registry_checkpoints_total",
            "Scheduled audit checkpoint ticks by outcome (signed, unchanged, failed)",
            ["outcome"],
            registry=self.registry,
        )


# Declares the bearer scheme in the OpenAPI schema (and so on every route that takes a ``Caller``). It
# never refuses (auto_error=False): the authenticator reads the header itself and answers its own 401s.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An ``mlw_`` API token or, when the registry is configured for it, an OIDC JWT",
    auto_error=False,
)


def _caller(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> Principal:
    """The authenticated principal (401, or 429 after too many failures from this client)."""
    authenticate: Callable[[Request], Principal] = request.app.state.authenticate
    return authenticate(request)


Caller = Annotated[Principal, Depends(_caller)]


def problem_response(err: ProblemError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="mlwarden"'} if err.status == 401 else {}
    if err.status == 429 and "retry_after" in err.extra:
        headers["Retry-After"] = str(err.extra["retry_after"])
    return JSONResponse(err.to_dict(), status_code=err.status, media_type=PROBLEM, headers=headers)


class Observe:
    """ASGI middleware: one JSON log line and the request metrics per request (streams untouched)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")  # bounded label values
            elapsed = time.perf_counter() - start
            self.metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "event": "request",
                    "method": scope["method"],
                    "route": route,
                    "status": status["code"],
                    "ms": round(elapsed * 1000, 1),
                    "principal": scope.get("state", {}).get("principal"),
                },
            )


def create_app(settings: RegistrySettings, registry: Registry | None = None) -> FastAPI:
    """The ASGI app; opens (and migrates) the registry unless one is given."""
    from mlwarden.registry.service import open_registry  # noqa: PLC0415

    reg = registry or open_registry(settings)
    metrics = Metrics()
    oidc = (
        OidcVerifier(
            settings.oidc_jwks,
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            roles_claim=settings.oidc_roles_claim,
        )
        if settings.oidc_jwks
        else None
    )
    authenticator = Authenticator(reg.engine, oidc)
    limiter = FailureLimiter(settings.login_failures_per_minute)
    scheduler = CheckpointScheduler(
        reg.audit,
        settings.audit_checkpoint_seconds,
        lambda outcome: metrics.checkpoints.labels(outcome).inc(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(reg.warm_up)  # before the socket opens: /readyz then means ready
        scheduler.start()
        try:
            yield
        finally:
            await run_in_threadpool(scheduler.stop)  # signs the final checkpoint; joining blocks

    app = FastAPI(
        title="mlwarden registry",
        version=__version__,
        description="Immutable, signed, gated model versions with aliases, approvals and quarantine.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.registry = reg
    app.state.metrics = metrics

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the ``Problem`` component that every problem+json response refers to.

        FastAPI files a response ``model`` under the route's own media type (application/json), so the
        problem responses name the component by ``$ref`` and it is added here.
        """
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)  # builds and caches app.openapi_schema
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                Problem.model_json_schema()
            )
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, err: ProblemError) -> JSONResponse:
        return problem_response(err)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in err.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem_response(ProblemError(422, "Invalid request", detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        response = problem_response(ProblemError(err.status_code, str(err.detail), str(err.detail)))
        response.headers.update(err.headers or {})  # e.g. the Allow of a 405, which RFC 9110 requires
        return response

    @app.exception_handler(MlwardenError)
    async def _mlwarden(_: Request, err: MlwardenError) -> JSONResponse:
        from mlwarden.registry.audit import AuditError  # noqa: PLC0415
        from mlwarden.registry.blobs import BlobStoreError  # noqa: PLC0415

        if isinstance(err, BlobStoreError):
            log.error("blob store", extra={"event": "blob_error", "error": err.message})
            return problem_response(ProblemError(503, "Storage unavailable", err.diagnostics()))
        if isinstance(err, AuditError):  # the server's fault, not the client's; the action did not happen
            log.error("audit log", extra={"event": "audit_error", "error": err.message})
            return problem_response(ProblemError(503, "Audit log unavailable", err.diagnostics()))
        return problem_response(ProblemError(422, "Rejected", err.diagnostics()))

    @app.exception_handler(Exception)
    async def _internal(_: Request, err: Exception) -> JSONResponse:
        log.exception("internal error", extra={"event": "internal_error", "error": type(err).__name__})
        return problem_response(ProblemError(500, "Internal error", "the registry failed; see its log"))

    def principal(request: Request) -> Principal:
        client = request.client.host if request.client else "unknown"
        presented = bool(request.headers.get("authorization"))
        wait = limiter.retry_after(client)
        if wait is not None:
            metrics.auth_failures.labels("rate_limited").inc()
            raise ProblemError(429, "Too many failed logins", f"retry in {wait} s", retry_after=wait)
        try:
            who = authenticator.authenticate(request.headers.get("authorization"))
        except ProblemError as err:
            if not presented:  # asking without credentials is not a failed login
                raise
            limiter.failed(client)
            metrics.auth_failures.labels("invalid").inc()
            log.warning(
                "authentication failed", extra={"event": "auth_failed", "client": client, "why": err.detail}
            )
            try:
                reg.audit_failure(client, err.detail)
            except Exception:
                log.exception("cannot audit a failed login", extra={"event": "audit_error"})
            raise
        request.scope.setdefault("state", {})["principal"] = who.name
        return who

    app.state.authenticate = principal

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=problems(503))
    def readyz() -> Any:
        """The database is reachable and migrated, and the blob store answers."""
        from mlwarden.registry.db import current_revision, head_revision  # noqa: PLC0415

        try:
            with reg.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            if current_revision(reg.engine) != head_revision():
                raise ProblemError(503, "Not ready", "the database schema is not at the newest revision")
            reg.store.exists("0" * 64)
        except ProblemError as err:
            return problem_response(err)
        except Exception as err:  # noqa: BLE001 - any failure means not ready
            return problem_response(ProblemError(503, "Not ready", f"{type(err).__name__}: {err}"))
        return {"status": "ready"}

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics_endpoint() -> Response:
        """Prometheus metrics (``mlwarden_registry_*``)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/v1/audit/checkpoint",
        tags=["audit"],
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "The latest checkpoint: a C2SP tlog-checkpoint signed note (Ed25519)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            404: problems(404)[404] | {"description": "No checkpoint signed yet"},
        },
    )
    def audit_checkpoint() -> PlainTextResponse:
        """The latest signed audit checkpoint (origin, size, root hash, signature), as text.

        Readable without a token, like ``/healthz``: a checkpoint reveals only the log's size and root
        hash, and witnesses and monitors must fetch it to keep copies that ``mlwarden audit verify
        --checkpoint`` later checks the log against (which catches a rewritten and re-signed history).
        """
        note = reg.audit.latest_checkpoint()
        if note is None:
            raise ProblemError(404, "No checkpoint", "the audit log has no signed checkpoint yet")
        return PlainTextResponse(note, media_type="text/plain; charset=utf-8")

    @app.get("/v1/whoami", tags=["tokens"], responses=problems(401, 422, 429))
    def whoami(caller: Caller) -> dict[str, Any]:
        """The authenticated principal and its grants."""
        return {"principal": caller.name, "via": caller.via, "grants": [g.to_dict() for g in caller.grants]}

    @app.get("/v1/models", tags=["models"], responses=problems(401, 422, 429))
    def list_models(caller: Caller) -> list[dict[str, Any]]:
        """Models in the namespaces the caller may read."""
        return reg.list_models(caller)

    @app.get(
        "/v1/models/{namespace}/{name}/versions", tags=["models"], responses=problems(401, 403, 404, 422, 429)
    )
    def list_versions(namespace: str, name: str, caller: Caller) -> list[dict[str, Any]]:
        """A model's versions, oldest first."""
        return reg.list_versions(caller, Ref(namespace, name))

    @app.put(
        "/v1/models/{namespace}/{name}/versions/{version}",
        tags=["models"],
        status_code=201,
        responses=problems(401, 403, 409, 413, 422, 429, 503),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def push(namespace: str, name: str, version: str, request: Request, caller: Caller) -> JSONResponse:
        """Push a version: a tar of model/, signatures/ and attestations/, gated server-side."""
        ref = Ref(namespace, name)
        caller.require("push", ref.namespace)
        if await run_in_threadpool(reg.version_exists, ref, version):
            metrics.pushes.labels("conflict").inc()
            raise ProblemError(409, "Version exists", f"{ref}@{version} exists and versions are immutable")
        announced = request.headers.get("content-length", "")  # an oversized push is refused unread
        if announced.isdigit() and int(announced) > settings.max_upload_bytes:
            raise ProblemError(413, "Too large", f"uploads are limited to {settings.max_upload_bytes} bytes")
        staging = await run_in_threadpool(reg.new_staging)
        receiver = reg.receiver(staging)
        try:
            received = 0
            async for chunk in request.stream():
                received += len(chunk)
                if received > settings.max_upload_bytes:
                    raise ProblemError(
                        413, "Too large", f"uploads are limited to {settings.max_upload_bytes} bytes"
                    )
                if receiver.write(chunk):  # the unpacking thread is behind: wait off the event loop
                    await run_in_threadpool(receiver.drain)
            upload = await run_in_threadpool(receiver.finish)
            result = await run_in_threadpool(reg.push, caller, ref, version, upload)
        except ClientDisconnect:
            metrics.pushes.labels("interrupted").inc()
            raise ProblemError(
                400, "Upload interrupted", "the client went away before the upload ended"
            ) from None
        except ProblemError as err:
            metrics.pushes.labels("conflict" if err.status == 409 else "refused").inc()
            raise
        finally:
            await run_in_threadpool(receiver.abort)  # returns at once unless the body was cut short
            await run_in_threadpool(shutil.rmtree, staging, True)
        metrics.pushes.labels("stored").inc()
        return JSONResponse(result, status_code=201)

    @app.get(
        "/v1/models/{namespace}/{name}/versions/{version}",
        tags=["models"],
        responses=problems(401, 403, 404, 422, 429),
    )
    def show(namespace: str, name: str, version: str, caller: Caller) -> dict[str, Any]:
        """A version: files and digests, signers, push decision, lineage, attestations, aliases."""
        return reg.show(caller, Ref(namespace, name), version)

    @app.get(
        "/v1/models/{namespace}/{name}/versions/{version}/signatures",
        tags=["models"],
        responses=problems(401, 403, 404, 422, 429),
    )
    def signatures(namespace: str, name: str, version: str, caller: Caller) -> list[dict[str, Any]]:
        """The version's OMS signature bundles."""
        return reg.signatures(caller, Ref(namespace, name), version)

    def served(stream: FileStream) -> Iterator[bytes]:
        """A pulled file's chunks, counted; a blob failing verification is logged and counted, and its
        error ends the transfer (the reader withholds the last chunk, so no complete wrong file)."""
        try:
            for chunk in stream.chunks:
                metrics.pulled.inc(len(chunk))
                yield chunk
        except MlwardenError as err:
            metrics.verify_failures.inc()
            log.error(
                "pull aborted",
                extra={"event": "verify_failed", "digest": stream.digest, "error": err.message},
            )
            raise

    @app.get(
        "/v1/models/{namespace}/{name}/versions/{version}/archive",
        tags=["models"],
        response_class=StreamingResponse,
        responses={
            200: {"content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}},
            **problems(401, 403, 404, 422, 423, 429, 503),
        },
    )
    def pull_archive(namespace: str, name: str, version: str, caller: Caller) -> StreamingResponse:
        """All files of a version as one uncompressed tar (what ``mlwarden pull`` reads), in path order.

        Each file is verified against its digest as it streams; a blob that fails verification ends
        the transfer before its last chunk, so the client never receives a complete wrong file."""
        streams = reg.open_archive(caller, Ref(namespace, name), version)
        members = [(s.path, s.size) for s in streams]
        chunks = tar_chunks((s.path, s.size, served(s)) for s in streams)

        headers = {"Content-Length": str(archive_size(members))}
        return StreamingResponse(chunks, media_type="application/x-tar", headers=headers)

    @app.get(
        "/v1/models/{namespace}/{name}/versions/{version}/files/{path:path}",
        tags=["models"],
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                "headers": {"ETag": {"required": True, "schema": {"type": "string", "pattern": '^"sha256:'}}},
            },
            **problems(401, 403, 404, 422, 423, 429, 503),
        },
    )
    def pull(namespace: str, name: str, version: str, path: str, caller: Caller) -> StreamingResponse:
        """One file of a version, streamed and verified against its digest as it goes."""
        stream = reg.open_file(caller, Ref(namespace, name), version, path)
        headers = {"Content-Length": str(stream.size), "ETag": f'"sha256:{stream.digest}"'}
        return StreamingResponse(served(stream), media_type="application/octet-stream", headers=headers)

    @app.post(
        "/v1/models/{namespace}/{name}/versions/{version}/approvals",
        tags=["approvals"],
        status_code=201,
        responses=problems(401, 403, 404, 413, 422, 429),
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        },
    )
    async def approve(
        namespace: str, name: str, version: str, request: Request, caller: Caller
    ) -> dict[str, Any]:
        """Upload a signed approval (``mlwarden approve``) by an approver who is not the publisher."""
        body = await request.body()
        if len(body) > 1 << 20:
            raise ProblemError(413, "Too large", "an approval bundle is at most 1 MiB")
        return await run_in_threadpool(reg.approve, caller, Ref(namespace, name), version, body)

    @app.post(
        "/v1/models/{namespace}/{name}/versions/{version}/quarantine",
        tags=["approvals"],
        responses=problems(400, 401, 403, 404, 422, 429),
    )
    def quarantine(
        namespace: str, name: str, version: str, body: Annotated[QuarantineBody, Body()], caller: Caller
    ) -> dict[str, Any]:
        """Block pulls of a version; gateways see a ``quarantine`` event and unload it."""
        return reg.quarantine(caller, Ref(namespace, name), version, body.reason)

    @app.post(
        "/v1/models/{namespace}/{name}/versions/{version}/release",
        tags=["approvals"],
        responses=problems(400, 401, 403, 404, 409, 422, 429),
    )
    def release(
        namespace: str, name: str, version: str, body: Annotated[ReleaseBody, Body()], caller: Caller
    ) -> dict[str, Any]:
        """Lift a quarantine (admin only, with a reason); gateways see a ``release`` event."""
        return reg.release(caller, Ref(namespace, name), version, body.reason)

    @app.get(
        "/v1/models/{namespace}/{name}/aliases/{alias}",
        tags=["aliases"],
        responses=problems(401, 403, 404, 422, 429),
    )
    def resolve(namespace: str, name: str, alias: str, caller: Caller) -> dict[str, Any]:
        """The version an alias points at."""
        return reg.resolve_alias(caller, Ref(namespace, name), alias)

    @app.put(
        "/v1/models/{namespace}/{name}/aliases/{alias}",
        tags=["aliases"],
        responses=problems(400, 401, 403, 404, 409, 422, 429, 503),
    )
    def promote(
        namespace: str, name: str, alias: str, body: Annotated[PromoteBody, Body()], caller: Caller
    ) -> dict[str, Any]:
        """Promote: point the alias at a version that passes the alias's policy."""
        return reg.promote(caller, Ref(namespace, name), alias, body.version)

    @app.post(
        "/v1/models/{namespace}/{name}/aliases/{alias}/rollback",
        tags=["aliases"],
        responses=problems(400, 401, 403, 404, 409, 422, 429),
    )
    def rollback(
        namespace: str, name: str, alias: str, body: Annotated[RollbackBody, Body()], caller: Caller
    ) -> dict[str, Any]:
        """Move the alias back to an earlier good version it held."""
        return reg.rollback(caller, Ref(namespace, name), alias, body.version)

    @app.get("/v1/events", tags=["operations"], responses=problems(401, 422, 429))
    def events(
        caller: Caller,
        since: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Registry events after ``since`` (gateways poll for quarantines and alias moves)."""
        return reg.events(caller, since, limit)

    @app.post("/v1/tokens", tags=["tokens"], status_code=201, responses=problems(400, 401, 403, 422, 429))
    def create_token(body: Annotated[TokenBody, Body()], caller: Caller) -> dict[str, Any]:
        """Create an API token; the response is the only time its secret is shown."""
        return reg.create_token(caller, body.principal, body.grants, body.days, body.description)

    @app.get("/v1/tokens", tags=["tokens"], responses=problems(401, 422, 429))
    def list_tokens(caller: Caller) -> list[dict[str, Any]]:
        """Tokens the caller may manage (never their secrets)."""
        return reg.list_tokens(caller)

    @app.delete("/v1/tokens/{token_id}", tags=["tokens"], responses=problems(401, 404, 422, 429))
    def revoke_token(token_id: str, caller: Caller) -> dict[str, Any]:
        """Revoke a token."""
        return reg.revoke_token(caller, token_id)

    app.add_middleware(Observe, metrics=metrics)
    return app


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the record's ``extra`` fields."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)
