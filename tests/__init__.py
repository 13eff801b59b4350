"""The test suite: rules and services directly, everything else through the real Application."""
