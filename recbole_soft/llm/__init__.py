"""The LLM side of the plugin: loading, prompts, likelihood of titles, generation, grounding."""
