"""Code the built-in backends share: batching, encoding, fingerprints, chat templates, reasoning
split, model loading and aliases, LoRA adapters, rolling windows, engine versions."""
