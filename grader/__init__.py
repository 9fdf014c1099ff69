"""Graded PyTorch autograd exercises and the sandboxed autograder that grades them."""

__version__ = "0.1.0"
