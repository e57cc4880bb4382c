"""GGUF header, metadata and tensor-table checks, and chat-template analysis (parsed, never rendered)."""

# ruff: noqa: E501 - real chat templates are quoted as published

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from mlwarden.core.types import Finding, Severity
from mlwarden.scanning._formats.gguf import GgufScanner, analyze_chat_template
from mlwarden.scanning.engine import scan_bytes, scan_path
from mlwarden.scanning.interface import BytesBlob, ScanContext, ScanLimits

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>'"
    " + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>'"
    " + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0"
    " == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if"
    " add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role']"
    " == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant"
    " roles are supported!') }}{% endif %}{% endfor %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' +"
    " message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{'<start_of_turn>model\n'}}{% endif %}"
)
LLAMA31_TOOLS = """{{- bos_token }}
{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}{%- set date_string = "26 Jul 2024" %}{%- endif %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}
{%- else %}{%- set system_message = "" %}{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none %}{%- for t in tools %}{{- t | tojson(indent=4) }}{{- "\\n\\n" }}{%- endfor %}{%- endif %}
{{- system_message }}{{- "<|eot_id|>" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim }}
    {%- elif 'tool_calls' in message %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '{"name": "' + tool_call.name + '", "parameters": ' }}{{- tool_call.arguments | tojson }}{{- "}" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
"""
QWEN_NAMESPACE = (
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == 'user' %}{%- set ns.multi_step_tool = false %}"
    "{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
    "{%- for message in messages %}{%- if message.content is string %}"
    "{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}{%- endif %}"
    "{%- if loop.index0 > 100 %}{% break %}{% endif %}{%- endfor %}"
)
GENERATION_TAG = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}"
    "{% endgeneration %}{% else %}{{ m['content'] }}{% endif %}{% endfor %}"
)
BENIGN = [CHATML, LLAMA3, MISTRAL, GEMMA, LLAMA31_TOOLS, QWEN_NAMESPACE, GENERATION_TAG]

MALICIOUS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context.joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ ()|attr('_'*2+'class'+'_'*2) }}",
    "{% set a = ['__cla','ss__']|join %}{{ ''[a] }}",
    "{{ x|attr(request.args.c) }}",
    "{{ namespace.__init__ }}",
    "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "{{ ('%c%c%s%c%c'|format(95,95,'globals',95,95)) }}",
    "{{ '{}{}class{}{}'.format('_','_','_','_') }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% if c.__name__ == 'catch_warnings' %}"
    "{{ c()._module.__builtins__['__import__']('os').system('id') }}{% endif %}{% endfor %}",
    "{% for m in messages %}{{ m.content }}{% endfor %}{{ config.items() }}",
]


def _direct(data: bytes) -> list[Finding]:
    ctx = ScanContext(file="t", limits=ScanLimits(), nested=lambda b, n, c: iter(()))
    return list(GgufScanner().scan(BytesBlob(data), ctx))


def _write(path: Path, template: Any = None, endian: gguf.GGUFEndian = gguf.GGUFEndian.LITTLE) -> Path:
    writer = gguf.GGUFWriter(path, "llama", endianess=endian)
    writer.add_block_count(2)
    writer.add_context_length(4096)
    writer.add_token_list(["<s>", "</s>", *(f"tok{i}" for i in range(40))])
    writer.add_token_scores([0.0] * 42)
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", np.zeros((42, 8), dtype=np.float32))
    writer.add_tensor("output.weight", np.ones((8, 4), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize(
    "template",
    BENIGN,
    ids=["chatml", "llama3", "mistral", "gemma", "llama31-tools", "qwen-namespace", "generation-tag"],
)
def test_benign_chat_templates_raise_nothing(tmp_path: Path, template: str) -> None:
    report = scan_path(_write(tmp_path / "m.gguf", template)).files[0]
    assert report.format == "gguf"
    assert [f for f in report.findings if f.severity >= Severity.LOW] == []


@pytest.mark.parametrize("template", MALICIOUS)
def test_malicious_chat_templates_are_critical(tmp_path: Path, template: str) -> None:
    findings = scan_path(_write(tmp_path / "m.gguf", template)).files[0].findings
    injection = [f for f in findings if f.rule_id == "gguf/template-injection"]
    assert injection
    assert max(f.severity for f in injection) == Severity.CRITICAL
    assert all(f.details["key"] == "tokenizer.chat_template" for f in injection)


def test_template_hits_name_the_construct() -> None:
    hits = analyze_chat_template("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert [construct for _, _, construct, _ in hits] == ["__subclasses__", "__mro__", "__class__"]
    built = analyze_chat_template("{{ x[['__','cla','ss__']|join] }}")
    assert built[0][2] == "__class__"
    assert "built at render time" in built[0][3]


def test_named_template_variants_are_analysed(tmp_path: Path) -> None:
    templates = [
        {"name": "default", "template": CHATML},
        {"name": "tool_use", "template": "{{ lipsum.__globals__ }}"},
    ]
    findings = scan_path(_write(tmp_path / "m.gguf", templates)).files[0].findings
    keys = {f.details["key"] for f in findings if f.rule_id == "gguf/template-injection"}
    assert keys == {"tokenizer.chat_template.tool_use"}


def test_unparseable_template_is_medium(tmp_path: Path) -> None:
    findings = scan_path(_write(tmp_path / "m.gguf", "{% for m in messages %}{{ m ")).files[0].findings
    assert [(f.rule_id, f.severity) for f in findings] == [("gguf/template-unparseable", Severity.MEDIUM)]


def test_facts_hold_metadata_and_tensors(tmp_path: Path) -> None:
    report = scan_path(_write(tmp_path / "m.gguf", CHATML)).files[0]
    facts = report.facts[""]["gguf"]
    assert facts["version"] == 3
    assert facts["metadata"]["general.architecture"] == "llama"
    assert facts["metadata"]["llama.context_length"] == 4096
    assert facts["metadata"]["tokenizer.ggml.tokens"] == {"array": "string", "count": 42}
    assert facts["metadata"]["tokenizer.chat_template"] == {"length": len(CHATML)}
    assert facts["tensors"] == [
        {"name": "token_embd.weight", "shape": [8, 42], "type": 0},
        {"name": "output.weight", "shape": [4, 8], "type": 1},
    ]


def test_big_endian_file_is_read(tmp_path: Path) -> None:
    report = scan_path(_write(tmp_path / "m.gguf", "{{ lipsum.__globals__ }}", gguf.GGUFEndian.BIG)).files[0]
    assert report.facts[""]["gguf"]["metadata"]["general.architecture"] == "llama"
    assert "gguf/template-injection" in {f.rule_id for f in report.findings}


def test_tensor_data_past_the_end_is_high(tmp_path: Path) -> None:
    data = _write(tmp_path / "m.gguf", CHATML).read_bytes()
    findings = _direct(data[:-40])
    oob = [f for f in findings if f.rule_id == "gguf/tensor-out-of-bounds"]
    assert [(f.severity, f.construct) for f in oob] == [(Severity.HIGH, "output.weight")]


def test_counts_larger_than_the_file_are_refused(tmp_path: Path) -> None:
    data = bytearray(_write(tmp_path / "m.gguf", CHATML).read_bytes())
    struct.pack_into("<Q", data, 16, 1 << 40)  # kv_count
    findings = scan_bytes(bytes(data), "m.gguf").findings
    assert [(f.rule_id, f.severity) for f in findings] == [("gguf/count-overflow", Severity.HIGH)]


def test_oversized_string_length_is_refused(tmp_path: Path) -> None:
    data = bytearray(_write(tmp_path / "m.gguf", CHATML).read_bytes())
    struct.pack_into("<Q", data, 24, 1 << 40)  # length of the first key
    assert [f.rule_id for f in _direct(bytes(data))] == ["gguf/oversized-string"]


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _handmade(kvs: list[tuple[str, int, bytes]], tensors: bytes = b"", tensor_count: int = 0) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, tensor_count, len(kvs))
    for key, value_type, value in kvs:
        out += _s(key) + struct.pack("<I", value_type) + value
    return out + tensors


def test_duplicate_keys_are_flagged() -> None:
    data = _handmade(
        [
            ("general.architecture", 8, _s("llama")),
            ("tokenizer.chat_template", 8, _s(CHATML)),
            ("tokenizer.chat_template", 8, _s("{{ cycler.__init__ }}")),
        ]
    )
    rules = {(f.rule_id, f.severity) for f in _direct(data)}
    assert ("gguf/duplicate-key", Severity.MEDIUM) in rules
    assert ("gguf/template-injection", Severity.CRITICAL) in rules


def test_too_many_dimensions_and_unknown_value_types() -> None:
    tensor = _s("t") + struct.pack("<I", 9) + struct.pack("<9Q", *([1] * 9)) + struct.pack("<IQ", 0, 0)
    data = _handmade([("a", 8, _s("x"))], tensor + b"\0" * 64, tensor_count=1)
    assert [f.rule_id for f in _direct(data)] == ["gguf/tensor-dims"]
    assert [f.rule_id for f in _direct(_handmade([("a", 77, b"\0" * 16)]))] == ["gguf/unknown-value-type"]
    nested = struct.pack("<IQ", 9, 1) * 8 + b"\0" * 64  # arrays of arrays of arrays ...
    assert [f.rule_id for f in _direct(_handmade([("a", 9, nested)]))] == ["limit/gguf-array-depth"]


def test_unsupported_version_is_medium() -> None:
    findings = _direct(b"GGUF" + struct.pack("<I", 99) + b"\0" * 32)
    assert [(f.rule_id, f.severity) for f in findings] == [("gguf/unsupported-version", Severity.MEDIUM)]


def test_every_prefix_is_handled_without_raising(tmp_path: Path) -> None:
    data = _write(tmp_path / "m.gguf", "{{ lipsum.__globals__ }}").read_bytes()
    for end in range(len(data) + 1):
        _direct(data[:end])
    assert "malformed/truncated" in {f.rule_id for f in _direct(data[:100])}


def test_random_mutations_never_raise(tmp_path: Path) -> None:
    base = _write(tmp_path / "m.gguf", CHATML).read_bytes()
    rng = random.Random(7)
    for _ in range(400):
        mutated = bytearray(base)
        for _ in range(4):
            mutated[rng.randrange(8, 400)] = rng.randrange(256)
        _direct(bytes(mutated))
