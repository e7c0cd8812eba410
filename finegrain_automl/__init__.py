"""finegrain-automl: neural architecture and hyperparameter search for
fine-grained prediction tasks, ranked by k-fold cross-validated F1.

The names a plugin needs are re-exported here; plugins import nothing private.
Heavy libraries (torch, Ray, Optuna) are imported only where they are used.
"""

from finegrain_automl.config import config_number, require_config
from finegrain_automl.data import Dataset, DataSource, check_unique_columns, column_list, plain_value
from finegrain_automl.errors import DataError, DataNote, FgAutomlError, PluginError, UsageError
from finegrain_automl.hookspecs import API_VERSION, hookimpl
from finegrain_automl.options import DataOption
from finegrain_automl.space import Space, SpaceError, load_points, load_space
from finegrain_automl.task import FitContext, FittedModel, ModelFamily, Task, saved_family

__version__ = "1.0.0"

__all__ = [
    "API_VERSION",
    "DataError",
    "DataNote",
    "DataOption",
    "DataSource",
    "Dataset",
    "FgAutomlError",
    "FitContext",
    "FittedModel",
    "ModelFamily",
    "PluginError",
    "Space",
    "SpaceError",
    "Task",
    "UsageError",
    "check_unique_columns",
    "column_list",
    "config_number",
    "hookimpl",
    "load_points",
    "load_space",
    "plain_value",
    "require_config",
    "saved_family",
]
