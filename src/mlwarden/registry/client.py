"""``RegistryClient``: the registry's API in Python (httpx), streaming in both directions.

    >>> from mlwarden.registry.client import RegistryClient
    >>> client = RegistryClient("http://127.0.0.1:8750", token="mlw_…")        # doctest: +SKIP
    >>> client.push("team/classifier", "1.0", "model/", signatures=["model.sig"])  # doctest: +SKIP
    >>> client.pull("team/classifier", "1.0", "pulled/")                       # doctest: +SKIP

A push streams a tar (``model/``, ``signatures/``, ``attestations/``) built on the fly, with its exact
length announced, so memory stays flat for multi-GB models. A pull streams the version back as one tar
(one request, one audit entry), writes every file to a temporary directory beside the destination,
checks each file's SHA-256 against the version's manifest as it arrives, and renames the directory
into place only when all of them matched.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from mlwarden.errors import MlwardenError
from mlwarden.registry.tarstream import TarFeed, TarStreamError, archive_size, tar_chunks

CHUNK = 4 << 20


class RegistryError(MlwardenError):
    """The registry refused or failed a request; ``status`` and ``problem`` hold its answer."""

    def __init__(self, message: str, *, status: int = 0, problem: dict[str, Any] | None = None) -> None:
        hint = {
            401: "pass a valid token (MLWARDEN_REGISTRY__TOKEN or --token-file)",
            403: "ask an admin for the needed role in this namespace",
            409: "versions are immutable: push a new version",
            423: "the version is quarantined; pull another version",
        }.get(status, "see the registry's answer above")
        super().__init__(message, hint=hint)
        self.status = status
        self.problem = problem or {}
        if status == 422 and "decision" in self.problem:
            self.exit_code = 1  # denied, like 'mlwarden gate'


def split_model(name: str) -> tuple[str, str]:
    """``namespace/name`` (``name`` alone means namespace ``default``)."""
    namespace, _, model = name.rpartition("/")
    return namespace or "default", model


def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
    """The file's first ``size`` bytes (the length announced in its tar header)."""
    sent = 0
    with path.open("rb", buffering=0) as fh:
        while sent < size and (chunk := fh.read(min(CHUNK, size - sent))):
            sent += len(chunk)
            yield chunk
    if sent != size:
        raise RegistryError(f"{path} changed size while it was being pushed")


def push_entries(
    model_dir: Path, signatures: Iterable[Path], attestations: Iterable[Path]
) -> list[tuple[str, Path]]:
    """The upload's members: every regular file of the model, then signatures and attestations."""
    if not model_dir.is_dir():
        raise MlwardenError(f"{model_dir} is not a directory", hint="push a model directory")
    entries: list[tuple[str, Path]] = []
    for path in sorted(model_dir.rglob("*")):
        if path.is_symlink():
            raise MlwardenError(f"{path} is a symbolic link", hint="the registry stores regular files only")
        if path.is_file():
            entries.append((f"model/{path.relative_to(model_dir).as_posix()}", path))
    entries += [(f"signatures/{i:03d}.sig", p) for i, p in enumerate(signatures)]
    att: list[Path] = []
    for p in attestations:
        att += sorted(p.glob("*.json")) if p.is_dir() else [p]
    entries += [(f"attestations/{i:03d}-{p.name}", p) for i, p in enumerate(att)]
    return entries


def _feed_on_thread(feed: TarFeed, chunks: Iterable[bytes]) -> None:
    """Hash and write on a second thread while this one receives (all three release the GIL), so a
    pull costs about max(network, hash + disk) rather than their sum; at most 4 batches wait."""
    batches: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while (data := batches.get()) is not None:
                feed.feed(data)
        except BaseException as err:  # noqa: BLE001 - re-raised on the receiving thread
            errors.append(err)
            while batches.get() is not None:  # let the receiver finish putting
                pass

    worker = threading.Thread(target=work, name="mlw-pull", daemon=True)
    worker.start()
    pending: list[bytes] = []
    size = 0
    try:
        for chunk in chunks:
            if errors:
                break
            pending.append(chunk)
            size += len(chunk)
            if size >= CHUNK:
                batches.put(b"".join(pending))
                pending, size = [], 0
        if pending and not errors:
            batches.put(b"".join(pending))
    finally:
        batches.put(None)
        worker.join()
    if errors:
        raise errors[0]


class _PullFeed(TarFeed):
    """Writes a version's archive into ``into``, checking every file against the version's manifest."""

    def __init__(self, into: Path, files: Sequence[dict[str, Any]]) -> None:
        super().__init__()
        self._into = into
        self._expected = {f["path"]: (f["digest"], f["size"]) for f in files}
        self._done: set[str] = set()
        self._name = ""
        self._fh: Any = None
        self._hasher: Any = None

    def begin(self, info: tarfile.TarInfo) -> None:
        if info.isdir():
            return
        rel = PurePosixPath(info.name)
        if (
            info.name not in self._expected
            or rel.is_absolute()
            or ".." in rel.parts
            or info.name in self._done
        ):
            raise RegistryError(f"the registry sent {info.name!r}, which is not a file of this version")
        if info.size != self._expected[info.name][1]:
            raise RegistryError(
                f"{info.name} has {info.size} bytes, not the manifest's {self._expected[info.name][1]}"
            )
        out = self._into.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        self._name, self._fh, self._hasher = info.name, out.open("xb"), hashlib.sha256()

    def data(self, chunk: memoryview) -> None:
        self._hasher.update(chunk)
        self._fh.write(chunk)

    def end(self) -> None:
        self._fh.close()
        self._fh = None
        digest = self._expected[self._name][0]
        if self._hasher.hexdigest() != digest:
            raise RegistryError(f"{self._name} does not match its digest sha256:{digest}")
        self._done.add(self._name)

    def close(self) -> None:
        super().close()
        missing = sorted(set(self._expected) - self._done)
        if missing:
            raise RegistryError(f"the archive lacks {len(missing)} file(s) of the version: {missing[0]}, ...")

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()


class RegistryClient:
    """A client for one registry URL and token."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 600.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise RegistryError(f"cannot reach the registry: {err}") from None
        return self._json(response)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.is_success:
            return response.json()
        _raise(response, response.text)
        return None

    @staticmethod
    def _model_path(model: str) -> str:
        namespace, name = split_model(model)
        return f"/v1/models/{namespace}/{name}"

    # -- verbs ------------------------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The principal behind the token."""
        return dict(self._request("GET", "/v1/whoami"))

    def models(self) -> list[dict[str, Any]]:
        """Models the token may read."""
        return list(self._request("GET", "/v1/models"))

    def versions(self, model: str) -> list[dict[str, Any]]:
        """A model's versions."""
        return list(self._request("GET", f"{self._model_path(model)}/versions"))

    def show(self, model: str, version: str) -> dict[str, Any]:
        """One version in full."""
        return dict(self._request("GET", f"{self._model_path(model)}/versions/{version}"))

    def resolve(self, model: str, alias: str) -> dict[str, Any]:
        """The version an alias points at."""
        return dict(self._request("GET", f"{self._model_path(model)}/aliases/{alias}"))

    def signatures(self, model: str, version: str) -> list[dict[str, Any]]:
        """The version's OMS signature bundles."""
        return list(self._request("GET", f"{self._model_path(model)}/versions/{version}/signatures"))

    def push(
        self,
        model: str,
        version: str,
        model_dir: str | os.PathLike[str],
        *,
        signatures: Iterable[str | os.PathLike[str]],
        attestations: Iterable[str | os.PathLike[str]] = (),
    ) -> dict[str, Any]:
        """Upload a signed model (and its attestations); the registry gates it and stores it."""
        entries = push_entries(Path(model_dir), map(Path, signatures), map(Path, attestations))
        sized = [(name, path, path.stat().st_size) for name, path in entries]
        body = tar_chunks((name, size, _file_chunks(path, size)) for name, path, size in sized)
        length = archive_size((name, size) for name, _, size in sized)
        return dict(
            self._request(
                "PUT",
                f"{self._model_path(model)}/versions/{version}",
                content=body,
                # a known length: no chunked framing, and an oversized push is refused before it is sent
                headers={"Content-Type": "application/x-tar", "Content-Length": str(length)},
            )
        )

    def pull(self, model: str, version: str, dest: str | os.PathLike[str]) -> dict[str, Any]:
        """Download a version (or ``@alias``: the version it points at now) into ``dest``, which must not
        exist, verifying every file's digest."""
        target = Path(dest)
        if target.exists():
            raise MlwardenError(f"{target} already exists", hint="pull into a new directory")
        doc = self.resolve(model, version[1:]) if version.startswith("@") else self.show(model, version)
        version = doc["version"]  # an alias moving meanwhile does not mix two versions
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
        feed = _PullFeed(partial, doc["files"])
        try:
            try:
                with self._http.stream(
                    "GET", f"{self._model_path(model)}/versions/{version}/archive"
                ) as response:
                    if not response.is_success:
                        _raise(response, response.read().decode("utf-8", "replace"))
                    _feed_on_thread(feed, response.iter_raw())
                feed.close()
            except httpx.HTTPError as err:
                raise RegistryError(
                    f"the download broke off ({err}); the registry aborts a transfer whose blob fails "
                    "verification"
                ) from None
            except TarStreamError as err:
                raise RegistryError(f"the registry sent an invalid archive: {err}") from None
            finally:
                feed.release()
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return doc

    def promote(self, model: str, alias: str, version: str) -> dict[str, Any]:
        """Point an alias at a version (the registry gates it with the alias's policy)."""
        return dict(
            self._request("PUT", f"{self._model_path(model)}/aliases/{alias}", json={"version": version})
        )

    def rollback(self, model: str, alias: str, version: str | None = None) -> dict[str, Any]:
        """Move an alias back to an earlier good version."""
        return dict(
            self._request(
                "POST", f"{self._model_path(model)}/aliases/{alias}/rollback", json={"version": version}
            )
        )

    def approve(self, model: str, version: str, bundle: bytes) -> dict[str, Any]:
        """Upload a signed approval bundle (written by ``mlwarden approve``)."""
        return dict(
            self._request(
                "POST",
                f"{self._model_path(model)}/versions/{version}/approvals",
                content=bundle,
                headers={"Content-Type": "application/json"},
            )
        )

    def quarantine(self, model: str, version: str, reason: str) -> dict[str, Any]:
        """Block pulls of a version."""
        return dict(
            self._request(
                "POST", f"{self._model_path(model)}/versions/{version}/quarantine", json={"reason": reason}
            )
        )

    def release(self, model: str, version: str, reason: str) -> dict[str, Any]:
        """Lift a quarantine (admin only); the reason goes into the audit log."""
        return dict(
            self._request(
                "POST", f"{self._model_path(model)}/versions/{version}/release", json={"reason": reason}
            )
        )

    def events(self, since: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Registry events after ``since``."""
        return list(self._request("GET", "/v1/events", params={"since": since, "limit": limit}))

    def create_token(
        self, principal: str, grants: Sequence[str], *, days: int | None = None, description: str = ""
    ) -> dict[str, Any]:
        """A new token (``grants``: ``namespace:role``); its secret is in ``["token"]``, shown once."""
        body = {"principal": principal, "grants": list(grants), "days": days, "description": description}
        return dict(self._request("POST", "/v1/tokens", json=body))

    def tokens(self) -> list[dict[str, Any]]:
        """Tokens the caller may manage."""
        return list(self._request("GET", "/v1/tokens"))

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        """Revoke a token."""
        return dict(self._request("DELETE", f"/v1/tokens/{token_id}"))


def _raise(response: httpx.Response, body: str) -> None:
    try:
        problem = json.loads(body)
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = problem.get("detail") or body[:200] or response.reason_phrase
    raise RegistryError(
        f"registry: {response.status_code} {problem.get('title', response.reason_phrase)}: {detail}",
        status=response.status_code,
        problem=problem,
    )
