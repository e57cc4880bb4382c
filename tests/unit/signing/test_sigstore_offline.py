"""Sigstore keyless bundles verified offline against a pinned trusted root, with real crypto end to end.

A private Sigstore instance (Fulcio CA, CT log, Rekor log: tests/sigstore_instance.py) is fabricated
here; sigstore-python's verifier accepts its bundles, and every tampering is refused with a one-line
:class:`VerificationError` naming the reason.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mlwarden.errors import UsageError
from mlwarden.hashing import hash_model
from mlwarden.signing import Signer, SigningError, VerificationError, dump_bundle, generate_key, sign, verify
from mlwarden.signing.bundle import INTOTO_PAYLOAD_TYPE, statement
from tests.sigstore_instance import (
    ISSUER_V1_OID,
    ISSUER_V2_OID,
    SigstoreInstance,
    b64,
    bundle_of,
    identity_token,
)

pytest.importorskip("sigstore", reason="needs the mlwarden[sigstore] extra")

import sigstore.errors
import sigstore.models
import sigstore.oidc

from mlwarden.signing.sigstore import SigstoreTrust, load_trusted_root, sign_sigstore

IDENTITY = "publisher@example.com"
ISSUER = "https://accounts.example.com"
SIGNED_AT = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)

Bundle = dict[str, Any]


@pytest.fixture(scope="module")
def instance() -> SigstoreInstance:
    return SigstoreInstance()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sigstore") / "model"
    for name, data in {
        "config.json": b'{"architectures": ["Demo"]}',
        "model.safetensors": os.urandom(70_000),
        "tokenizer/vocab.txt": b"hello\nworld\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def payload(model: Path) -> bytes:
    """A real OMS v1.0 statement for ``model``."""
    manifest = hash_model(model)
    body = statement(manifest.model_name, manifest.root_digest, manifest.to_predicate())
    return json.dumps(body, indent=2).encode("utf-8")


@pytest.fixture(scope="module")
def good(instance: SigstoreInstance, payload: bytes) -> Bundle:
    return instance.sign_bundle(payload, identity=IDENTITY, issuer=ISSUER, signed_at=SIGNED_AT)


@pytest.fixture(scope="module")
def trust(instance: SigstoreInstance) -> SigstoreTrust:
    return SigstoreTrust(instance.trusted_root_json(), IDENTITY, ISSUER)


def refused(trust: SigstoreTrust, bundle: Bundle, pattern: str) -> VerificationError:
    with pytest.raises(VerificationError, match=pattern) as info:
        trust.authenticate(bundle)
    err = info.value
    assert "\n" not in err.message and err.exit_code == 1
    return err


def edited(bundle: Bundle, change: Callable[[Bundle], object]) -> Bundle:
    copied = copy.deepcopy(bundle)
    change(copied)
    return copied


def entry(bundle: Bundle) -> dict[str, Any]:
    result: dict[str, Any] = bundle["verificationMaterial"]["tlogEntries"][0]
    return result


# -- what verifies --------------------------------------------------------------------------------------


def test_good_bundle_verifies(trust: SigstoreTrust, good: Bundle, payload: bytes) -> None:
    authenticated = trust.authenticate(good)
    assert authenticated.payload == payload
    assert authenticated.payload_type == INTOTO_PAYLOAD_TYPE
    assert authenticated.signer == Signer("sigstore", IDENTITY, ISSUER)


def test_bundle_layout_is_what_sign_dsse_writes(good: Bundle) -> None:
    """One Fulcio leaf in ``certificate`` and one ``dsse`` 0.0.1 Rekor entry: model-signing's layout."""
    assert good["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    material = good["verificationMaterial"]
    assert set(material) == {"certificate", "tlogEntries", "timestampVerificationData"}
    assert entry(good)["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    parsed = sigstore.models.Bundle.from_json(json.dumps(good))  # sigstore-python reads it back unchanged
    assert json.loads(parsed.to_json()) == good


@pytest.mark.parametrize("as_path", [str, Path])
def test_trusted_root_from_a_file(
    instance: SigstoreInstance, good: Bundle, tmp_path: Path, as_path: Callable[[Path], Any]
) -> None:
    path = tmp_path / "trusted_root.json"
    path.write_bytes(instance.trusted_root_json())
    assert SigstoreTrust(as_path(path), IDENTITY, ISSUER).authenticate(good).signer.identity == IDENTITY


def test_model_verifies_end_to_end(trust: SigstoreTrust, good: Bundle, model: Path, tmp_path: Path) -> None:
    """mlwarden's own verify: Sigstore authenticates the statement, then the model is re-hashed."""
    manifest = verify(model, dump_bundle(good), trust)
    assert manifest.root_digest == hash_model(model).root_digest
    changed = tmp_path / "model"
    changed.mkdir()
    for item in model.rglob("*"):
        if item.is_file():
            target = changed / item.relative_to(model)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.read_bytes())
    (changed / "config.json").write_bytes(b"{}")
    with pytest.raises(VerificationError, match=r"model does not match its signature: modified: config.json"):
        verify(changed, good, trust)


def test_uri_identity_of_a_ci_workflow(instance: SigstoreInstance, payload: bytes) -> None:
    workflow = "https://github.com/example/models/.github/workflows/release.yml@refs/heads/main"
    actions = "https://token.actions.githubusercontent.com"
    bundle = instance.sign_bundle(payload, identity=workflow, issuer=actions, signed_at=SIGNED_AT)
    trust = SigstoreTrust(instance.trusted_root_json(), workflow, actions)
    assert trust.authenticate(bundle).signer == Signer("sigstore", workflow, actions)


@pytest.mark.parametrize("extensions", [(ISSUER_V2_OID,), (ISSUER_V1_OID,)], ids=["only-1.8", "only-1.1"])
def test_either_fulcio_issuer_extension_is_enough(
    instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes, extensions: tuple[Any, ...]
) -> None:
    bundle = instance.sign_bundle(
        payload, identity=IDENTITY, issuer=ISSUER, signed_at=SIGNED_AT, issuer_extensions=extensions
    )
    assert trust.authenticate(bundle).payload == payload


def test_client_trust_config_is_accepted_as_trusted_root(instance: SigstoreInstance, good: Bundle) -> None:
    config = json.dumps(instance.client_trust_config("https://sigstore.example.invalid")).encode()
    assert SigstoreTrust(config, IDENTITY, ISSUER).authenticate(good).signer.issuer == ISSUER


# -- identity policy ------------------------------------------------------------------------------------


def test_wrong_identity(instance: SigstoreInstance, good: Bundle) -> None:
    trust = SigstoreTrust(instance.trusted_root_json(), "mallory@example.com", ISSUER)
    err = refused(
        trust, good, r"^unexpected signer identity: the signing certificate is for publisher@example\.com"
    )
    assert "not mallory@example.com" in err.message and "--sigstore-identity" in err.hint


def test_wrong_issuer(instance: SigstoreInstance, good: Bundle) -> None:
    trust = SigstoreTrust(
        instance.trusted_root_json(), IDENTITY, "https://token.actions.githubusercontent.com"
    )
    err = refused(
        trust, good, r"^unexpected OIDC issuer: the signing certificate was issued for https://accounts"
    )
    assert "--issuer" in err.hint


def test_issuer_extensions_that_disagree(
    instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes
) -> None:
    """The legacy issuer (…1.1, all that sigstore-python's Identity reads) names the expected issuer,
    the current one (…1.8) another: refused, because every issuer extension present must match."""
    bundle = instance.sign_bundle(
        payload, identity=IDENTITY, issuer="https://evil.example", legacy_issuer=ISSUER, signed_at=SIGNED_AT
    )
    refused(
        trust,
        bundle,
        r"^unexpected OIDC issuer: .* for https://evil\.example, not https://accounts\.example\.com$",
    )


# -- tampering and forgery ------------------------------------------------------------------------------


def test_payload_edited(trust: SigstoreTrust, good: Bundle, payload: bytes) -> None:
    body = json.loads(payload)
    body["predicate"]["resources"][0]["digest"] = "0" * 64
    forged = edited(good, lambda b: b["dsseEnvelope"].update(payload=b64(json.dumps(body).encode())))
    refused(trust, forged, r"^bad signature: the DSSE signature does not match the payload")


def test_signature_from_another_key(instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes) -> None:
    """Logged and certified, but the envelope is signed by a key that is not the certificate's."""
    bundle = instance.sign_bundle(
        payload,
        identity=IDENTITY,
        issuer=ISSUER,
        signed_at=SIGNED_AT,
        dsse_key=ec.generate_private_key(ec.SECP256R1()),
    )
    refused(trust, bundle, r"^bad signature")


def test_leaf_from_an_untrusted_ca(instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes) -> None:
    """A rogue CA with the very same names as the real intermediate; SCT and log entry are genuine."""
    rogue = SigstoreInstance(instance.name)
    assert rogue.intermediate.subject == instance.intermediate.subject
    bundle = instance.sign_bundle(
        payload,
        identity=IDENTITY,
        issuer=ISSUER,
        signed_at=SIGNED_AT,
        ca=(rogue.intermediate_key, rogue.intermediate),
    )
    err = refused(
        trust, bundle, r"^untrusted signing certificate: it does not chain to a Fulcio CA of the trusted root"
    )
    assert "another Sigstore instance" in err.hint


def test_trusted_root_of_another_instance(good: Bundle, payload: bytes) -> None:
    other = SigstoreTrust(SigstoreInstance("elsewhere").trusted_root_json(), IDENTITY, ISSUER)
    refused(other, good, r"^untrusted signing certificate")


def test_sct_from_an_unlisted_ct_log(
    instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes
) -> None:
    bundle = instance.sign_bundle(
        payload,
        identity=IDENTITY,
        issuer=ISSUER,
        signed_at=SIGNED_AT,
        ct_key=ec.generate_private_key(ec.SECP256R1()),
    )
    refused(
        trust,
        bundle,
        r"^invalid certificate transparency proof: the signing certificate's SCT does not verify",
    )


def test_certificate_not_for_code_signing(
    instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes
) -> None:
    bundle = instance.sign_bundle(
        payload, identity=IDENTITY, issuer=ISSUER, signed_at=SIGNED_AT, code_signing=False
    )
    refused(trust, bundle, r"^signing certificate is not for code signing")


def test_certificate_expired_at_integrated_time(
    instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes
) -> None:
    """Logged 20 minutes after a 10-minute certificate was issued: the signature proves nothing."""
    bundle = instance.sign_bundle(
        payload, identity=IDENTITY, issuer=ISSUER, signed_at=SIGNED_AT, logged_after=dt.timedelta(minutes=20)
    )
    refused(
        trust,
        bundle,
        r"^signing certificate was not valid at the signing time 2025-06-01 12:20:00 UTC "
        r"\(valid 2025-06-01 12:00:00 UTC to 2025-06-01 12:10:00 UTC\)",
    )


def test_certificate_not_yet_valid_at_integrated_time(
    instance: SigstoreInstance, trust: SigstoreTrust, payload: bytes
) -> None:
    bundle = instance.sign_bundle(
        payload, identity=IDENTITY, issuer=ISSUER, signed_at=SIGNED_AT, logged_after=dt.timedelta(minutes=-5)
    )
    refused(trust, bundle, r"^signing certificate was not valid at the signing time 2025-06-01 11:55:00 UTC")


def test_inclusion_proof_tampered(trust: SigstoreTrust, good: Bundle) -> None:
    def flip(bundle: Bundle) -> None:
        hashes = entry(bundle)["inclusionProof"]["hashes"]
        raw = bytearray(base64.b64decode(hashes[0]))
        raw[0] ^= 1
        hashes[0] = b64(bytes(raw))

    refused(trust, edited(good, flip), r"^invalid transparency log entry: the inclusion proof does not lead")
    short = edited(good, lambda b: entry(b)["inclusionProof"]["hashes"].pop())
    refused(trust, short, r"^invalid transparency log entry: the inclusion proof has the wrong size")


def test_inclusion_proof_with_a_consistent_forged_root(trust: SigstoreTrust, good: Bundle) -> None:
    """A proof and root hash recomputed for a forged tree fail at the checkpoint's signature."""
    from tests.sigstore_instance import inclusion_path, leaf_hash, tree_hash

    body = base64.b64decode(entry(good)["canonicalizedBody"])
    leaves = [leaf_hash(b"forged"), leaf_hash(body)]

    def forge(bundle: Bundle) -> None:
        proof = entry(bundle)["inclusionProof"]
        proof.update(logIndex="1", treeSize="2", rootHash=b64(tree_hash(leaves)))
        proof["hashes"] = [b64(h) for h in inclusion_path(1, leaves)]

    refused(
        trust, edited(good, forge), r"^invalid transparency log entry: the inclusion proof's root hash is not"
    )


def test_checkpoint_signed_by_another_key(
    instance: SigstoreInstance, trust: SigstoreTrust, good: Bundle
) -> None:
    proof = entry(good)["inclusionProof"]
    forged_note = instance.checkpoint(
        int(proof["treeSize"]),
        base64.b64decode(proof["rootHash"]),
        key=ec.generate_private_key(ec.SECP256R1()),
    )
    forged = edited(good, lambda b: entry(b)["inclusionProof"]["checkpoint"].update(envelope=forged_note))
    refused(trust, forged, r"^invalid transparency log entry: the signed checkpoint does not verify")


def test_checkpoint_malformed(trust: SigstoreTrust, good: Bundle) -> None:
    def unsigned(bundle: Bundle) -> None:
        checkpoint = entry(bundle)["inclusionProof"]["checkpoint"]
        checkpoint["envelope"] = checkpoint["envelope"].split("\n\n")[0] + "\n"

    refused(
        trust, edited(good, unsigned), r"^invalid transparency log entry: the signed checkpoint is malformed"
    )


def test_signed_entry_timestamp_invalid(trust: SigstoreTrust, good: Bundle) -> None:
    def corrupt(bundle: Bundle) -> None:
        raw = bytearray(base64.b64decode(entry(bundle)["inclusionPromise"]["signedEntryTimestamp"]))
        raw[-1] ^= 1
        entry(bundle)["inclusionPromise"]["signedEntryTimestamp"] = b64(bytes(raw))

    refused(
        trust, edited(good, corrupt), r"^invalid transparency log entry: the signed entry timestamp \(SET\)"
    )


def test_integrated_time_moved(trust: SigstoreTrust, good: Bundle) -> None:
    """Moving the log time (say, into the certificate's validity) breaks the SET that signs it."""
    moved = edited(good, lambda b: entry(b).update(integratedTime=str(int(entry(b)["integratedTime"]) + 60)))
    refused(trust, moved, r"^invalid transparency log entry: the signed entry timestamp \(SET\)")


def test_log_entry_of_another_signature(
    instance: SigstoreInstance, trust: SigstoreTrust, good: Bundle
) -> None:
    """A genuine, correctly proven log entry, but for another envelope by the same certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = instance.issue_leaf(key.public_key(), identity=IDENTITY, issuer=ISSUER, not_before=SIGNED_AT)
    envelope = instance.dsse_envelope(
        INTOTO_PAYLOAD_TYPE, base64.b64decode(good["dsseEnvelope"]["payload"]), key
    )
    decoy = instance.dsse_envelope(INTOTO_PAYLOAD_TYPE, b'{"something": "else"}', key)
    logged = instance.log_entry(instance.dsse_entry_body(decoy, leaf), int(SIGNED_AT.timestamp()) + 30)
    refused(
        trust, bundle_of(leaf, envelope, logged), r"^transparency log entry does not record this envelope"
    )


def test_without_inclusion_promise_or_timestamp(trust: SigstoreTrust, good: Bundle) -> None:
    stripped = edited(good, lambda b: entry(b).pop("inclusionPromise"))
    refused(trust, stripped, r"^malformed Sigstore bundle: bundle must contain an inclusion promise")


def test_without_checkpoint(trust: SigstoreTrust, good: Bundle) -> None:
    stripped = edited(good, lambda b: entry(b)["inclusionProof"].pop("checkpoint"))
    refused(trust, stripped, r"^malformed Sigstore bundle: .*checkpoint")


def test_key_bundle_is_not_a_sigstore_bundle(trust: SigstoreTrust, model: Path) -> None:
    refused(
        trust,
        sign(model, generate_key()),
        r"^bundle is key-signed, but a Sigstore identity \(--sigstore-identity/.*\) was given",
    )


# -- the trusted root and the extra ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "pattern"),
    [
        (b"\x00\xffgarbage", r"^invalid trusted root: not JSON"),
        (b"[1, 2]", r"^invalid trusted root: not a JSON object"),
        (b'{"mediaType": "application/json"}', r"^invalid trusted root: media type is 'application/json'"),
    ],
    ids=["garbage", "not-an-object", "wrong-media-type"],
)
def test_garbage_trusted_root(source: bytes, pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern) as info:
        SigstoreTrust(source, IDENTITY, ISSUER)
    assert info.value.exit_code == 2 and "\n" not in info.value.message


@pytest.mark.parametrize(
    ("field", "name"), [("ctlogs", "CT log"), ("tlogs", "Rekor log"), ("certificateAuthorities", "Fulcio CA")]
)
def test_incomplete_trusted_root(instance: SigstoreInstance, field: str, name: str) -> None:
    root = instance.trusted_root()
    root[field] = []
    with pytest.raises(UsageError, match=rf"^invalid trusted root: it lists no {name} \({field}\)"):
        SigstoreTrust(json.dumps(root).encode(), IDENTITY, ISSUER)


def test_trusted_root_with_invalid_fields(instance: SigstoreInstance) -> None:
    root = instance.trusted_root()
    root["tlogs"][0]["publicKey"]["keyDetails"] = "NO_SUCH_KEY_TYPE"
    with pytest.raises(UsageError, match=r"^invalid trusted root: ") as info:
        SigstoreTrust(json.dumps(root).encode(), IDENTITY, ISSUER)
    assert "\n" not in info.value.message


def test_unreadable_trusted_root(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^cannot read trusted root .*missing\.json: No such file"):
        SigstoreTrust(tmp_path / "missing.json", IDENTITY, ISSUER)
    with pytest.raises(UsageError, match=r"^cannot read trusted root"):
        load_trusted_root(str(tmp_path))  # a directory


def test_identity_and_issuer_are_required(instance: SigstoreInstance) -> None:
    with pytest.raises(UsageError, match="identity is required"):
        SigstoreTrust(instance.trusted_root_json(), "", ISSUER)
    with pytest.raises(UsageError, match="issuer is required"):
        SigstoreTrust(instance.trusted_root_json(), IDENTITY, "")


def test_without_the_extra(monkeypatch: pytest.MonkeyPatch, instance: SigstoreInstance) -> None:
    code = "import sys; sys.modules['sigstore'] = None; import mlwarden.signing.sigstore"
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert imported.returncode == 0, imported.stderr  # the module itself imports without the extra
    monkeypatch.setitem(sys.modules, "sigstore", None)  # what an environment without sigstore sees
    for attempt in (
        lambda: SigstoreTrust(instance.trusted_root_json(), IDENTITY, ISSUER),
        lambda: sign_sigstore(INTOTO_PAYLOAD_TYPE, b"{}", identity_token="x"),
    ):
        with pytest.raises(UsageError, match=r"^Sigstore support is not installed$") as info:
            attempt()
        assert info.value.hint == "pip install 'mlwarden[sigstore]'"


# -- no network -----------------------------------------------------------------------------------------

_NETWORK_GUARD = textwrap.dedent(
    """
    import json, socket, sys
    from pathlib import Path

    OUTBOUND = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                "socket.gethostbyaddr", "socket.getnameinfo", "socket.sendto", "socket.sendmsg"}
    attempts = []

    def guard(event, args):
        if event in OUTBOUND:
            attempts.append(event)
            raise OSError(f"network use in an offline verification: {event} {args!r}")

    sys.addaudithook(guard)

    from mlwarden.signing import verify
    from mlwarden.signing.errors import VerificationError
    from mlwarden.signing.sigstore import SigstoreTrust

    root, bundle, model, identity, issuer = sys.argv[1:]
    verified = verify(model, Path(bundle).read_bytes(), SigstoreTrust(Path(root), identity, issuer))
    try:
        other = SigstoreTrust(Path(root), "someone@else.example", issuer)
        other.authenticate(json.loads(Path(bundle).read_text()))
        refused = None
    except VerificationError as err:
        refused = err.message
    during = list(attempts)
    try:  # the guard is live: a name lookup is stopped
        socket.getaddrinfo("localhost", 443)
        live = False
    except OSError:
        live = True
    print(json.dumps({"root": verified.root_digest, "refused": refused, "attempts": during, "live": live}))
    """
)


def test_verification_never_touches_the_network(
    instance: SigstoreInstance, good: Bundle, model: Path, tmp_path: Path
) -> None:
    """In a fresh interpreter whose audit hook refuses every connect and name lookup."""
    (tmp_path / "trusted_root.json").write_bytes(instance.trusted_root_json())
    (tmp_path / "model.sig").write_text(dump_bundle(good))
    done = subprocess.run(
        [sys.executable, "-c", _NETWORK_GUARD, str(tmp_path / "trusted_root.json"),
         str(tmp_path / "model.sig"), str(model), IDENTITY, ISSUER],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["attempts"] == [] and result["live"] is True
    assert result["root"] == hash_model(model).root_digest
    assert result["refused"].startswith("unexpected signer identity")


def test_cli_verify_offline(instance: SigstoreInstance, good: Bundle, model: Path, tmp_path: Path) -> None:
    """``mlwarden verify --sigstore-identity ID --issuer URL --trusted-root FILE``: exit 0, 1, 2."""
    (tmp_path / "trusted_root.json").write_bytes(instance.trusted_root_json())
    (tmp_path / "model.sig").write_text(dump_bundle(good))
    (tmp_path / "garbage.json").write_bytes(b"\x00garbage")

    def run(identity: str, root: str) -> subprocess.CompletedProcess[str]:
        signature, root_file = str(tmp_path / "model.sig"), str(tmp_path / root)
        args = ["verify", str(model), "--signature", signature, "--sigstore-identity", identity]
        args += ["--issuer", ISSUER, "--trusted-root", root_file]
        return subprocess.run(
            [sys.executable, "-m", "mlwarden", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    ok = run(IDENTITY, "trusted_root.json")
    assert ok.returncode == 0, ok.stderr
    assert f"sigstore {IDENTITY}" in ok.stdout + ok.stderr
    wrong = run("mallory@example.com", "trusted_root.json")
    assert wrong.returncode == 1 and "unexpected signer identity" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    garbage = run(IDENTITY, "garbage.json")
    assert garbage.returncode == 2 and "garbage.json: not JSON" in garbage.stderr


# -- signing --------------------------------------------------------------------------------------------


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests go straight to the test servers."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _write_config(instance: SigstoreInstance, url: str, tmp_path: Path) -> Path:
    path = tmp_path / "trust_config.json"
    path.write_text(json.dumps(instance.client_trust_config(url)))
    return path


def test_sign_without_any_identity_token(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> None:
    monkeypatch.setattr(sigstore.oidc, "detect_credential", lambda *_: None)
    with pytest.raises(
        SigningError, match=r"^no OIDC identity token: none was given and no ambient CI"
    ) as info:
        sign_sigstore(INTOTO_PAYLOAD_TYPE, payload)
    assert "id-token: write" in info.value.hint


def test_sign_with_a_malformed_token(payload: bytes) -> None:
    with pytest.raises(SigningError, match=r"^invalid OIDC identity token: Identity token is malformed"):
        sign_sigstore(INTOTO_PAYLOAD_TYPE, payload, identity_token="not.a.jwt")


def test_sign_with_an_expired_token(payload: bytes) -> None:
    token = identity_token(issuer=ISSUER, identity=IDENTITY, lifetime=dt.timedelta(minutes=-10))
    with pytest.raises(SigningError, match=r"^invalid OIDC identity token"):
        sign_sigstore(INTOTO_PAYLOAD_TYPE, payload, identity_token=token)


def test_sign_arguments(payload: bytes, tmp_path: Path) -> None:
    token = identity_token(issuer=ISSUER, identity=IDENTITY)
    with pytest.raises(UsageError, match=r"^Sigstore signs in-toto statements only"):
        sign_sigstore("application/octet-stream", payload, identity_token=token)
    with pytest.raises(UsageError, match=r"staging instance or a trust config"):
        sign_sigstore(INTOTO_PAYLOAD_TYPE, payload, identity_token=token, staging=True, trust_config=tmp_path)
    with pytest.raises(SigningError, match=r"^not an in-toto Statement v1"):
        sign_sigstore(INTOTO_PAYLOAD_TYPE, b'{"_type": "nope"}', identity_token=token)
    with pytest.raises(UsageError, match=r"^cannot read trust config"):
        sign_sigstore(INTOTO_PAYLOAD_TYPE, payload, identity_token=token, trust_config=tmp_path / "none.json")
    (tmp_path / "root.json").write_bytes(
        b'{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}'
    )
    with pytest.raises(UsageError, match=r"^invalid trust config .*root\.json: media type"):
        sign_sigstore(INTOTO_PAYLOAD_TYPE, payload, identity_token=token, trust_config=tmp_path / "root.json")


def test_sign_when_the_services_are_unreachable(
    instance: SigstoreInstance, payload: bytes, tmp_path: Path, no_proxy: None
) -> None:
    """Fulcio and Rekor on a loopback port where nothing listens: a clean SigningError, no traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config = _write_config(instance, f"http://127.0.0.1:{closed}", tmp_path)
    token = identity_token(issuer=ISSUER, identity=IDENTITY)
    url = re.escape(f"http://127.0.0.1:{closed}/api/v2/signingCert")
    pattern = rf"^Sigstore signing failed: cannot reach {url} \(ConnectionError\)$"
    with pytest.raises(SigningError, match=pattern) as info:
        sign_sigstore(INTOTO_PAYLOAD_TYPE, payload, identity_token=token, trust_config=config)
    assert "\n" not in info.value.message and "network access" in info.value.hint


def test_sign_end_to_end_against_a_private_instance(
    instance: SigstoreInstance,
    payload: bytes,
    tmp_path: Path,
    no_proxy: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sigstore-python's own signing client against this instance's Fulcio and Rekor on 127.0.0.1,
    with the token from "ambient credentials"; the bundle then verifies offline."""
    token = identity_token(issuer=ISSUER, identity=IDENTITY)
    monkeypatch.setattr(sigstore.oidc, "detect_credential", lambda *_: token)
    with instance.serve() as url:
        bundle = sign_sigstore(
            INTOTO_PAYLOAD_TYPE, payload, trust_config=_write_config(instance, url, tmp_path)
        )
    assert instance.served_requests == ["/api/v2/signingCert", "/api/v1/log/entries"]
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert (
        "certificate" in bundle["verificationMaterial"]
        and len(bundle["verificationMaterial"]["tlogEntries"]) == 1
    )
    assert entry(bundle)["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    authenticated = SigstoreTrust(instance.trusted_root_json(), IDENTITY, ISSUER).authenticate(bundle)
    assert authenticated.payload == payload
    refused(
        SigstoreTrust(instance.trusted_root_json(), IDENTITY, "https://other.example"), bundle, "OIDC issuer"
    )


# -- interoperability with model-signing, the reference implementation ------------------------------------


def test_model_signing_signs_with_sigstore_mlwarden_verifies(
    instance: SigstoreInstance, model: Path, tmp_path: Path, no_proxy: None
) -> None:
    """model-signing's Sigstore signer (sigstore-python's sign_dsse) against this instance."""
    ms = pytest.importorskip("model_signing", reason="model-signing is a test-only dependency")
    sig = tmp_path / "model.sig"
    with instance.serve() as url:
        config = _write_config(instance, url, tmp_path)
        token = identity_token(issuer=ISSUER, identity=IDENTITY)
        ms.signing.Config().use_sigstore_signer(identity_token=token, trust_config=config).sign(model, sig)
    trust = SigstoreTrust(instance.trusted_root_json(), IDENTITY, ISSUER)
    assert verify(model, sig.read_bytes(), trust).root_digest == hash_model(model).root_digest
    refused(
        SigstoreTrust(instance.trusted_root_json(), "other@example.com", ISSUER),
        json.loads(sig.read_text()),
        "identity",
    )


def test_mlwarden_signs_with_sigstore_model_signing_verifies(
    instance: SigstoreInstance, model: Path, payload: bytes, tmp_path: Path, no_proxy: None
) -> None:
    ms = pytest.importorskip("model_signing", reason="model-signing is a test-only dependency")
    sig = tmp_path / "model.sig"
    with instance.serve() as url:
        config = _write_config(instance, url, tmp_path)
        token = identity_token(issuer=ISSUER, identity=IDENTITY)
        sig.write_text(
            dump_bundle(
                sign_sigstore(INTOTO_PAYLOAD_TYPE, payload, identity_token=token, trust_config=config)
            )
        )
    ms.verifying.Config().use_sigstore_verifier(
        identity=IDENTITY, oidc_issuer=ISSUER, trust_config=config
    ).verify(model, sig)
    with pytest.raises(sigstore.errors.VerificationError, match=r"SANs do not match other@example\.com"):
        ms.verifying.Config().use_sigstore_verifier(
            identity="other@example.com", oidc_issuer=ISSUER, trust_config=config
        ).verify(model, sig)
