"""``agora bench``: benchmark scenarios that print their configuration, figures and a check."""
