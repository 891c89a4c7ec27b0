"""The edges people use: the `qa` command (`cli`), the web chat (`web`), and exports."""
