"""Evaluations of agent providers on fixed inputs (see :mod:`hubbub.agents.eval.llm`)."""
