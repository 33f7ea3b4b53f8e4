"""Persistence: tortoise models, database set-up and aerich migrations."""
