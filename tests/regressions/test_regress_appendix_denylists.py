"""Appendix 1 cross-check: every entry of the merged denylists of picklescan (PS), modelscan (MS), fickling
(FK / FK-ML) and ModelAudit (MA-AD / MA-SG) is judged at least HIGH by mlwarden, and the exact allowlist never
overlaps the denylist.

Source: catalogue Appendix 1, built from picklescan ``_unsafe_globals`` (HEAD f15d54d,
https://github.com/mmaitre314/picklescan/blob/main/src/picklescan/scanner.py), modelscan
``DEFAULT_SETTINGS["unsafe_globals"]`` (HEAD 8b8ed4b, https://github.com/protectai/modelscan), fickling
``UNSAFE_IMPORTS`` / ``UnsafeImportsML`` (HEAD 854c99a, https://github.com/trailofbits/fickling) and
ModelAudit ``ALWAYS_DANGEROUS_*`` / ``SUSPICIOUS_GLOBALS`` (HEAD 5ddfcdc,
https://github.com/promptfoo/modelaudit). ``*`` means the whole module; it is probed with a name no allowlist
can hold.
"""

from __future__ import annotations

import pytest
from regress_lib import call, expect, p4, scan_file, sg

from mlwarden.scanning import Severity
from mlwarden.scanning._formats import pickle_rules

MERGED_DENYLIST = """
__builtin__: * __import__ apply breakpoint compile eval exec execfile getattr input open raw_input
    reload
__builtins__: * __import__ compile eval exec input open
_aix_support: *
_ctypes: *
_frozen_importlib: *
_frozen_importlib_external: *
_imp: *
_interpreters: *
_io: FileIO open
_operator: * attrgetter itemgetter methodcaller
_osx_support: *
_pickle: *
_posixsubprocess: *
_pyrepl: *
_signal: *
_sqlite3: *
_thread: *
_xxsubinterpreters: *
aiohttp: *
aiohttp.client: *
asyncio: *
asyncio.subprocess: *
atexit: *
base64: b64decode b64encode decode
bdb: *
builtins: * __import__ apply breakpoint compile delattr dir eval exec getattr globals input locals open
    setattr vars
cloudpickle: *
cloudpickle.cloudpickle: _builtin_type _function_setstate _make_cell _make_empty_cell _make_function
    subimport
code: * InteractiveInterpreter.runcode
codecs: decode encode
codeop: *
commands: *
compile: *
compileall: *
concurrent.futures: ProcessPoolExecutor ThreadPoolExecutor
cProfile: * run runctx
ctypes: * CDLL CFUNCTYPE OleDLL PyDLL WINFUNCTYPE WinDLL cast cdll oledll pydll pythonapi windll
ctypes.util: *
difflib: *
dill: * load load_module load_module_asdict load_session loads
dill._dill: *
distutils: *
distutils.file_util: *
doctest: * debug_script
ensurepip: * _run_pip
eval: *
exec: *
filecmp: *
fileinput: *
ftplib: *
functools: * partial reduce
gc: *
glob: *
http: *
httplib: *
idlelib: *
idlelib.autocomplete: AutoComplete.fetch_completions AutoComplete.get_entity
idlelib.calltip: Calltip.fetch_tip get_entity
idlelib.debugobj: ObjectTreeItem.SetText
idlelib.pyshell: ModifiedInterpreter.runcode ModifiedInterpreter.runcommand
idlelib.run: Executive.runcode
imaplib: * IMAP4_stream
imp: *
importlib: * import_module
importlib.machinery: *
importlib.util: *
inspect: *
io: FileIO open
joblib: * load
lib2to3: *
lib2to3.pgen2.grammar: Grammar.loads
lib2to3.pgen2.pgen: ParserGenerator.make_label
linecache: *
logging: * FileHandler config
marshal: * dump dumps load loads
mmap: *
multiprocessing: *
multiprocessing.pool: *
nntplib: *
nt: *
ntpath: *
numpy.distutils: *
numpy.f2py: *
numpy.testing._private.utils: * runstring
operator: * attrgetter getitem itemgetter methodcaller
os: * execl execle execlp execlpe execv execve execvp execvpe popen popen2 popen3 popen4 spawn spawnl
    spawnle spawnlp spawnlpe spawnv spawnve spawnvp spawnvpe system
pdb: * run runcall runctx runeval
pexpect: *
pickle: * load loads
pip: * main
pip._internal: * main
pip._internal.cli: *
pip._internal.cli.main: * main
pip._vendor: *
pip._vendor.distlib: *
pip._vendor.distlib.scripts: * ScriptMaker
pipes: *
pkgutil: * get_importer resolve_name walk_packages
platform: * popen system
poplib: *
posix: *
posixpath: *
profile: * run runctx
pty: *
py_compile: *
pydoc: *
requests: *
requests.api: *
runpy: *
select: *
selectors: *
shelve: *
shutil: * copy copytree move rmtree
signal: *
site: *
smtplib: *
socket: *
socketserver: *
sqlite3: *
ssl: *
subprocess: * Popen call check_call check_output getoutput getstatusoutput run
sys: *
syslog: *
tarfile: *
telnetlib: *
tempfile: * mktemp
test: *
threading: *
timeit: * repeat timeit
torch: compile load
torch._dynamo: *
torch._dynamo.guards: GuardBuilder.get
torch._inductor: *
torch._inductor.codecache: compile_file
torch.compile: *
torch.distributed.elastic.rendezvous.api: basichandlers
torch.distributed.rpc: RemoteModule remote rpc_async rpc_sync
torch.fx.experimental.symbolic_shapes: ShapeEnv.evaluate_guards_expression
torch.hub: * load load_state_dict_from_url
torch.jit: *
torch.jit.unsupported_tensor_ops: execWrapper
torch.serialization: load
torch.storage: _load_from_bytes
torch.utils._config_module: ConfigModule ConfigModule.load_config
torch.utils.bottleneck.__main__: run_autograd_prof run_cprofile
torch.utils.collect_env: run
torch.utils.data.datapipes.utils.decoder: basichandlers
trace: * Trace.run Trace.runctx
types: * CodeType FunctionType
unittest: *
urllib: *
urllib.request: *
urllib2: *
uuid: * _get_command_stdout _popen
venv: *
webbrowser: *
xmlrpc: *
xmlrpc.client: *
xmlrpc.server: *
zipfile: *
zipimport: *
"""

# Bare function names ModelAudit denies in any module; mlwarden checks them as builtins.
BARE_NAMES = "__import__ compile delattr eval exec file getattr open setattr".split()

PROBE = "mlwarden_probe_name"

# Whole-module entries that mlwarden deliberately does not turn into a blanket CRITICAL, because the module
# also holds plain data types or pure functions that legitimate pickles use. The dangerous members are denied
# by name (asserted here); anything else from the module is still reported as an unknown global (MEDIUM).
PARTIAL_WILDCARDS = {
    "builtins": "value types (int, set, slice ...) are allowlisted; call, import, introspection denied",
    "operator": "arithmetic operators are pure; attrgetter/itemgetter/methodcaller/getitem/call are denied",
    "_operator": "what operator's functions pickle as; same split as operator",
    "functools": "partial/partialmethod/reduce are denied; cmp_to_key, total_ordering ... are inert",
    "types": "SimpleNamespace/MappingProxyType are data; CodeType/FunctionType/... are denied",
    "logging": "logging.getLogger is how a pickled Logger reduces; handlers/config/FileHandler are denied",
    "uuid": "uuid.UUID / SafeUUID are allowlisted values; the command-running helpers are denied",
    "joblib": "joblib's array wrappers are the joblib format itself; joblib.load is denied",
}
# Denylisted names that are pure data transforms with no side effect; reported (MEDIUM), not critical.
BENIGN = {
    "base64.b64decode": "pure bytes transform",
    "base64.b64encode": "pure bytes transform",
    "base64.decode": "decode(input, output) copies between two file objects it is handed; no I/O of its own",
    "codecs.decode": "pure transform (the codec registry holds no executing codecs)",
    "codecs.encode": "pure transform; its twin _codecs.encode is how protocol 2 pickles bytes",
}


def _entries() -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = []
    module = ""
    for line in MERGED_DENYLIST.strip().splitlines():
        if not line.startswith(" "):
            module, _, line = line.partition(": ")
        entries.extend((module, name) for name in line.split())
    return entries


ENTRIES = _entries()


def test_merged_denylist_is_complete() -> None:
    """316 (module, name) entries across 161 modules, as listed in Appendix 1."""
    assert len(ENTRIES) == 316
    assert len({m for m, _ in ENTRIES}) == 161


@pytest.mark.parametrize(("module", "name"), ENTRIES, ids=[f"{m}.{n}" for m, n in ENTRIES])
def test_denylist_entry_is_high(module: str, name: str) -> None:
    dotted = f"{module}.{name}"
    if name == "*" and module in PARTIAL_WILDCARDS:
        verdict = pickle_rules.judge(module, PROBE)
        assert verdict is not None and verdict.severity >= Severity.MEDIUM, PARTIAL_WILDCARDS[module]
        return
    if dotted in BENIGN:
        verdict = pickle_rules.judge(module, name)
        assert verdict is not None and verdict.severity >= Severity.MEDIUM, BENIGN[dotted]
        return
    verdict = pickle_rules.judge(module, PROBE if name == "*" else name)
    assert verdict is not None, f"{dotted} is allowlisted"
    assert verdict.severity >= Severity.HIGH, f"{dotted}: {verdict}"


@pytest.mark.parametrize("name", BARE_NAMES)
def test_bare_dangerous_builtins_are_critical(name: str) -> None:
    """ModelAudit ALWAYS_DANGEROUS_FUNCTIONS bare names, checked where they live (builtins / __builtin__)."""
    for module in ("builtins", "__builtin__", "__builtins__"):
        verdict = pickle_rules.judge(module, name)
        assert verdict is not None and verdict.severity == Severity.CRITICAL, (module, name)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("posix", "system"),
        ("_pickle", "loads"),
        ("cloudpickle.cloudpickle", "_make_cell"),
        ("sqlite3", "connect"),
        ("torch.utils._config_module", "ConfigModule.load_config"),
        ("_operator", "itemgetter"),
    ],
)
def test_denylist_entry_through_a_real_scan(module: str, name: str, tmp_path) -> None:
    """A few entries end to end: a tiny GLOBAL+REDUCE pickle on disk gives the same verdict as ``judge``."""
    findings = scan_file(tmp_path, "probe.pkl", p4(call(sg(module, name), "x")))
    expect(findings, Severity.HIGH, construct=f"{module}.{name}", rule="pickle/")


def _denied(dotted: str) -> bool:
    """The denylist half of ``judge``: a denied name, or a denied module as a prefix."""
    parts = dotted.split(".")
    return dotted in pickle_rules.DANGEROUS_NAMES or any(
        ".".join(parts[:i]) in pickle_rules.DANGEROUS_MODULES for i in range(1, len(parts) + 1)
    )


def test_allowlist_never_overlaps_denylist() -> None:
    """Sanity: nothing in data/pickle_allowlist.txt is also denied (the allowlist is checked first, so an
    overlap would silently allow a dangerous name)."""
    # Deliberate: dill's array/dtype rebuilders only call the reconstructor they are handed, which is
    # itself an imported global judged on its own; the rest of dill stays denied.
    deliberate = {"dill._dill._create_array", "dill._dill._create_dtypemeta"}
    overlap = sorted(name for name in pickle_rules.allowlist() if _denied(name))
    assert overlap == sorted(deliberate)
    assert len(pickle_rules.allowlist()) > 1000
