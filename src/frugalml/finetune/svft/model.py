"""Model-level wiring of SVFT: inject layers, merge / unmerge / unload, adapter-only save / load.

The API mirrors Hugging Face PEFT (``get_peft_model`` / ``merge_and_unload`` /
``enable_adapter_layers`` / ``save_pretrained`` / ``print_trainable_parameters``) while acting on
the model in place, since PEFT's tuner registry is closed to new methods.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from frugalml.finetune.svft.config import SVFTConfig, _matches, budget, support
from frugalml.finetune.svft.layer import SVFTLayer, is_conv1d, random_orthonormal, thin_svd, weight_view

CONFIG_NAME = "adapter_config.json"
WEIGHTS_NAME = "adapter_model.safetensors"


def svft_layers(model) -> dict:
    """``{module name: SVFTLayer}`` of every SVFT layer in ``model``."""
    return {name: mod for name, mod in model.named_modules() if isinstance(mod, SVFTLayer)}


def _set_module(model, name: str, module):
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _make_layer(name, base, config: SVFTConfig, generator: torch.Generator, support_override=None):
    W = weight_view(base)                                                   # [d_out, d_in]
    d_out, d_in = W.shape
    r = min(d_out, d_in)
    k = budget(config, r, name)
    if config.pattern == "topk" and d_out != d_in:
        raise ValueError(f"pattern='topk' needs square weights; module {name} is {d_out} x {d_in}")
    if config.basis == "random":
        U, V = random_orthonormal(d_out, r, generator), random_orthonormal(d_in, r, generator)
    else:
        U, _, V = thin_svd(W)
    if support_override is not None:
        rows, cols = support_override
    else:
        alignment = U.T @ V if config.pattern == "topk" else None          # [r, r]
        rows, cols = support(config, r, generator=generator, alignment=alignment, where=name)
    if config.init == "kaiming_gated":
        m = torch.randn(k, generator=generator) * (2.0 / k) ** 0.5          # kaiming normal, fan-in k
    else:
        m = torch.zeros(k)
    device = W.device
    return SVFTLayer(base, U.to(device), V.to(device), rows.to(device), cols.to(device), m.to(device),
                     gated=config.init == "kaiming_gated", forward_mode=config.forward)


def apply_svft(model, config: SVFTConfig, *, _supports=None):
    """Replace every targeted linear layer of ``model`` (in place) by an :class:`SVFTLayer`.

    All other parameters are frozen except those of ``config.modules_to_save``. The thin SVD of
    each weight is computed once in float32 (Sec. 3 of the paper).

    Parameters
    ----------
    model : torch.nn.Module (e.g. a transformers causal LM)
    config : SVFTConfig

    Returns
    -------
    model : the same object, with ``model.svft_config`` set.
    """
    if not isinstance(config, SVFTConfig):
        raise ValueError(f"config must be an SVFTConfig; got {type(config).__name__}")
    config.validate()
    if svft_layers(model):
        raise ValueError("model already has SVFT layers; call merge_and_unload first")
    targets = [(n, m) for n, m in model.named_modules() if n and config.matches(n)]
    if not targets:
        raise ValueError(f"target_modules {config.target_modules!r} matched no module of {type(model).__name__}")
    for name, module in targets:
        if not (isinstance(module, nn.Linear) or is_conv1d(module)):
            raise ValueError(f"target module {name} is a {type(module).__name__}; SVFT adapts nn.Linear and Conv1D")
    for p in model.parameters():
        p.requires_grad_(False)
    for i, (name, module) in enumerate(targets):
        # one generator per layer, drawn in a fixed order (basis, support, M), so a layer's random
        # basis is the same whether its support is drawn or loaded
        generator = torch.Generator().manual_seed(int(config.seed) * 1_000_003 + i)
        override = None if _supports is None else _supports[name]
        _set_module(model, name, _make_layer(name, module, config, generator, override))
    for name, module in model.named_modules():
        if config.modules_to_save and _matches(name, config.modules_to_save) and not isinstance(module, SVFTLayer):
            for p in module.parameters():
                p.requires_grad_(True)
    model.svft_config = config
    return model


def _require_layers(model) -> dict:
    layers = svft_layers(model)
    if not layers:
        raise ValueError("model has no SVFT layers (call apply_svft first)")
    return layers


def merge(model):
    """Add every layer's ``Delta W`` into its base weight (the SVFT layers stay, see :func:`unmerge`)."""
    for layer in _require_layers(model).values():
        layer.merge()
    return model


def unmerge(model):
    """Undo :func:`merge`: subtract ``Delta W`` from every base weight."""
    for layer in _require_layers(model).values():
        layer.unmerge()
    return model


def merge_and_unload(model):
    """Merge the updates and put the plain base layers back: a model with no SVFT layer left."""
    for name, layer in _require_layers(model).items():
        layer.merge()
        _set_module(model, name, layer.base_layer)
    if hasattr(model, "svft_config"):
        del model.svft_config
    return model


def disable_adapters(model):
    """Run the base layers alone (outputs equal the base model's)."""
    for layer in _require_layers(model).values():
        layer.disabled = True
    return model


def enable_adapters(model):
    """Undo :func:`disable_adapters`."""
    for layer in _require_layers(model).values():
        layer.disabled = False
    return model


def trainable_parameters(model) -> int:
    """Number of trainable parameters (shared tensors counted once)."""
    seen, total = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def print_trainable_parameters(model) -> str:
    """Print and return ``trainable params: T || all params: A || trainable%: P`` (as PEFT does).

    SVFT's frozen U and V buffers are not parameters and are not counted in ``A``.
    """
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    n = trainable_parameters(model)
    line = f"trainable params: {n:,d} || all params: {total:,d} || trainable%: {100 * n / max(total, 1):.4f}"
    print(line)
    return line


def save_svft(model, path):
    """Save the adapter only: M, its support, the gates, ``modules_to_save`` and the config.

    Writes ``path/adapter_model.safetensors`` and ``path/adapter_config.json``. U and V are not
    saved: :func:`load_svft` recomputes them from the base weights (fixed sign convention) or,
    for the random-basis control, from the seed.
    """
    from safetensors.torch import save_file

    layers = _require_layers(model)
    config = getattr(model, "svft_config", None)
    if config is None:
        raise ValueError("model has SVFT layers but no svft_config (was it built by apply_svft?)")
    if any(layer.merged for layer in layers.values()):
        raise ValueError("unmerge the model before save_svft (merged weights would be saved twice)")
    tensors = {}
    for name, layer in layers.items():
        tensors[f"{name}.svft_m"] = layer.svft_m.detach().float().cpu().contiguous()
        tensors[f"{name}.svft_rows"] = layer.svft_rows.cpu().contiguous()
        tensors[f"{name}.svft_cols"] = layer.svft_cols.cpu().contiguous()
        if layer.svft_gate is not None:
            tensors[f"{name}.svft_gate"] = layer.svft_gate.detach().float().cpu().reshape(1)
    if config.modules_to_save:
        for name, module in model.named_modules():
            if _matches(name, config.modules_to_save) and not isinstance(module, SVFTLayer):
                for pname, p in module.named_parameters():
                    tensors[f"modules_to_save.{name}.{pname}"] = p.detach().cpu().contiguous()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path / WEIGHTS_NAME))
    meta = {"peft_type": "SVFT", "config": config.to_dict(),
            "layers": {n: {"d_out": l.d_out, "d_in": l.d_in, "k": l.k} for n, l in layers.items()}}
    (path / CONFIG_NAME).write_text(json.dumps(meta, indent=2))
    return path


def load_svft(model, path):
    """Apply SVFT to a fresh copy of the base ``model`` and load the adapter saved at ``path``.

    Raises ``ValueError`` when the saved layers do not match the model's shapes.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
        raise ValueError(f"path {str(path)!r} holds no SVFT adapter ({CONFIG_NAME} + {WEIGHTS_NAME})")
    meta = json.loads((path / CONFIG_NAME).read_text())
    if meta.get("peft_type") != "SVFT":
        raise ValueError(f"{path / CONFIG_NAME} is not an SVFT adapter (peft_type={meta.get('peft_type')!r})")
    tensors = load_file(str(path / WEIGHTS_NAME))
    config = SVFTConfig(**meta["config"])
    supports = {n: (tensors[f"{n}.svft_rows"], tensors[f"{n}.svft_cols"]) for n in meta["layers"]}
    targets = {n for n, _ in model.named_modules() if n and config.matches(n)}
    if targets != set(meta["layers"]):
        raise ValueError(f"the adapter adapts {sorted(meta['layers'])[:3]}..., the model's matches are "
                         f"{sorted(targets)[:3]}... ({len(meta['layers'])} vs {len(targets)} modules)")
    apply_svft(model, config, _supports=supports)
    layers = svft_layers(model)
    with torch.no_grad():
        for name, layer in layers.items():
            shape = meta["layers"][name]
            if (layer.d_out, layer.d_in) != (shape["d_out"], shape["d_in"]):
                raise ValueError(f"module {name} is {layer.d_out} x {layer.d_in}; the adapter was saved for "
                                 f"{shape['d_out']} x {shape['d_in']}")
            layer.svft_m.copy_(tensors[f"{name}.svft_m"])
            if layer.svft_gate is not None:
                layer.svft_gate.copy_(tensors[f"{name}.svft_gate"].reshape(()))
        state = {k[len("modules_to_save."):]: v for k, v in tensors.items() if k.startswith("modules_to_save.")}
        for key, value in state.items():
            model.get_parameter(key).copy_(value)
    return model
