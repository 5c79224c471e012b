"""Loading never runs code from user files: no unpickling, no checkpoint-shipped Python."""

import json

import numpy as np
import pytest

from frugalml._core.validation import load_npy


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (open, (str(self.marker), "w"))


def test_npy_with_pickled_objects_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"
    np.save(tmp_path / "evil.npy", np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="never unpickles"):
        load_npy(tmp_path / "evil.npy", "embeddings")
    assert not marker.exists()
    np.save(tmp_path / "ok.npy", np.arange(3.0))
    np.testing.assert_array_equal(load_npy(tmp_path / "ok.npy", "embeddings"), np.arange(3.0))
    with pytest.raises(FileNotFoundError, match="embeddings"):
        load_npy(tmp_path / "missing.npy", "embeddings")
    (tmp_path / "junk.npy").write_bytes(b"not an npy file")
    with pytest.raises(ValueError, match="not a valid .npy"):
        load_npy(tmp_path / "junk.npy", "embeddings")


def test_load_pretrained_never_runs_code_shipped_with_the_checkpoint(tmp_path):
    from frugalml.lm import load_pretrained

    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').close()\nfrom transformers import PretrainedConfig\n" \
           "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
    (tmp_path / "configuration_evil.py").write_text(code)
    (tmp_path / "modeling_evil.py").write_text(code)
    auto_map = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilModel",
                "AutoTokenizer": ["configuration_evil.EvilConfig", None]}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "evil", "auto_map": auto_map}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"auto_map": auto_map}))
    with pytest.raises(Exception, match="trust_remote_code|evil|Unrecognized"):
        load_pretrained(tmp_path)
    assert not marker.exists()
