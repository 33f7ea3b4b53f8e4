"""Multi-step conversations (see bot.core.flows for the engine)."""
