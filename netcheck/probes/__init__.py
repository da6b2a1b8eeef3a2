"""One module per phase, all with the same shape (see :mod:`.base`)."""
