"""One module per command (``spyglass all-in-one``, ...): each assembles the same parts."""
