"""C2SP signed notes and tlog checkpoints: Go's reference vector, sign/verify, tampering, wrong keys.

The reference vector is the example of golang.org/x/mod/sumdb/note (note.go package documentation and
note_test.go, BSD-3-Clause): the PeterNeumann key pair and its signed note. Ed25519 is deterministic, so
signing the same text with the same key must give the published note byte for byte. The example in
C2SP signed-note.md (quasimodo.example/salvatore) publishes no verifier key, so it can only be parsed.
"""

from __future__ import annotations

import base64

import pytest

from mlwarden.registry.audit import Checkpoint, NoteError, NoteSigner, NoteVerifier, open_checkpoint
from mlwarden.registry.audit.errors import AuditError
from mlwarden.registry.audit.note import split_note

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n— PeterNeumann "
    + "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
C2SP_EXAMPLE = (
    "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
    "— quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)


def test_go_reference_vector() -> None:
    signer = NoteSigner.from_skey(GO_SKEY)
    assert signer.vkey == GO_VKEY
    assert signer.skey == GO_SKEY
    assert signer.sign(GO_TEXT) == GO_NOTE
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    assert verifier.open(GO_NOTE) == GO_TEXT
    with pytest.raises(NoteError, match="does not verify"):
        verifier.open(GO_NOTE.replace("cryptography", "cryptographY"))


def test_c2sp_example_parses_and_its_key_id_is_carried() -> None:
    text, signatures = split_note(C2SP_EXAMPLE)
    assert text.endswith("ed è subito sera.\n") and "\n\n" in text  # the text may hold empty lines
    [(name, blob)] = signatures
    assert name == "quasimodo.example/salvatore" and len(blob) == 4 + 64
    with pytest.raises(NoteError, match="no signature by"):
        NoteSigner.generate("quasimodo.example/salvatore").verifier().open(C2SP_EXAMPLE)


def test_sign_verify_and_tampering() -> None:
    signer = NoteSigner.generate("registry.example/audit")
    verifier = NoteVerifier.from_vkey(signer.vkey)
    cp = Checkpoint("registry.example/audit", 42, bytes(range(32)))
    note = signer.sign(cp.text())
    assert note.splitlines()[:3] == [
        "registry.example/audit",
        "42",
        base64.b64encode(bytes(range(32))).decode(),
    ]
    assert open_checkpoint(note, verifier) == cp
    with pytest.raises(NoteError):
        open_checkpoint(note.replace("\n42\n", "\n43\n"), verifier)
    other = NoteSigner.generate("registry.example/audit")  # same name, other key: different key ID
    with pytest.raises(NoteError, match="no signature by"):
        open_checkpoint(other.sign(cp.text()), verifier)
    # An unknown signer's line is ignored, a known key's good signature still counts.
    cosigned = note + other.signature_line(cp.text()) + "\n"
    assert open_checkpoint(cosigned, verifier) == cp
    with pytest.raises(NoteError, match="not 'other/log'"):
        open_checkpoint(note, verifier, origin="other/log")


def test_checkpoint_format() -> None:
    cp = Checkpoint("o", 0, b"\x00" * 32, ("ext line",))
    assert Checkpoint.parse(cp.text()) == cp
    for bad in [
        "o\n01\nAAAA\n",
        "o\n1\n",
        "o\n1\nAAAA\n",
        "o\n-1\n" + base64.b64encode(b"0" * 32).decode() + "\n",
    ]:
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)


def test_malformed_notes_and_keys() -> None:
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    for bad in [
        GO_TEXT,
        GO_NOTE.rstrip("\n"),
        GO_NOTE.replace("— ", "- "),
        GO_TEXT + "\n— PeterNeumann !!\n",
    ]:
        with pytest.raises(NoteError):
            verifier.open(bad)
    with pytest.raises(NoteError, match="control"):
        NoteSigner.from_skey(GO_SKEY).sign("bell\a\n")
    for bad_key in [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),
        "PeterNeumann+c74f20a3",
        GO_VKEY[:-4],
        "a b+00+AA==",
    ]:
        with pytest.raises(AuditError):
            NoteVerifier.from_vkey(bad_key)
    with pytest.raises(AuditError):
        NoteSigner.from_skey(GO_SKEY.replace("c74f20a3", "00000000"))
    with pytest.raises(AuditError):
        NoteSigner.generate("has+plus")
