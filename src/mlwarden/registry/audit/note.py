"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and tlog checkpoints
(https://c2sp.org/tlog-checkpoint) on top of them.

A note is UTF-8 text ending in a newline, a blank line, then one line per signature::

    <origin>
    <tree size>
    <base64 root hash>
    [extension lines]

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature of the text)>

The key ID is ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`` (signature type 0x01,
Ed25519). Keys travel in the formats of Go's ``golang.org/x/mod/sumdb/note``, so Go, Tessera and
witness tooling read them: the verifier key ``<name>+<hex key ID>+<base64(0x01 || public key)>`` and
the signer key ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>``.
Verification follows the spec: signatures by unknown keys are ignored, a known key's bad signature
rejects the note, and a note without a good signature from a known key is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mlwarden.registry.audit.errors import AuditError, NoteError

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
"""Signature lines accepted per note (the spec asks for at least 16)."""
_DASH = "\u2014"  # EM DASH starts every signature line


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) and name.isprintable()


def key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || 0x01 || public key)[:4]``: the 4-byte Ed25519 note key ID."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64", hint="copy it again without line breaks") from None


class NoteSigner:
    """An Ed25519 note signing key with its key name (which should equal the log's origin)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not _valid_name(name):
            raise AuditError(
                f"invalid note key name {name!r}", hint="use a non-empty name without spaces or '+'"
            )
        self.name = name
        self._key = private_key
        self.public_key = _raw_public(private_key.public_key())
        self.key_id = key_id(name, self.public_key)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A fresh key named ``name`` (e.g. ``registry.example.com/audit``)."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Load ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`` (Go ``note.NewSigner`` format)."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise AuditError(
                "not a note signing key", hint="expected PRIVATE+KEY+<name>+<id>+<key> ('audit keygen')"
            )
        name, hex_id, material = parts[2], parts[3], _b64decode(parts[4], "note signing key")
        if len(material) != 33 or material[0] != ALG_ED25519:
            raise AuditError("note signing key is not an Ed25519 key", hint="create one with 'audit keygen'")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(material[1:]))
        if hex_id != signer.key_id.hex():
            raise AuditError(
                f"note signing key {name}: key ID {hex_id} does not match", hint="the key is damaged"
            )
        return signer

    @property
    def skey(self) -> str:
        """The private key in Go's note format (keep it secret)."""
        seed = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        material = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"

    @property
    def vkey(self) -> str:
        """The verifier key ``<name>+<hex id>+<base64(0x01 || public key)>`` to publish."""
        material = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verifier(self) -> NoteVerifier:
        """The matching verifier."""
        return NoteVerifier(self.name, self.public_key)

    def signature_line(self, text: str) -> str:
        """``— <name> <base64(key ID || signature)>`` for ``text`` (no trailing newline)."""
        _check_text(text)
        sig = self._key.sign(text.encode())
        return f"{_DASH} {self.name} {base64.b64encode(self.key_id + sig).decode()}"

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line, one signature line."""
        return f"{text}\n{self.signature_line(text)}\n"


class NoteVerifier:
    """An Ed25519 note verifier key."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if not _valid_name(name):
            raise AuditError(f"invalid note key name {name!r}", hint="check the verifier key")
        if len(public_key) != 32:
            raise AuditError("an Ed25519 public key is 32 bytes", hint="check the verifier key")
        self.name = name
        self.public_key = public_key
        self.key_id = key_id(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex id>+<base64(0x01 || public key)>`` and check the key ID."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or len(parts[1]) != 8:
            raise AuditError("not a note verifier key", hint="expected <name>+<8 hex digits>+<base64 key>")
        name, hex_id = parts[0], parts[1]
        material = _b64decode(parts[2], "verifier key")
        if len(material) != 33 or material[0] != ALG_ED25519:
            raise AuditError(
                "verifier key is not an Ed25519 (type 0x01) key", hint="the audit log signs with Ed25519"
            )
        verifier = cls(name, material[1:])
        if hex_id.lower() != verifier.key_id.hex():
            raise AuditError(
                f"verifier key {name}: key ID {hex_id} does not match the key", hint="the key is damaged"
            )
        return verifier

    @property
    def vkey(self) -> str:
        """This key in the verifier key format."""
        material = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def open(self, note: str) -> str:
        """The note's text once a signature by this key verifies; :class:`NoteError` otherwise."""
        text, signatures = split_note(note)
        verified = False
        for name, blob in signatures:
            if name != self.name or blob[:4] != self.key_id:
                continue  # someone else's signature (a witness, a rotated key): ignored, per the spec
            try:
                self._key.verify(blob[4:], text.encode())
            except InvalidSignature:
                raise NoteError(
                    f"signature by {self.name} does not verify", hint="the note was altered after signing"
                ) from None
            verified = True
        if not verified:
            raise NoteError(
                f"note has no signature by {self.name} ({self.key_id.hex()})",
                hint="it was signed by another key, or not signed at all",
            )
        return text


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline", hint="append a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text contains a control character", hint="notes allow only newlines")


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its ``(key name, key ID || signature)`` pairs."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("malformed note: no blank line before the signatures", hint="is this a signed note?")
    text, block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures", hint="refusing an oversized note")
    signatures: list[tuple[str, bytes]] = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) != 3 or fields[0] != _DASH or not _valid_name(fields[1]):
            raise NoteError(f"malformed signature line {line[:80]!r}", hint="expected '— <name> <base64>'")
        blob = _b64decode(fields[2], "note signature")
        if len(blob) < 5:
            raise NoteError("note signature is too short", hint="the note was truncated")
        signatures.append((fields[1], blob))
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    """The body of a tlog checkpoint: origin, tree size, RFC 6962 root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text (each line ends in a newline)."""
        if not self.origin or "\n" in self.origin or any(not e or "\n" in e for e in self.extensions):
            raise NoteError(
                "checkpoint lines must be non-empty single lines", hint="check origin and extensions"
            )
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text (already verified); :class:`NoteError` when malformed."""
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("malformed checkpoint", hint="expected origin, size and root hash lines")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not size_text.isascii() or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
            raise NoteError(
                f"malformed checkpoint size {size_text!r}", hint="a decimal without leading zeros"
            )
        root = _b64decode(root_text, "checkpoint root hash")
        if len(root) != 32:
            raise NoteError("checkpoint root hash is not 32 bytes", hint="expected a SHA-256 root")
        return cls(origin, int(size_text), root, tuple(lines[3:-1]))


def sign_checkpoint(signer: NoteSigner, checkpoint: Checkpoint) -> str:
    """The checkpoint as a signed note."""
    return signer.sign(checkpoint.text())


def open_checkpoint(note: str, verifier: NoteVerifier, origin: str | None = None) -> Checkpoint:
    """Verify a checkpoint note and parse it; the origin must be ``origin`` (default: the key name)."""
    checkpoint = Checkpoint.parse(verifier.open(note))
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise NoteError(
            f"checkpoint is for log {checkpoint.origin!r}, not {expected!r}",
            hint="a checkpoint of another log was substituted",
        )
    return checkpoint
