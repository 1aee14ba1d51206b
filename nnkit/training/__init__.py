"""Training loop (placeholder until the training engineer lands the real one)."""
