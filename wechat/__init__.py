"""The WeChat Official Account channel: a thin adapter of the conversation core."""
