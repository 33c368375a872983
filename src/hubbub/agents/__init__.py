"""Conversational voice agents: participants that listen (VAD, STT), think (LLM) and speak (TTS)."""
