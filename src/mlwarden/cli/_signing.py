"""Signing and trust options shared by sign, attest, verify, approve and gate."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlwarden.cli._io import read_input
from mlwarden.errors import UsageError

if TYPE_CHECKING:
    from mlwarden.signing import Trust


def add_trust_options(parser: argparse.ArgumentParser) -> None:
    """--key / --cert-identity + --ca / --sigstore-identity + --issuer + --trusted-root."""
    trust = parser.add_argument_group("trust (each option is a required signer)")
    trust.add_argument(
        "--key", action="append", default=[], type=Path, metavar="PUB", help="PEM public key (or env:VAR)"
    )
    trust.add_argument(
        "--cert-identity", action="append", default=[], metavar="ID", help="certificate SAN or subject CN"
    )
    trust.add_argument("--ca", action="append", default=[], type=Path, metavar="CA", help="PEM root CA(s)")
    trust.add_argument(
        "--sigstore-identity", action="append", default=[], metavar="ID", help="Sigstore signer identity"
    )
    trust.add_argument("--issuer", metavar="URL", help="OIDC issuer of --sigstore-identity")
    trust.add_argument("--trusted-root", type=Path, metavar="FILE", help="pinned Sigstore trusted_root.json")


def signing_material(args: argparse.Namespace) -> tuple[bytes, bytes | None]:
    """The private key PEM and, for the certificate method, the leaf + chain PEM."""
    if args.key is None:
        raise UsageError(
            "no signing key given", hint="pass --key KEY (and --cert CERT for the certificate method)"
        )
    chain = None
    if args.cert is not None:
        chain = read_input(args.cert, "certificate") + b"".join(
            read_input(c, "certificate chain") for c in args.chain
        )
    elif args.chain:
        raise UsageError("--chain needs --cert", hint="pass the leaf certificate with --cert")
    return read_input(args.key, "key"), chain


def trust_anchors(args: argparse.Namespace, *, required: bool = True) -> list[Trust]:
    """Every trust option of verify, each one a signer that must be matched."""
    from mlwarden.signing import CertificateTrust, KeyTrust  # noqa: PLC0415

    anchors: list[Trust] = [KeyTrust(read_input(path, "public key")) for path in args.key]
    if args.cert_identity or args.ca:
        if not (args.cert_identity and args.ca):
            raise UsageError("--cert-identity and --ca go together", hint="pass both, e.g. --ca ca.pem")
        cas = [read_input(path, "CA certificates") for path in args.ca]
        anchors.extend(CertificateTrust(cas, identity) for identity in args.cert_identity)
    if args.sigstore_identity or args.issuer or args.trusted_root:
        if not (args.sigstore_identity and args.issuer and args.trusted_root):
            raise UsageError(
                "--sigstore-identity, --issuer and --trusted-root go together",
                hint="pin the identity, its OIDC issuer and the trusted_root.json to verify offline",
            )
        from mlwarden.signing.sigstore import SigstoreTrust  # noqa: PLC0415

        anchors.extend(
            SigstoreTrust(args.trusted_root, identity, args.issuer) for identity in args.sigstore_identity
        )
    if not anchors and required:
        raise UsageError(
            "no trust option given",
            hint="pass --key PUB, --cert-identity ID --ca CA, or --sigstore-identity ID --issuer URL "
            "--trusted-root FILE",
        )
    return anchors
