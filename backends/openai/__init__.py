"""The `openai` backend: any OpenAI-compatible server (completions and chat completions)."""
