"""Run by test_plugin_fp8 in its own process: greedy tokens from vLLM on an FP8 checkpoint.

    python fp8_vllm_run.py CHECKPOINT IGNORED_JSON|none PROMPT_IDS MAX_TOKENS

The FP8 linear layers listed in IGNORED_JSON are marked as not quantised (their weights are
stored dequantised); an empty list leaves every linear layer FP8 (our CPU FP8 linear method).
``TESSERA_TEST_DTYPE`` sets the activation dtype (default float32). The last line printed is
JSON: tokens, logprobs, the quantization method, and the engine's resident parameter bytes
(all, and those stored as FP8).
"""

from __future__ import annotations

import json
import os
import sys


def parameter_bytes(model) -> dict[str, int]:
    import torch

    total = fp8 = 0
    for parameter in model.parameters():
        size = parameter.numel() * parameter.element_size()
        total += size
        fp8 += size if parameter.dtype == torch.float8_e4m3fn else 0
    return {"weight_bytes": total, "fp8_weight_bytes": fp8}


def main() -> None:
    checkpoint, ignored_file, prompt, max_tokens = sys.argv[1:5]
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_MLA_DISABLE", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams

    overrides = {}
    if ignored_file != "none":  # "none": an unquantised checkpoint
        with open(ignored_file) as handle:
            ignored = json.load(handle)
        overrides["quantization_config"] = {"quant_method": "fp8", "activation_scheme": "static",
                                            "ignored_layers": ignored}
    llm = LLM(model=checkpoint, config_format="mistral", load_format="mistral",
              tokenizer_mode="mistral", dtype=os.environ.get("TESSERA_TEST_DTYPE", "float32"),
              enforce_eager=True, max_model_len=256,
              seed=0, hf_overrides=overrides)
    params = SamplingParams(temperature=0.0, max_tokens=int(max_tokens), logprobs=1,
                            ignore_eos=True)
    ids = [int(i) for i in prompt.split(",")]
    completion = llm.generate([{"prompt_token_ids": ids}], params, use_tqdm=False)[0].outputs[0]
    tokens = list(completion.token_ids)
    logprobs = [float(step[t].logprob) for t, step in zip(tokens, completion.logprobs,
                                                          strict=True)]
    memory = llm.apply_model(parameter_bytes)[0]
    print(json.dumps({"token_ids": tokens, "logprobs": logprobs,
                      "quantization": llm.llm_engine.vllm_config.model_config.quantization,
                      **memory}))


if __name__ == "__main__":
    main()
