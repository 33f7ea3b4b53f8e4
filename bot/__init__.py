"""koxbot: chat-ops for KOC/KOS creator programmes."""
