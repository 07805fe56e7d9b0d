"""The `transformers` backend: Hugging Face AutoModelForCausalLM on CPU, CUDA or ROCm."""
