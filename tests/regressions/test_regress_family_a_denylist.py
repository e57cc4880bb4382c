"""Family A: denylist gaps. Each row is a stdlib / third-party callable that a published advisory showed
slipping past a blocklist scanner. mlwarden must name the callable (``construct``) at the severity a correct
scanner gives: CRITICAL for code execution, HIGH for file write / network, MEDIUM for reads.

Every row carries its source URL and advisory id; the payload is written opcode by opcode with a harmless
argument, saved as a real file and scanned with ``scan_path``.
"""

from __future__ import annotations

import marshal
import pickletools
from dataclasses import dataclass

import pytest
from regress_lib import (
    CMD,
    CODE,
    EMPTY_DICT,
    EMPTY_TUPLE,
    MARK,
    OBJ,
    POP,
    REDUCE,
    TMPF,
    TUPLE,
    Raw,
    binunicode,
    build_code_args,
    call,
    expect,
    g0_call,
    get,
    glob,
    p0,
    p2,
    p4,
    put,
    s4_call,
    sbu,
    scan_file,
    sg,
    string0,
)

from mlwarden.scanning import Severity

C, H, M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
PS_ADV = "https://github.com/mmaitre314/picklescan/security/advisories/"
FK_ADV = "https://github.com/trailofbits/fickling/security/advisories/"
CVE = "https://raw.githubusercontent.com/CVEProject/cvelistV5/main/cves/"


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    data: bytes
    severity: Severity
    constructs: tuple[str, ...]
    filename: str = "model.pkl"


def _case(
    id_: str, source: str, data: bytes, severity: Severity, *constructs: str, filename: str = "model.pkl"
):
    return pytest.param(Case(id_, source, data, severity, constructs, filename), id=id_)


def _s4(id_, source, module, name, args, severity=C, *extra):
    return _case(id_, source, s4_call(module, name, *args), severity, f"{module}.{name}", *extra)


# A-36 / GHSA-84r2-jw7c-4r5q: pydoc.locate("os") then operator.methodcaller("getcwd")(module)
_METHODCALLER_LOCATE = p4(
    call(sg("operator", "methodcaller"), "getcwd"),
    put(0),
    POP,
    call(sg("pydoc", "locate"), "os"),
    put(1),
    POP,
    get(0),
    MARK,
    get(1),
    TUPLE,
    REDUCE,
)
# A-40 / GHSA-955r-x9j8-7rhh: fickling test_operator_methodcaller (protocol 0 GLOBALs, _operator alias)
_OPERATOR_METHODCALLER = p0(
    call(glob("builtins", "__import__"), "os", p=0),
    put(0),
    POP,
    call(glob("_operator", "methodcaller"), "getcwd", p=0),
    MARK,
    get(0),
    TUPLE,
    REDUCE,
)
# A-41 / GHSA-46h3-79wf-xr6c: _operator.attrgetter("getcwd") applied to __import__("os")
_OPERATOR_ATTRGETTER = p4(
    call(sg("builtins", "__import__"), "os"),
    put(0),
    POP,
    call(sg("_operator", "attrgetter"), "getcwd"),
    MARK,
    get(0),
    TUPLE,
    REDUCE,
    EMPTY_TUPLE,
    REDUCE,
)
# A-03 / PS 15c0dbd: bdb.Bdb() instance, then the unbound Bdb.run applied to it
_BDB_RUN = p4(
    call(sg("bdb", "Bdb")),
    put(0),
    POP,
    call(sg("bdb", "Bdb.run"), Raw(get(0)), CODE),
)
# functools.partial(torch.serialization.load, "other.bin", weights_only=False)(), as pickle writes a
# partial: REDUCE (func,), then BUILD (func, args, kwds, dict).
_PARTIAL_TORCH_LOAD = p4(
    sg("functools", "partial"),
    MARK,
    sg("torch.serialization", "load"),
    TUPLE,
    REDUCE,
    MARK,
    sg("torch.serialization", "load"),
    MARK,
    sbu("other.bin"),
    TUPLE,
    MARK,
    sbu("weights_only"),
    b"\x89",
    b"d",
    b"N",
    TUPLE,
    b"b",
    EMPTY_TUPLE,
    REDUCE,
)
# nested pickle.loads at protocol 0; the bytes argument is written the way protocol 0 writes bytes
_PICKLE_LOADS_P0 = p0(
    glob("pickle", "loads"),
    MARK,
    glob("_codecs", "encode"),
    MARK,
    b"VI12345\\u000a.\n",
    string0("latin1"),
    TUPLE,
    REDUCE,
    TUPLE,
    REDUCE,
)
# A-44 / GHSA-9m3x-qqw2-h32h: types.CodeType(<fields of a compiled print>) -> FunctionType(code, {})()
_CODETYPE = p4(
    call(sg("types", "CodeType"), *build_code_args(CODE)),
    put(0),
    POP,
    call(sg("types", "FunctionType"), Raw(get(0)), {}),
    EMPTY_TUPLE,
    REDUCE,
)
_CLOUDPICKLE_CODE = p4(
    call(sg("cloudpickle.cloudpickle", "_builtin_type"), "CodeType"),
    put(0),
    POP,
    call(get(0), *build_code_args(CODE)),
    put(1),
    POP,
    call(sg("cloudpickle.cloudpickle", "_make_function"), Raw(get(1)), {}, None, None, None),
    EMPTY_TUPLE,
    REDUCE,
)
# A-48 / GHSA-565g-hwwr-4pp3: marshal.loads(<marshalled code>) -> types.FunctionType(code, {})()
_MARSHAL_FUNCTION = p4(
    call(sg("marshal", "loads"), marshal.dumps(compile(CODE, "<canary>", "exec"))),
    put(0),
    POP,
    call(sg("types", "FunctionType"), Raw(get(0)), {}),
    EMPTY_TUPLE,
    REDUCE,
)
# A-48 / GHSA-h4rm-mm56-xf63 ("builtins blindness"): __import__("os") -> getattr(os, "getcwd")()
_BUILTINS_BLINDNESS = p0(
    call(glob("builtins", "__import__"), "os", p=0),
    put(0),
    POP,
    glob("builtins", "getattr"),
    MARK,
    get(0),
    string0("getcwd"),
    TUPLE,
    REDUCE,
    put(1),
    POP,
    get(1),
    EMPTY_TUPLE,
    REDUCE,
)
# A-48 / GHSA-q5qq-mvfm-j35x: getattr(importlib.import_module("os"), "getcwd")()
_IMPORT_MODULE_GETATTR = p4(
    call(sg("importlib", "import_module"), "os"),
    put(0),
    POP,
    call(sg("builtins", "getattr"), Raw(get(0)), "getcwd"),
    EMPTY_TUPLE,
    REDUCE,
)
# A-48 / GHSA-5hvc-6wx8-mvv4: getattr(ctypes.CDLL(None), "getpid")()
_CTYPES_GETATTR = p4(
    call(sg("ctypes", "CDLL"), None),
    put(0),
    POP,
    call(sg("builtins", "getattr"), Raw(get(0)), "getpid"),
    EMPTY_TUPLE,
    REDUCE,
)
# A-49 xry6 / A-48 fickling 9a6d03f (C-24): inspect.getattr_static(import_module("os"), "getcwd")()
_GETATTR_STATIC = p4(
    call(sg("importlib", "import_module"), "os"),
    put(0),
    POP,
    call(sg("inspect", "getattr_static"), Raw(get(0)), "getcwd"),
    EMPTY_TUPLE,
    REDUCE,
)
# A-50 bassia / manja316: operator.methodcaller("getcwd")(importlib.import_module("os"))
_IMPORT_MODULE_METHODCALLER = p4(
    call(sg("importlib", "import_module"), "os"),
    put(0),
    POP,
    call(sg("operator", "methodcaller"), "getcwd"),
    MARK,
    get(0),
    TUPLE,
    REDUCE,
)
# A-48 GHSA-m6fh-58r7-x697: the call hidden as a dict value written with SETITEMS
_SITE_SETITEMS = p4(EMPTY_DICT, MARK, sbu("k"), call(sg("site", "execsitecustomize")), b"u")
# A-48 / fickling PR #108: pty.spawn invoked by OBJ, not REDUCE
_PTY_OBJ = p0(MARK, glob("pty", "spawn"), string0(CMD), OBJ)
# A-48 / GHSA-r7v6-mfhq-g3m2: pty.spawn("true") then BUILD "gottem"
_PTY_BUILD = p4(call(sg("pty", "spawn"), CMD), sbu("gottem"), b"b")
# A-48 fickling 6d20564: smtplib.SMTP("127.0.0.1", 25) then an empty BUILD
_SMTP_BUILD = p4(call(sg("smtplib", "SMTP"), "127.0.0.1", 25), EMPTY_DICT, b"b")
# A-51 gen_bypass_v4.py recipe: protocol 2, GLOBAL, BINUNICODE, TUPLE1, REDUCE
_MA_CPROFILE = p2(glob("cProfile", "run"), binunicode("print(1+1)"), b"\x85", REDUCE)


CASES = [
    # A-01 -----------------------------------------------------------------------------------------
    _case(
        "A-01-CVE-2025-1716-pip.main-p0",
        CVE + "2025/1xxx/CVE-2025-1716.json",
        g0_call("pip", "main", ["--version"]),
        C,
        "pip.main",
    ),
    _s4(
        "A-01-CVE-2025-1716-pip._internal.cli.main",
        CVE + "2025/1xxx/CVE-2025-1716.json",
        "pip._internal.cli.main",
        "main",
        (["--version"],),
    ),
    # A-02 GHSA-655q-fx9r-782v (table in https://github.com/protectai/modelscan/issues/263) ---------
    _s4(
        "A-02-GHSA-655q-fx9r-782v-pydoc.pipepager",
        "https://github.com/protectai/modelscan/issues/263",
        "pydoc",
        "pipepager",
        ("", CMD),
    ),
    _s4(
        "A-02-GHSA-655q-fx9r-782v-venv.create",
        "https://github.com/protectai/modelscan/issues/263",
        "venv",
        "create",
        ("/tmp/mlwarden-canary-venv", False, False, True, False, "$(true)"),
    ),
    _s4(
        "A-02-GHSA-655q-fx9r-782v-compile_file",
        "https://github.com/protectai/modelscan/issues/263",
        "torch._inductor.codecache",
        "compile_file",
        ("", "", ["sh", "-c", CMD]),
    ),
    _case(
        "A-02-GHSA-655q-fx9r-782v-partial-torch.load",
        "https://github.com/protectai/modelscan/issues/263",
        _PARTIAL_TORCH_LOAD,
        C,
        "torch.serialization.load",
        "functools.partial",
    ),
    # A-03 early picklescan denylist additions ------------------------------------------------------
    _case(
        "A-03-PS-12a1353-pickle.loads-p0",
        "https://github.com/protectai/modelscan/issues/267",
        _PICKLE_LOADS_P0,
        C,
        "pickle.loads",
    ),
    _s4(
        "A-03-PS-12a1353-_pickle.loads",
        "https://github.com/mmaitre314/picklescan/commit/12a1353",
        "_pickle",
        "loads",
        (b"\x80\x04K\x01.",),
    ),
    _s4(
        "A-03-PS-ee38e74-runpy._run_code",
        "https://github.com/mmaitre314/picklescan/commit/ee38e74",
        "runpy",
        "_run_code",
        (CODE, {}),
    ),
    _case(
        "A-03-PS-15c0dbd-bdb.Bdb.run",
        "https://huggingface.co/dortucx/bypasspicklescan",
        _BDB_RUN,
        C,
        "bdb.Bdb",
        "bdb.Bdb.run",
    ),
    _s4(
        "A-03-CVE-2025-71351-timeit.timeit",
        "https://github.com/mmaitre314/picklescan/commit/62e76cf",
        "timeit",
        "timeit",
        ("", CODE),
    ),
    _s4(
        "A-03-PS-62e76cf-numpy.runstring",
        "https://github.com/mmaitre314/picklescan/commit/62e76cf",
        "numpy.testing._private.utils",
        "runstring",
        (CODE, {}),
    ),
    _s4(
        "A-03-PS-62e76cf-commands.getoutput",
        "https://github.com/mmaitre314/picklescan/commit/62e76cf",
        "commands",
        "getoutput",
        (CMD,),
    ),
    _s4(
        "A-03-PS-62e76cf-ssl.get_server_certificate",
        "https://github.com/mmaitre314/picklescan/commit/62e76cf",
        "ssl",
        "get_server_certificate",
        (("example.invalid", 443),),
        H,
    ),
    # A-04 ... A-12 PyTorch-internal gadgets -----------------------------------------------------
    _s4(
        "A-04-GHSA-4r9r-ch6f-vxmx",
        PS_ADV + "GHSA-4r9r-ch6f-vxmx",
        "torch.utils.bottleneck.__main__",
        "run_cprofile",
        (CODE, {}),
    ),
    _s4(
        "A-05-GHSA-4whj-rm5r-c2v8",
        PS_ADV + "GHSA-4whj-rm5r-c2v8",
        "torch.utils.bottleneck.__main__",
        "run_autograd_prof",
        (CODE, {}),
    ),
    _s4(
        "A-06-GHSA-86cj-95qr-2p4f-CVE-2025-71353",
        PS_ADV + "GHSA-86cj-95qr-2p4f",
        "torch._dynamo.guards",
        "GuardBuilder.get",
        ({}, CODE),
    ),
    _s4(
        "A-07-GHSA-f4x7-rfwp-v3xw",
        PS_ADV + "GHSA-f4x7-rfwp-v3xw",
        "torch.fx.experimental.symbolic_shapes",
        "ShapeEnv.evaluate_guards_expression",
        ({}, CODE, []),
    ),
    _s4("A-08-GHSA-f745-w6jp-hpxx", PS_ADV + "GHSA-f745-w6jp-hpxx", "torch.utils.collect_env", "run", (CMD,)),
    _case(
        "A-09-GHSA-jhph-76pp-mggw",
        PS_ADV + "GHSA-jhph-76pp-mggw",
        p4(
            call(
                sg("torch.utils.collect_env", "run_and_read_all"),
                Raw(sg("torch.utils.collect_env", "run")),
                CMD,
            )
        ),
        C,
        "torch.utils.collect_env.run_and_read_all",
        "torch.utils.collect_env.run",
    ),
    _s4(
        "A-10-GHSA-h3qp-7fh3-f8h4",
        PS_ADV + "GHSA-h3qp-7fh3-f8h4",
        "torch.utils.data.datapipes.utils.decoder",
        "basichandlers",
        ("pickle", b"I1\n."),
    ),
    _s4(
        "A-11-GHSA-vr7h-p6mm-wpmh",
        PS_ADV + "GHSA-vr7h-p6mm-wpmh",
        "torch.jit.unsupported_tensor_ops",
        "execWrapper",
        (CODE, {}, {}),
    ),
    _s4(
        "A-12-GHSA-vv6j-3g6g-2pvj",
        PS_ADV + "GHSA-vv6j-3g6g-2pvj",
        "torch.utils._config_module",
        "ConfigModule.load_config",
        ({}, b"\x80\x04K\x01."),
    ),
    # A-13 ... A-32 stdlib exec gadgets ------------------------------------------------------------
    _s4(
        "A-13-GHSA-5qwp-399c-mjwf-CVE-2025-71349",
        PS_ADV + "GHSA-5qwp-399c-mjwf",
        "trace",
        "Trace.run",
        ({}, CODE),
    ),
    _s4(
        "A-14-GHSA-g344-hcph-8vgg-CVE-2025-71352",
        PS_ADV + "GHSA-g344-hcph-8vgg",
        "trace",
        "Trace.runctx",
        ({}, CODE, {}, {}),
    ),
    _s4("A-15-GHSA-x696-vm39-cp64", PS_ADV + "GHSA-x696-vm39-cp64", "profile", "Profile.run", ({}, CODE)),
    _s4(
        "A-16-GHSA-6vqj-c2q5-j97w-CVE-2025-71341",
        PS_ADV + "GHSA-6vqj-c2q5-j97w",
        "profile",
        "Profile.runctx",
        ({}, CODE, {}, {}),
    ),
    _s4("A-17-GHSA-7wx9-6375-f5wh-CVE-2026-53873", PS_ADV + "GHSA-7wx9-6375-f5wh", "profile", "run", (CODE,)),
    _s4("A-18-GHSA-9w88-8rmg-7g2p", PS_ADV + "GHSA-9w88-8rmg-7g2p", "cProfile", "runctx", (CODE, None, None)),
    _s4("A-19-GHSA-49gj-c84q-6qm9", PS_ADV + "GHSA-49gj-c84q-6qm9", "cProfile", "run", (CODE,)),
    _s4(
        "A-20-GHSA-f54q-57x4-jg88",
        PS_ADV + "GHSA-f54q-57x4-jg88",
        "lib2to3.pgen2.grammar",
        "Grammar.loads",
        ({}, b"\x80\x04K\x01."),
    ),
    _s4(
        "A-21-GHSA-p9w7-82w4-7q8m",
        PS_ADV + "GHSA-p9w7-82w4-7q8m",
        "lib2to3.pgen2.pgen",
        "ParserGenerator.make_label",
        (None, {}, '""+' + CODE),
    ),
    _s4(
        "A-22-GHSA-3vg9-h568-4w9m-CVE-2025-71354",
        PS_ADV + "GHSA-3vg9-h568-4w9m",
        "idlelib.debugobj",
        "ObjectTreeItem.SetText",
        ({}, CODE),
    ),
    _s4(
        "A-23-GHSA-6w4w-5w54-rjvr-CVE-2025-71358",
        PS_ADV + "GHSA-6w4w-5w54-rjvr",
        "idlelib.autocomplete",
        "AutoComplete.get_entity",
        ({}, CODE),
    ),
    _s4(
        "A-24-GHSA-7cq8-mj8x-j263",
        PS_ADV + "GHSA-7cq8-mj8x-j263",
        "idlelib.autocomplete",
        "AutoComplete.fetch_completions",
        ({}, CODE, 0),
    ),
    _s4(
        "A-25-GHSA-8r4j-24qv-fmq9",
        PS_ADV + "GHSA-8r4j-24qv-fmq9",
        "idlelib.calltip",
        "Calltip.fetch_tip",
        ({}, CODE),
    ),
    _s4("A-26-GHSA-9xph-j2h6-g47v", PS_ADV + "GHSA-9xph-j2h6-g47v", "idlelib.calltip", "get_entity", (CODE,)),
    _s4(
        "A-27-GHSA-m869-42cg-3xwr",
        PS_ADV + "GHSA-m869-42cg-3xwr",
        "idlelib.run",
        "Executive.runcode",
        ({}, CODE),
    ),
    _s4(
        "A-28-GHSA-j343-8v2j-ff7w-CVE-2025-71357",
        PS_ADV + "GHSA-j343-8v2j-ff7w",
        "idlelib.pyshell",
        "ModifiedInterpreter.runcommand",
        ({}, CODE),
    ),
    _s4(
        "A-29-GHSA-3gf5-cxq9-w223",
        PS_ADV + "GHSA-3gf5-cxq9-w223",
        "idlelib.pyshell",
        "ModifiedInterpreter.runcode",
        ({}, CODE),
    ),
    _s4(
        "A-30-GHSA-cj3c-v495-4xqh",
        PS_ADV + "GHSA-cj3c-v495-4xqh",
        "code",
        "InteractiveInterpreter.runcode",
        ({}, CODE),
    ),
    _s4("A-31-GHSA-fqq6-7vqf-w3fg", PS_ADV + "GHSA-fqq6-7vqf-w3fg", "doctest", "debug_script", (CODE, True)),
    _s4(
        "A-32-GHSA-xp4f-hrf8-rxw7-CVE-2025-71344",
        PS_ADV + "GHSA-xp4f-hrf8-rxw7",
        "ensurepip",
        "_run_pip",
        (CODE,),
    ),
    # A-33 ----------------------------------------------------------------------------------------------
    _s4(
        "A-33-GHSA-q77w-mwjj-7mqx",
        PS_ADV + "GHSA-q77w-mwjj-7mqx",
        "asyncio.unix_events",
        "_UnixSubprocessTransport._start",
        ({}, CMD, True, None, None, None, 0),
    ),
    # A-34 ... A-41 Dec 2025 batch (https://github.com/mmaitre314/picklescan/pull/53, /pull/54) ------
    _s4(
        "A-34-GHSA-m273-6v24-x4m4",
        PS_ADV + "GHSA-m273-6v24-x4m4",
        "distutils.file_util",
        "write_file",
        (TMPF, ["canary"]),
        H,
    ),
    _s4("A-35-GHSA-4675-36f9-wf6r", PS_ADV + "GHSA-4675-36f9-wf6r", "ctypes", "CDLL", (None,)),
    _case(
        "A-36-GHSA-84r2-jw7c-4r5q",
        PS_ADV + "GHSA-84r2-jw7c-4r5q",
        _METHODCALLER_LOCATE,
        C,
        "operator.methodcaller",
        "pydoc.locate",
    ),
    _s4("A-37-GHSA-vqmv-47xg-9wpr-CVE-2025-71322", PS_ADV + "GHSA-vqmv-47xg-9wpr", "pty", "spawn", ([CMD],)),
    _s4(
        "A-38-GHSA-r8g5-cgf2-4m4m",
        PS_ADV + "GHSA-r8g5-cgf2-4m4m",
        "numpy.f2py.crackfortran",
        "getlincoef",
        (CODE, []),
    ),
    _s4(
        "A-39-CVE-2025-71365",
        "https://github.com/mmaitre314/picklescan/pull/53",
        "numpy.f2py.crackfortran",
        "myeval",
        (CODE,),
    ),
    _case(
        "A-40-GHSA-955r-x9j8-7rhh-CVE-2025-71373",
        PS_ADV + "GHSA-955r-x9j8-7rhh",
        _OPERATOR_METHODCALLER,
        C,
        "_operator.methodcaller",
        "builtins.__import__",
    ),
    _case(
        "A-41-GHSA-46h3-79wf-xr6c",
        PS_ADV + "GHSA-46h3-79wf-xr6c",
        _OPERATOR_ATTRGETTER,
        C,
        "_operator.attrgetter",
        "builtins.__import__",
    ),
    # A-42 ... A-47 2026 picklescan advisories -------------------------------------------------------
    _s4(
        "A-42-GHSA-9726-w42j-3qjr-_io.FileIO",
        PS_ADV + "GHSA-9726-w42j-3qjr",
        "_io",
        "FileIO",
        ("/etc/hostname", "r"),
        M,
    ),
    _s4(
        "A-42-GHSA-9726-w42j-3qjr-urlopen",
        PS_ADV + "GHSA-9726-w42j-3qjr",
        "urllib.request",
        "urlopen",
        ("http://example.invalid",),
        H,
    ),
    _s4("A-43-GHSA-m7j5-r2p5-c39r", PS_ADV + "GHSA-m7j5-r2p5-c39r", "logging", "FileHandler", (TMPF,), H),
    _case(
        "A-44-GHSA-9m3x-qqw2-h32h-CodeType",
        PS_ADV + "GHSA-9m3x-qqw2-h32h",
        _CODETYPE,
        C,
        "types.CodeType",
        "types.FunctionType",
    ),
    _case(
        "A-44-GHSA-9m3x-qqw2-h32h-cloudpickle",
        PS_ADV + "GHSA-9m3x-qqw2-h32h",
        _CLOUDPICKLE_CODE,
        C,
        "cloudpickle.cloudpickle._builtin_type",
        "cloudpickle.cloudpickle._make_function",
    ),
    _case(
        "A-45-GHSA-vvpj-8cmc-gx39",
        PS_ADV + "GHSA-vvpj-8cmc-gx39",
        p4(call(sg("pkgutil", "resolve_name"), "os:getcwd"), EMPTY_TUPLE, REDUCE),
        C,
        "pkgutil.resolve_name",
    ),
    _s4(
        "A-46-GHSA-g38g-8gr9-h9xp-uuid", PS_ADV + "GHSA-g38g-8gr9-h9xp", "uuid", "_get_command_stdout", (CMD,)
    ),
    _s4(
        "A-46-GHSA-g38g-8gr9-h9xp-_osx_support",
        PS_ADV + "GHSA-g38g-8gr9-h9xp",
        "_osx_support",
        "_read_output",
        (CMD,),
    ),
    _s4(
        "A-46-GHSA-g38g-8gr9-h9xp-_aix_support",
        PS_ADV + "GHSA-g38g-8gr9-h9xp",
        "_aix_support",
        "_read_cmd_output",
        (CMD,),
    ),
    _s4(
        "A-46-GHSA-g38g-8gr9-h9xp-imaplib", PS_ADV + "GHSA-g38g-8gr9-h9xp", "imaplib", "IMAP4_stream", (CMD,)
    ),
    _s4(
        "A-46-GHSA-g38g-8gr9-h9xp-_pyrepl",
        PS_ADV + "GHSA-g38g-8gr9-h9xp",
        "_pyrepl.pager",
        "pipe_pager",
        ("text", CMD),
    ),
    _s4(
        "A-46-GHSA-g38g-8gr9-h9xp-script_helper",
        PS_ADV + "GHSA-g38g-8gr9-h9xp",
        "test.support.script_helper",
        "assert_python_ok",
        ("-c pass",),
    ),
    # A-48 fickling blocklist advisories (fickling test/test_bypasses.py) ------------------------------
    _case(
        "A-48-GHSA-r7v6-mfhq-g3m2-CVE-2025-67748", FK_ADV + "GHSA-r7v6-mfhq-g3m2", _PTY_BUILD, C, "pty.spawn"
    ),
    _case(
        "A-48-FK-PR108-pty.spawn-OBJ",
        "https://github.com/trailofbits/fickling/pull/108",
        _PTY_OBJ,
        C,
        "pty.spawn",
    ),
    _case(
        "A-48-GHSA-565g-hwwr-4pp3-CVE-2025-67747",
        FK_ADV + "GHSA-565g-hwwr-4pp3",
        _MARSHAL_FUNCTION,
        C,
        "marshal.loads",
        "types.FunctionType",
    ),
    _s4(
        "A-48-GHSA-wfq2-52f7-7qvj-CVE-2026-22606",
        FK_ADV + "GHSA-wfq2-52f7-7qvj",
        "runpy",
        "run_path",
        ("/nonexistent/canary.py",),
    ),
    _s4(
        "A-48-GHSA-q5qq-mvfm-j35x-CVE-2026-22609-spawnv_passfds",
        FK_ADV + "GHSA-q5qq-mvfm-j35x",
        "multiprocessing.util",
        "spawnv_passfds",
        (b"/bin/true", [b"/bin/true"], ()),
    ),
    _case(
        "A-48-GHSA-q5qq-mvfm-j35x-CVE-2026-22609-import_module",
        FK_ADV + "GHSA-q5qq-mvfm-j35x",
        _IMPORT_MODULE_GETATTR,
        C,
        "importlib.import_module",
        "builtins.getattr",
        "os.getcwd",
    ),
    _s4(
        "A-48-GHSA-p523-jq9w-64x9-CVE-2026-22607", FK_ADV + "GHSA-p523-jq9w-64x9", "cProfile", "run", (CODE,)
    ),
    _case(
        "A-48-GHSA-5hvc-6wx8-mvv4-CVE-2026-22608-pydoc",
        FK_ADV + "GHSA-5hvc-6wx8-mvv4",
        p4(call(sg("pydoc", "locate"), "os.getcwd"), EMPTY_TUPLE, REDUCE),
        C,
        "pydoc.locate",
    ),
    _case(
        "A-48-GHSA-5hvc-6wx8-mvv4-CVE-2026-22608-ctypes",
        FK_ADV + "GHSA-5hvc-6wx8-mvv4",
        _CTYPES_GETATTR,
        C,
        "ctypes.CDLL",
        "builtins.getattr",
    ),
    _case(
        "A-48-GHSA-h4rm-mm56-xf63-CVE-2026-22612",
        FK_ADV + "GHSA-h4rm-mm56-xf63",
        _BUILTINS_BLINDNESS,
        C,
        "builtins.__import__",
        "builtins.getattr",
        "os.getcwd",
    ),
    _s4("A-48-GHSA-mhc9-48gj-9gp3-sqlite3", FK_ADV + "GHSA-mhc9-48gj-9gp3", "sqlite3", "connect", (TMPF,), H),
    _case(
        "A-48-FK-6d20564-smtplib",
        "https://github.com/trailofbits/fickling/commit/6d20564",
        _SMTP_BUILD,
        H,
        "smtplib.SMTP",
    ),
    _s4(
        "A-48-GHSA-5hwf-rc88-82xm",
        FK_ADV + "GHSA-5hwf-rc88-82xm",
        "_osx_support",
        "_find_build_tool",
        ("x; true #",),
    ),
    _s4("A-48-GHSA-5cxw-w2xg-2m8h", FK_ADV + "GHSA-5cxw-w2xg-2m8h", "platform", "system", (), M),
    _s4(
        "A-48-GHSA-r48f-3986-4f9c-linecache",
        FK_ADV + "GHSA-r48f-3986-4f9c",
        "linecache",
        "getline",
        ("/etc/hostname", 1),
        M,
    ),
    _s4("A-48-GHSA-r48f-3986-4f9c-gc", FK_ADV + "GHSA-r48f-3986-4f9c", "gc", "get_objects", (), H),
    _case(
        "A-48-GHSA-m6fh-58r7-x697-CVE-2026-14534-site",
        FK_ADV + "GHSA-m6fh-58r7-x697",
        _SITE_SETITEMS,
        C,
        "site.execsitecustomize",
    ),
    _s4(
        "A-48-GHSA-m6fh-58r7-x697-CVE-2026-14534-fork_exec",
        FK_ADV + "GHSA-m6fh-58r7-x697",
        "_posixsubprocess",
        "fork_exec",
        ([b"true"], [b"/bin/true"]),
    ),
    _s4(
        "A-48-GHSA-m6fh-58r7-x697-CVE-2026-14534-atexit",
        FK_ADV + "GHSA-m6fh-58r7-x697",
        "atexit",
        "_run_exitfuncs",
        (),
    ),
    _s4(
        "A-48-GHSA-pc6j-px3p-rrj4",
        FK_ADV + "GHSA-pc6j-px3p-rrj4",
        "test.support.script_helper",
        "assert_python_ok",
        ("-c", "pass"),
    ),
    _s4(
        "A-48-GHSA-6ggj-6f2q-f7mx-_interpreters",
        FK_ADV + "GHSA-6ggj-6f2q-f7mx",
        "_interpreters",
        "create",
        (),
    ),
    _s4(
        "A-48-GHSA-6ggj-6f2q-f7mx-_xxsubinterpreters",
        FK_ADV + "GHSA-6ggj-6f2q-f7mx",
        "_xxsubinterpreters",
        "run_string",
        (0, CODE),
    ),
    _case(
        "A-48-FK-9a6d03f-getattr_static",
        "https://github.com/trailofbits/fickling/commit/9a6d03f",
        _GETATTR_STATIC,
        C,
        "inspect.getattr_static",
        "importlib.import_module",
    ),
    _s4(
        "A-48-FK-b9e690c-_frozen_importlib",
        "https://github.com/trailofbits/fickling/commit/b9e690c",
        "_frozen_importlib",
        "_load",
        (None,),
    ),
    _s4(
        "A-48-FK-b9e690c-_imp",
        "https://github.com/trailofbits/fickling/commit/b9e690c",
        "_imp",
        "create_dynamic",
        (None,),
    ),
    _s4(
        "A-48-FK-3bc5d66-imp.load_source",
        "https://github.com/trailofbits/fickling/commit/3bc5d66",
        "imp",
        "load_source",
        ("canary", "/nonexistent.py"),
    ),
    _s4(
        "A-48-FK-3bc5d66-pipes.Template",
        "https://github.com/trailofbits/fickling/commit/3bc5d66",
        "pipes",
        "Template",
        (),
    ),
    # A-49 huntr / Hugging Face PoCs against picklescan's "Suspicious" tier -------------------------
    _case(
        "A-49-HF-xry6-getattr_static",
        "https://huggingface.co/xry6/huntr-picklescan-bypass-poc",
        _GETATTR_STATIC,
        C,
        "importlib.import_module",
        "inspect.getattr_static",
    ),
    _s4(
        "A-49-HF-optimus-fulcria-http.client",
        "https://huggingface.co/optimus-fulcria/picklescan-bypass-poc",
        "http.client",
        "HTTPSConnection",
        ("example.invalid",),
        H,
    ),
    _s4(
        "A-49-HF-optimus-fulcria-codecs.open",
        "https://huggingface.co/optimus-fulcria/picklescan-bypass-poc",
        "codecs",
        "open",
        ("/etc/hostname", "r"),
        M,
    ),
    _s4(
        "A-49-HF-optimus-fulcria-io.open",
        "https://huggingface.co/optimus-fulcria/picklescan-bypass-poc",
        "io",
        "open",
        ("/etc/hostname", "r"),
        M,
    ),
    _case(
        "A-49-HF-thesecguy-marshal",
        "https://huggingface.co/thesecguy/poc-picklescan-marshal-bypass",
        _MARSHAL_FUNCTION,
        C,
        "marshal.loads",
        "types.FunctionType",
    ),
    _case(
        "A-49-HF-wulonchia-codecs.open-joblib",
        "https://huggingface.co/wulonchia/picklescan-bypass-poc",
        s4_call("codecs", "open", "/etc/passwd", "r"),
        M,
        "codecs.open",
        filename="model.joblib",
    ),
    _s4(
        "A-49-HF-th3-j0k3r-posixsubprocess",
        "https://huggingface.co/th3-j0k3r/picklescan-posixsubprocess-bypass",
        "_posixsubprocess",
        "fork_exec",
        ([b"true"],),
    ),
    _s4(
        "A-49-HF-th3-j0k3r-bootsubprocess",
        "https://huggingface.co/th3-j0k3r/picklescan-bootsubprocess-bypass",
        "_bootsubprocess",
        "check_output",
        ([CMD],),
    ),
    _s4(
        "A-49-HF-th3-j0k3r-importlib",
        "https://huggingface.co/th3-j0k3r/picklescan-importlib-bypass",
        "importlib",
        "import_module",
        ("os",),
    ),
    # A-50 modelscan denylist gaps -------------------------------------------------------------------
    _s4(
        "A-50-MS-338-collect_env.run",
        "https://github.com/protectai/modelscan/issues/338",
        "torch.utils.collect_env",
        "run",
        (CMD,),
    ),
    _s4(
        "A-50-MS-338-spawnv_passfds",
        "https://github.com/protectai/modelscan/issues/338",
        "multiprocessing.util",
        "spawnv_passfds",
        (b"/bin/true", (b"/bin/true",), ()),
    ),
    _s4(
        "A-50-MS-338-mlflow",
        "https://github.com/protectai/modelscan/issues/338",
        "mlflow.projects.backend.local",
        "_run_entry_point",
        (CMD, ".", "", ""),
    ),
    _s4(
        "A-50-MS-338-read_csv",
        "https://github.com/protectai/modelscan/issues/338",
        "pandas.io.parsers.readers",
        "read_csv",
        ("http://example.invalid/x",),
        H,
    ),
    _case(
        "A-50-HF-bassia-manja316-methodcaller",
        "https://huggingface.co/bassia/pickle-scanner-bypass-poc",
        _IMPORT_MODULE_METHODCALLER,
        C,
        "importlib.import_module",
        "operator.methodcaller",
    ),
    _case(
        "A-50-HF-wulonchia-distutils.spawn",
        "https://huggingface.co/wulonchia/modelscan-pickle-bypass-poc",
        s4_call("distutils.spawn", "spawn", [CMD]),
        C,
        "distutils.spawn.spawn",
        filename="model.joblib",
    ),
    _case(
        "A-50-HF-wulonchia-cProfile",
        "https://huggingface.co/wulonchia/modelscan-pickle-bypass-poc",
        s4_call("cProfile", "run", CODE),
        C,
        "cProfile.run",
        filename="model.joblib",
    ),
    _case(
        "A-50-HF-wulonchia-timeit",
        "https://huggingface.co/wulonchia/modelscan-pickle-bypass-poc",
        s4_call("timeit", "timeit", "", CODE),
        C,
        "timeit.timeit",
        filename="model.joblib",
    ),
    # A-51 ModelAudit gen_bypass_v4.py (PR #518 / #581) -------------------------------------------
    _case(
        "A-51-MA-518-cProfile.run-p2",
        "https://github.com/promptfoo/modelaudit/pull/518",
        _MA_CPROFILE,
        C,
        "cProfile.run",
    ),
    *[
        _case(
            f"A-51-MA-518-{m}.{n}",
            "https://github.com/promptfoo/modelaudit/pull/518",
            g0_call(m, n, *a, p=2),
            sev,
            f"{m}.{n}",
        )
        for m, n, a, sev in [
            ("ctypes", "cast", (0, 0), C),
            ("pdb", "run", (CODE,), C),
            ("timeit", "timeit", ("", CODE), C),
            ("profile", "run", (CODE,), C),
            ("_thread", "allocate_lock", (), H),
            ("linecache", "getline", ("/etc/hostname", 1), M),
            ("logging.config", "listen", (9999,), H),
            ("zipimport", "zipimporter", ("/nonexistent.zip",), C),
        ]
    ],
    *[
        _case(
            f"A-51-MA-581-{m}.{n}",
            "https://github.com/promptfoo/modelaudit/pull/581",
            s4_call(m, n, *a),
            sev,
            f"{m}.{n}",
        )
        for m, n, a, sev in [
            ("pkgutil", "resolve_name", ("os:getcwd",), C),
            ("uuid", "_get_command_stdout", (CMD,), C),
            ("smtplib", "SMTP", ("127.0.0.1",), H),
            ("sqlite3", "connect", (TMPF,), H),
            ("tarfile", "open", (TMPF,), H),
            ("marshal", "loads", (b"\xe3",), C),
            ("cloudpickle", "loads", (b"\x80\x04K\x01.",), C),
            ("webbrowser", "open", ("http://example.invalid",), H),
        ]
    ],
]


@pytest.mark.parametrize("case", CASES)
def test_denylist_gap(case: Case, tmp_path) -> None:
    """The callable named by the advisory is reported with its dotted name at the advisory's severity."""
    findings = scan_file(tmp_path, case.filename, case.data)
    for construct in case.constructs:
        found = expect(findings, case.severity, construct=construct, rule="pickle/")
        assert found.scanner == "pickle", case.source


def test_denylist_rows_are_unique() -> None:
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES)
def test_fixture_is_a_well_formed_pickle(case: Case) -> None:
    """Every Family A fixture is a real pickle program (checked with ``pickletools``, which never imports or
    calls anything), so the findings above are about loadable payloads, not scanner-friendly noise."""
    ops = list(pickletools.genops(case.data))
    assert ops[-1][0].name == "STOP"
    assert ops[-1][2] + 1 == len(case.data)
