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

from frugalml._core.results import replace_atomic
from frugalml._core.validation import check_path
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
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
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
        if not weight_view(module).is_meta and not bool(torch.isfinite(weight_view(module)).all()):
            raise ValueError(f"target module {name} has NaN or infinite weights; its SVD (SVFT's basis) is undefined")
    # build every layer first, then swap them in and freeze: a failure leaves the model untouched
    layers = []
    for i, (name, module) in enumerate(targets):
        # one generator per layer, drawn in a fixed order (basis, support, M), so a layer's random
        # basis is the same whether its support is drawn or loaded
        generator = torch.Generator().manual_seed(int(config.seed) * 1_000_003 + i)
        override = None if _supports is None else _supports[name]
        layers.append((name, _make_layer(name, module, config, generator, override)))
    for p in model.parameters():
        p.requires_grad_(False)
    for name, layer in layers:
        _set_module(model, name, layer)
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
    """Add every layer's ``Delta W`` into its base weight (the SVFT layers stay, see :func:`unmerge`).

    Refused while the adapters are disabled (the "disabled" model would carry the update).
    """
    layers = _require_layers(model)
    disabled = [name for name, layer in layers.items() if layer.disabled]
    if disabled:
        raise ValueError(f"the adapters are disabled ({disabled[0]}{' ...' if len(disabled) > 1 else ''}): "
                         "call enable_adapters(model) before merge")
    for layer in layers.values():
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
    """Run the base layers alone (outputs equal the base model's).

    A merged model is unmerged first (as PEFT does): its base weights carry the update.
    """
    for layer in _require_layers(model).values():
        layer.unmerge()
        layer.disabled = True
    return model


def enable_adapters(model):
    """Undo :func:`disable_adapters` (the update is applied again, unmerged)."""
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
    from safetensors.torch import save

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
    path = check_path(path, "path", must_exist=False, kind="dir")
    path.mkdir(parents=True, exist_ok=True)
    meta = {"peft_type": "SVFT", "config": config.to_dict(),
            "layers": {n: {"d_out": l.d_out, "d_in": l.d_in, "k": l.k} for n, l in layers.items()}}
    # both files through unique temporary names: a crash or a concurrent save never leaves half a file
    replace_atomic(path / WEIGHTS_NAME, lambda fh: fh.write(save(tensors)), mode="wb")
    replace_atomic(path / CONFIG_NAME, lambda fh: fh.write(json.dumps(meta, indent=2)))
    return path


def _read_adapter(path: Path):
    """``(meta, config, tensors)`` of an adapter folder; any damage is a ValueError naming the file."""
    from safetensors.torch import load_file

    cfg_file, weights_file = path / CONFIG_NAME, path / WEIGHTS_NAME
    try:
        meta = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{cfg_file}: not a readable SVFT adapter config ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("peft_type") != "SVFT":
        got = meta.get("peft_type") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{cfg_file} is not an SVFT adapter (peft_type={got!r})")
    layers_meta = meta.get("layers")
    if not isinstance(meta.get("config"), dict) or not isinstance(layers_meta, dict) or not layers_meta:
        raise ValueError(f"{cfg_file}: 'config' and 'layers' must be non-empty objects")
    for name, shape in layers_meta.items():
        if not isinstance(shape, dict) or not all(isinstance(shape.get(key), int) and not isinstance(shape.get(key), bool)
                                                  and shape[key] >= 1 for key in ("d_out", "d_in", "k")):
            raise ValueError(f"{cfg_file}: layers[{name!r}] must give positive integers d_out, d_in and k")
    try:
        config = SVFTConfig(**meta["config"])
        config.validate()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{cfg_file}: invalid SVFT config ({exc})") from None
    try:
        tensors = load_file(str(weights_file))
    except Exception as exc:  # safetensors raises its own SafetensorError, not an OSError/ValueError
        raise ValueError(f"{weights_file}: not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    for name, shape in layers_meta.items():
        for key in ("svft_m", "svft_rows", "svft_cols"):
            t = tensors.get(f"{name}.{key}")
            if t is None or t.ndim != 1 or t.numel() != shape["k"]:
                raise ValueError(f"{weights_file}: {name}.{key} is missing or not a vector of k={shape['k']} entries")
        r = min(shape["d_out"], shape["d_in"])
        for key in ("svft_rows", "svft_cols"):
            t = tensors[f"{name}.{key}"]
            if t.dtype not in (torch.int64, torch.int32) or (t.numel() and (int(t.min()) < 0 or int(t.max()) >= r)):
                raise ValueError(f"{weights_file}: {name}.{key} must hold integer indices in [0, {r})")
        if not bool(torch.isfinite(tensors[f"{name}.svft_m"]).all()):
            raise ValueError(f"{weights_file}: {name}.svft_m holds NaN or infinite values")
        gate = tensors.get(f"{name}.svft_gate")
        if (config.init == "kaiming_gated") != (gate is not None):
            raise ValueError(f"{weights_file}: {name}.svft_gate is {'missing' if gate is None else 'unexpected'} "
                             f"for init={config.init!r}")
    return meta, config, tensors


def load_svft(model, path):
    """Apply SVFT to a fresh copy of the base ``model`` and load the adapter saved at ``path``.

    Raises ``ValueError`` when the saved layers do not match the model's shapes.
    """
    path = check_path(path, "path", kind="dir")
    if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
        raise ValueError(f"path {str(path)!r} holds no SVFT adapter ({CONFIG_NAME} + {WEIGHTS_NAME})")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    meta, config, tensors = _read_adapter(path)
    # every check before the model is touched: a mismatch leaves it exactly as it was
    if svft_layers(model):
        raise ValueError("model already has SVFT layers; load_svft needs the plain base model")
    modules = dict(model.named_modules())
    targets = {n for n in modules if n and config.matches(n)}
    if targets != set(meta["layers"]):
        raise ValueError(f"the adapter adapts {sorted(meta['layers'])[:3]}..., the model's matches are "
                         f"{sorted(targets)[:3]}... ({len(meta['layers'])} vs {len(targets)} modules)")
    for name in sorted(targets):
        module, shape = modules[name], meta["layers"][name]
        if not (isinstance(module, nn.Linear) or is_conv1d(module)):
            raise ValueError(f"module {name} is a {type(module).__name__}; the adapter was saved for a linear layer")
        d_out, d_in = weight_view(module).shape
        if (d_out, d_in) != (shape["d_out"], shape["d_in"]):
            raise ValueError(f"module {name} is {d_out} x {d_in}; the adapter at {str(path)!r} was saved for "
                             f"{shape['d_out']} x {shape['d_in']}")
    state = {k[len("modules_to_save."):]: v for k, v in tensors.items() if k.startswith("modules_to_save.")}
    for key, value in state.items():
        try:
            param = model.get_parameter(key)
        except AttributeError:
            raise ValueError(f"{path / WEIGHTS_NAME}: modules_to_save entry {key!r} is not a parameter of the model") from None
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"{path / WEIGHTS_NAME}: modules_to_save entry {key!r} has shape {tuple(value.shape)}; "
                             f"the model's is {tuple(param.shape)}")
    supports = {n: (tensors[f"{n}.svft_rows"], tensors[f"{n}.svft_cols"]) for n in meta["layers"]}
    grads = {id(p): p.requires_grad for p in model.parameters()}
    saved = {key: model.get_parameter(key).detach().clone() for key in state}
    try:
        apply_svft(model, config, _supports=supports)
        with torch.no_grad():
            for name, layer in svft_layers(model).items():
                layer.svft_m.copy_(tensors[f"{name}.svft_m"])
                if layer.svft_gate is not None:
                    layer.svft_gate.copy_(tensors[f"{name}.svft_gate"].reshape(()))
            for key, value in state.items():
                model.get_parameter(key).copy_(value)
    except BaseException:  # put the model back as it was (an unforeseen failure, or an interrupt)
        for name, layer in svft_layers(model).items():
            _set_module(model, name, layer.base_layer)
        for p in model.parameters():
            if id(p) in grads:
                p.requires_grad_(grads[id(p)])
        with torch.no_grad():
            for key, value in saved.items():
                model.get_parameter(key).copy_(value)
        if hasattr(model, "svft_config"):
            del model.svft_config
        raise
    return model
