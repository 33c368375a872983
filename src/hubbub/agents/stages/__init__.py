"""The stages of a voice agent's pipeline, each in one home, in the order frames pass them::

    listening: VadStage -> SttStage -> TurnStage
    speaking:  LlmStage -> ChunkerStage -> TtsStage -> OutputStage

The stages drive the sans-I/O decisions (:mod:`hubbub.agents.turn`, :mod:`hubbub.agents.interruption`,
:mod:`hubbub.agents.chunker`) and run on :mod:`hubbub.agents.pipeline`; :mod:`hubbub.agents.session`
wires them from an agent's config.
"""
