"""Simulation: a synthetic store fleet with labelled incidents and traps, and its scorer."""
