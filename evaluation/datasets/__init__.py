"""Generators that turn the shared real-photo data sets into benchmark directories."""
