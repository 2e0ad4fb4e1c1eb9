"""jaxdl: a functional JAX codebase for the case studies of an introductory deep-learning course."""

__version__ = "0.1.0"
