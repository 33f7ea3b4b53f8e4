"""koxbot."""
