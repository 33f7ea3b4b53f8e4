"""Command handlers, one module per area; each registers itself with the command registry."""
