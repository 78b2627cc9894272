"""Tool use for agents: the ToolRL output format, rewards and metrics, and tool environments (calculator,
typed Python functions, BM25 search over a local corpus) that the GRPO rollout calls between turns."""
