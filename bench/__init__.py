"""``make bench``: the plain way vs this library, the floor, and scale, measured in one run."""
