"""MoE kernels: tensors in, tensors out. Knows nothing of the rest of Tessera.

Public API (stable; the model and the engine call these):

- `route(router_logits, top_k, renormalize=True, scaling=1.0, *, num_groups=1, topk_group=1,
  scoring="softmax")` → ``(float32 weights [T, k], int32 ids [T, k])``
- `moe(x, w13, w2, weights, ids, *, w13_scale=None, w2_scale=None, a13_scale=None,
  a2_scale=None)` → ``[T, H]`` with vLLM's layout (w13 ``[E, 2I, H]`` gate then up,
  w2 ``[E, H, I]``)
- `with_shared_expert` / `add_shared_route`: run the shared expert as an always-on extra expert.

Triton is imported only when a Triton path runs (CUDA tensors, or forced on CPU under the
interpreter), never at package import.
"""

from kernels.dispatcher import moe
from kernels.routing import route
from kernels.shared import add_shared_route, with_shared_expert

__all__ = ["add_shared_route", "moe", "route", "with_shared_expert"]
