"""Names in, named results out: `pack`/`unpack`, `solve`, `Solution`, `Trajectories` (see README.md)."""
