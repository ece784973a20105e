"""Local-LLM reasoning for the diagnoser, every answer checked before anything acts on it.

- :mod:`prompt`: the evidence of one incident with ids, the allowed candidates and fixes, the answer schema;
- :mod:`check`: the checks an answer must pass (schema, real candidates, existing evidence ids, allowed fix);
- :mod:`backends`: the `ollama` (official client) and `openai` (any OpenAI-compatible local server) calls;
- :mod:`reasoner`: :class:`~opstwin.agents.llm.reasoner.LlmReasoner`, the diagnoser's back-end that asks,
  checks, and falls back to the rules reasoner, with the accounting written to the incident log.
"""
