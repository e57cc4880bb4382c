"""Regenerate src/mlwarden/scanning/data/pickle_allowlist.txt from the libraries that emit pickles.

Run in the test environment (torch, numpy, scikit-learn, pandas installed):

    python scripts/gen_allowlist.py

The allowlist holds exact dotted names only. It admits *classes* of torch.nn / torch.optim /
scikit-learn / pandas (constructing them runs no user-chosen code), the reconstructor functions those
libraries emit (``_rebuild_*``, ``_reconstruct``, ``_unpickle_*``, ...), torch.nn.functional ops and
the standard library's value types. The script prints any global a representative set of real
pickles imports that is still not allowed, for review.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import re
import sys
import warnings
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/mlwarden/scanning/data/pickle_allowlist.txt"

STDLIB = """
builtins.set builtins.frozenset builtins.slice builtins.range builtins.complex builtins.bytearray
builtins.bytes builtins.dict builtins.list builtins.tuple builtins.int builtins.float builtins.str
builtins.bool builtins.object builtins.Ellipsis builtins.NotImplemented
copyreg._reconstructor copyreg.__newobj__ copyreg.__newobj_ex__ _codecs.encode
collections.OrderedDict collections.defaultdict collections.deque collections.Counter
datetime.datetime datetime.date datetime.time datetime.timedelta datetime.timezone
decimal.Decimal uuid.UUID uuid.SafeUUID fractions.Fraction array.array array._array_reconstructor
pathlib.Path pathlib.PosixPath pathlib.PurePosixPath pathlib.PureWindowsPath pathlib.WindowsPath
ipaddress.IPv4Address ipaddress.IPv6Address ipaddress.IPv4Network ipaddress.IPv6Network
zoneinfo.ZoneInfo._unpickle
pyarrow.lib._restore_array pyarrow.lib.type_for_alias pyarrow.lib.py_buffer pyarrow.lib.chunked_array
pyarrow.lib.ChunkedArray pyarrow.lib.Array._reconstruct
dill._dill._create_array dill._dill._create_dtypemeta
""".split()

REBUILDER = re.compile(
    r"^(newObj$|_*(pyx_)?(unpickle|rebuild|reconstruct|new_|mareconstruct|frombuffer|timedelta_unpickle|nat_unpickle|new$|new_block))"
)
EXCLUDED_MODULES = re.compile(
    r"(^|\.)(tests?|_testing|testing|conftest|datasets|externals|_build_utils|__check_build|io|plotting|util|api|"
    r"_config|interchange|_print_versions|_test_common|computation)(\.|$)"
)
# Classes whose constructors open files, parse expressions or talk to engines are never allowed.
RISKY_CLASS = re.compile(
    r"(?i)(file|reader|writer|store|excel|expr|eval|sql|parser|clipboard|html|query|engine|"
    r"connection|stream|cache_readonly)"
)


def walk(package: str) -> list[object]:
    mod = importlib.import_module(package)
    out: list[object] = [mod]
    for info in pkgutil.walk_packages(mod.__path__, package + "."):
        if EXCLUDED_MODULES.search(info.name):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append(importlib.import_module(info.name))
        except Exception:  # noqa: BLE001 - optional sub-modules whose extras are missing
            continue
    return out


def classes_and_rebuilders(modules: list[object], prefix: str) -> set[str]:
    names: set[str] = set()
    for module in modules:
        for attr, value in vars(module).items():
            owner = getattr(value, "__module__", None)
            if not isinstance(owner, str) or not owner.startswith(prefix) or EXCLUDED_MODULES.search(owner):
                continue
            if RISKY_CLASS.search(attr):
                continue
            if inspect.isclass(value) or (callable(value) and REBUILDER.match(attr)):
                names.add(f"{owner}.{getattr(value, '__qualname__', attr)}")
                names.add(f"{module.__name__}.{attr}")  # the public alias a pickle may name
    return names


def torch_names() -> set[str]:
    import torch
    import torch.nn.functional as nn_functional

    names = {f"torch._utils.{n}" for n in dir(torch._utils) if n.startswith("_rebuild")}
    names |= {
        "torch._tensor._rebuild_from_type",
        "torch._tensor._rebuild_from_type_v2",
        "torch.Tensor",
        "torch.device",
        "torch.Size",
        "torch.serialization._get_layout",
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "torch.UntypedStorage",
        "torch.TypedStorage",
        "torch.nn.parameter.Parameter",
        "torch.nn.parameter.Buffer",
        "torch.nn.parameter.UninitializedParameter",
        "torch.nn.parameter.UninitializedBuffer",
        "torch.distributions.constraints._Real",
        "torch.distributions.constraints._Interval",
    }
    for attr in dir(torch):
        value = getattr(torch, attr, None)
        if attr.endswith("Storage") or isinstance(
            value, (torch.dtype, torch.layout, torch.memory_format, torch.qscheme)
        ):
            names.add(f"torch.{attr}")
    names |= {
        f"torch.nn.functional.{n}"
        for n in dir(nn_functional)
        if not n.startswith("_") and callable(getattr(nn_functional, n))
    }
    names |= {f"torch._C._nn.{n}" for n in dir(torch._C._nn) if not n.startswith("_")}
    names |= classes_and_rebuilders(walk("torch.nn.modules"), "torch.nn.modules")
    names |= classes_and_rebuilders(walk("torch.optim"), "torch.optim")
    return names


def numpy_names() -> set[str]:
    import numpy as np

    names = set()
    for base in ("numpy.core", "numpy._core"):
        names |= {
            f"{base}.multiarray._reconstruct",
            f"{base}.multiarray.scalar",
            f"{base}.numeric._frombuffer",
        }
    names |= {
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "numpy.matrixlib.defmatrix.matrix",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    }
    names |= {f"numpy.random._{m.lower()}.{m}" for m in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")}
    names |= {f"numpy.{t.__name__}" for t in set(np.sctypeDict.values())}
    names |= {f"numpy.dtypes.{n}" for n in dir(np.dtypes) if n.endswith("DType")}
    return names


def main() -> int:
    names = set(STDLIB) | torch_names() | numpy_names()
    names |= classes_and_rebuilders(walk("sklearn"), "sklearn")
    names |= classes_and_rebuilders(walk("pandas"), "pandas")
    # joblib's array wrapper is data, the arrays' bytes follow it inline.
    names |= {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
    }
    header = (
        "# Exact dotted names a pickle may import without a finding. Generated by scripts/gen_allowlist.py;\n"
        "# edit that script, not this file.\n"
    )
    OUT.write_text(header + "\n".join(sorted(names)) + "\n", encoding="utf-8")
    print(f"wrote {len(names)} names to {OUT}", file=sys.stderr)
    return report_unallowed(names)


def report_unallowed(allowed: set[str]) -> int:
    """Pickle representative real objects and list imported globals that are still not allowed."""
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlwarden.scanning._formats.pickle_vm import PickleMachine

    x = np.random.default_rng(0).normal(size=(40, 4))
    y = (x[:, 0] > 0).astype(int)
    frame = pd.DataFrame(
        {
            "a": [1, 2],
            "b": ["x", "y"],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "c": pd.Categorical(["u", "v"]),
        }
    )
    objects = [
        make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        RandomForestClassifier(n_estimators=3).fit(x, y),
        GradientBoostingClassifier(n_estimators=3).fit(x, y),
        HistGradientBoostingClassifier(max_iter=3).fit(x, y),
        KNeighborsClassifier().fit(x, y),
        TfidfVectorizer().fit(["alpha beta", "beta gamma"]),
        ColumnTransformer([("o", OneHotEncoder(), [1])]).fit(frame),
        frame,
        frame["a"],
        pd.Series(pd.date_range("2024", periods=3)),
        pd.Timedelta(1, "s"),
        np.random.default_rng(0),
        np.random.RandomState(0),
        np.arange(3),
        np.float32(1.5),
        torch.nn.TransformerEncoderLayer(8, 2),
        torch.nn.LSTM(4, 4),
        torch.optim.Adam([torch.zeros(1)]),
    ]
    missing: set[str] = set()
    for obj in objects:
        for protocol in (2, 4, 5):
            result = PickleMachine(pickle.dumps(obj, protocol=protocol)).run()
            missing |= {i.ref.dotted for i in result.imports} - allowed
    for name in sorted(missing):
        print("not allowed:", name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
