"""Built-in backends, one subpackage each (transformers, vllm, openai, dummy) plus `common`: the
batching, encoding, fingerprint, chat-template, reasoning and loading code they share. Installed as
`jlce.backends`."""
