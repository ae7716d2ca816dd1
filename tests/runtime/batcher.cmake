# The dynamic batcher tests.
