"""The one check of every params name that picks a registry entry, and of the
combinations the registries constrain, before any work.

The schema (core.config) holds these names as plain strings so that it imports no
TensorFlow; the registries are the only lists of what exists. Everything after this
check indexes the registries directly.
"""

from __future__ import annotations

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.core.errors import ParamsError, registry_entry
from mnist_gan.networks.architectures import ARCHITECTURES
from mnist_gan.training.augment import AUGMENTATIONS
from mnist_gan.training.losses import LOSSES
from mnist_gan.training.penalties import PENALTIES
from mnist_gan.training.schedules import SCHEDULES
from mnist_gan.training.updates import UPDATES


def xla_compiles(train: TrainConfig) -> bool:
    """Whether XLA can compile this training step: not with top-k (`train.top_k` < 1),
    whose number of kept fakes changes during the run, and XLA needs fixed shapes."""
    return train.top_k == 1


def check_choices(model: ModelConfig, train: TrainConfig) -> None:
    """ParamsError naming the key, the value and the choices for a name no registry
    holds (architecture, loss, schedule, update mode, penalties, augmentations), and
    for a combination they rule out: a loss without the penalty it needs, d_steps
    above 1 with an update mode that makes one D update, XLA forced on with top-k."""
    registry_entry(ARCHITECTURES, model.arch, "model.arch", "architectures.ARCHITECTURES")
    registry_entry(SCHEDULES, train.lr_schedule, "train.lr_schedule", "schedules.SCHEDULES")
    loss = registry_entry(LOSSES, train.loss, "train.loss", "losses.LOSSES")
    mode = registry_entry(UPDATES, train.updates, "train.updates", "updates.UPDATES")
    for name in train.penalties:
        registry_entry(PENALTIES, name, "a key of train.penalties", "penalties.PENALTIES")
    for name in train.augment:
        registry_entry(AUGMENTATIONS, name, "train.augment", "augment.AUGMENTATIONS")
    if not mode.many_d_steps and train.d_steps != 1:
        raise ParamsError(
            f"train.updates = {train.updates} makes one D update per G update: set "
            f"train.d_steps to 1 (it is {train.d_steps}), or train.updates to alternating"
        )
    if train.jit is True and not xla_compiles(train):
        raise ParamsError(
            f"train.top_k = {train.top_k} keeps a changing number of fakes, which XLA "
            "cannot compile: set -S train.jit=false, or -S train.top_k=1 (off)"
        )
    if loss.requires_penalty and not train.penalties.get(loss.requires_penalty):
        raise ParamsError(
            f"train.loss = {train.loss!r} needs train.penalties.{loss.requires_penalty} "
            "above 0 (10 in Gulrajani et al. 2017): set it with "
            f"-S train.penalties.{loss.requires_penalty}=10"
        )
