"""Pure flax.linen models: one file per family."""

from jaxdl.models.cnn import ShallowCNN
from jaxdl.models.layers import ExampleDropout
from jaxdl.models.recurrent import TriggerWordModel
from jaxdl.models.resnet import ResidualBlock, ResNetEncoder

__all__ = ["ShallowCNN", "ExampleDropout", "ResidualBlock", "ResNetEncoder",
           "TriggerWordModel"]
