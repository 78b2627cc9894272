"""lit-agents: Lightning recipes for reasoning, alignment and planning of LLM agents."""
__version__ = "0.1.0"
