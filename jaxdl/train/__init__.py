"""Training: state, pure steps, parallel strategies, the fit loop, checkpoints."""

from jaxdl.train.parallel import Strategy
from jaxdl.train.state import TrainState, params_sha256
from jaxdl.train.steps import eval_step, predict_step, train_step

__all__ = ["Strategy", "TrainState", "eval_step", "params_sha256", "predict_step",
           "train_step"]
