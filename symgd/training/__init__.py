"""Stage 5, train: composable optimisers and schedules, the runner, callbacks, diagnostics."""

from symgd.training.callbacks import (
    Callback as Callback,
    EarlyStopping as EarlyStopping,
    EpochInfo as EpochInfo,
)
from symgd.training.checkpoints import checkpoint_files as checkpoint_files
from symgd.training.config import TrainConfig as TrainConfig
from symgd.training.dask_engine import partition_order as partition_order
from symgd.training.diagnostics import (
    GROWTH_LIMIT as GROWTH_LIMIT,
    RATE_KINDS as RATE_KINDS,
    classify_run as classify_run,
    classify_runs as classify_runs,
    largest_curvature as largest_curvature,
    loss_diverges as loss_diverges,
    loss_oscillates as loss_oscillates,
)
from symgd.training.jax_engine import (
    jax_optimizer as jax_optimizer,
    train_network_jax as train_network_jax,
)
from symgd.training.newton import Newton as Newton, newton as newton
from symgd.training.optimizers import (
    OPTIMIZERS as OPTIMIZERS,
    adagrad as adagrad,
    adam as adam,
    adamw as adamw,
    make_optimizer as make_optimizer,
    momentum as momentum,
    nesterov as nesterov,
    rmsprop as rmsprop,
    sgd as sgd,
)
from symgd.training.prediction import TensorTrainResult as TensorTrainResult
from symgd.training.rules import (
    UPDATE_RULES as UPDATE_RULES,
    UpdateRule as UpdateRule,
    compose as compose,
)
from symgd.training.runner import (
    gradient_descent as gradient_descent,
    train as train,
    train_network as train_network,
)
from symgd.training.schedules import (
    SCHEDULES as SCHEDULES,
    Schedule as Schedule,
    constant as constant,
    cosine_decay as cosine_decay,
    exponential_decay as exponential_decay,
    linear_warmup as linear_warmup,
    step_decay as step_decay,
)
from symgd.training.state import TrainResult as TrainResult
from symgd.training.tensor import (
    flat_parameters as flat_parameters,
    tensor_start as tensor_start,
    train_tensor as train_tensor,
)
from symgd.training.transforms import (
    ChainState as ChainState,
    GradientTransformation as GradientTransformation,
    RuleState as RuleState,
    add_decayed_weights as add_decayed_weights,
    apply_updates as apply_updates,
    chain as chain,
    clip_by_global_norm as clip_by_global_norm,
    clip_by_value as clip_by_value,
    current_learning_rate as current_learning_rate,
    global_norm as global_norm,
    scale_by_adam as scale_by_adam,
    scale_by_learning_rate as scale_by_learning_rate,
    update_rule_latex as update_rule_latex,
    update_rule_lines as update_rule_lines,
)

__all__ = [
    "jax_optimizer",
    "train_network_jax",
    "Callback",
    "EarlyStopping",
    "EpochInfo",
    "checkpoint_files",
    "TrainConfig",
    "partition_order",
    "GROWTH_LIMIT",
    "RATE_KINDS",
    "classify_run",
    "classify_runs",
    "largest_curvature",
    "loss_diverges",
    "loss_oscillates",
    "Newton",
    "newton",
    "OPTIMIZERS",
    "adagrad",
    "adam",
    "adamw",
    "make_optimizer",
    "momentum",
    "nesterov",
    "rmsprop",
    "sgd",
    "UPDATE_RULES",
    "UpdateRule",
    "compose",
    "gradient_descent",
    "train",
    "train_network",
    "SCHEDULES",
    "Schedule",
    "constant",
    "cosine_decay",
    "exponential_decay",
    "linear_warmup",
    "step_decay",
    "TrainResult",
    "TensorTrainResult",
    "train_tensor",
    "tensor_start",
    "flat_parameters",
    "ChainState",
    "GradientTransformation",
    "RuleState",
    "add_decayed_weights",
    "apply_updates",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "current_learning_rate",
    "global_norm",
    "scale_by_adam",
    "scale_by_learning_rate",
    "update_rule_latex",
    "update_rule_lines",
]
