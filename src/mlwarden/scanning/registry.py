"""The built-in scanners, in dispatch order, and opt-in loading of third-party scanners.

Loading a plug-in executes its code, so it happens only for dotted paths named in configuration.
"""

from __future__ import annotations

import functools
import importlib

from mlwarden.errors import ConfigError
from mlwarden.scanning.interface import Scanner


@functools.cache
def builtin_scanners() -> tuple[Scanner, ...]:
    """One instance of every built-in scanner."""
    from mlwarden.scanning._formats import (  # noqa: PLC0415 - keeps CLI start-up light
        archives,
        gguf,
        hdf5,
        numpy_format,
        pickle_scanner,
        protobuf,
        safetensors,
        text,
        zip_scanner,
    )

    return (
        zip_scanner.ZipScanner(),
        archives.TarScanner(),
        archives.SevenZipScanner(),
        archives.CompressedScanner(),
        pickle_scanner.PickleScanner(),
        numpy_format.NumpyScanner(),
        hdf5.Hdf5Scanner(),
        protobuf.ProtobufScanner(),
        gguf.GgufScanner(),
        safetensors.SafetensorsScanner(),
        text.TextScanner(),
    )


@functools.cache
def load_plugins(paths: tuple[str, ...]) -> tuple[Scanner, ...]:
    """Instantiate ``module:Class`` scanners named in config; a bad name is a ConfigError."""
    out: list[Scanner] = []
    for dotted in paths:
        module_name, _, class_name = dotted.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"cannot load scanner plug-in {dotted!r}: {exc}", hint="name it as package.module:ClassName"
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, Scanner)):
            raise ConfigError(
                f"plug-in {dotted!r} is not a Scanner subclass", hint="subclass mlwarden.scanning.Scanner"
            )
        out.append(cls())
    return tuple(out)
