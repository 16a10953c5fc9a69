"""MoE kernels: tensors in, tensors out. Knows nothing of the rest of Tessera."""
