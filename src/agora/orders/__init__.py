"""Orders: the FIX-shaped order model, commands, and the account lanes that apply them."""
