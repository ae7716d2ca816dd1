# The dynamic batcher library (owned by the batcher work).
