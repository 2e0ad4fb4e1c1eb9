"""Pure flax.linen models: one file per family."""

from jaxdl.models.cnn import ShallowCNN
from jaxdl.models.layers import ExampleDropout

__all__ = ["ShallowCNN", "ExampleDropout"]
