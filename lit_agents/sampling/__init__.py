"""Sampling from the policy being trained: decoding under sharded weights, GRPO group rollouts and multi-turn
tool rollouts. (LLM calls to external teachers and judges are ``lit_agents.generation``.)"""
