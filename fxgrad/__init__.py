"""fxgrad: composable function transformations (grad, jvp, vjp, vmap, jit) over arrays.

>>> import fxgrad, fxgrad.numpy as fnp
>>> fxgrad.grad(lambda x: fnp.sum(x ** 2))(fnp.arange(3.0))
Array([0., 2., 4.], dtype=float64)
"""

from fxgrad import ad_checkpoint, debug, lax, numpy, random, scipy, tree, tree_util
from fxgrad import config as _config_module
from fxgrad._extras import ensure_compile_time_eval, named_call, typeof
from fxgrad.ad_checkpoint import checkpoint, checkpoint_policies, remat
from fxgrad.api import (
    ShapeDtypeStruct,
    block_until_ready,
    default_backend,
    device_count,
    device_get,
    device_put,
    devices,
    disable_jit,
    eval_shape,
    grad,
    hessian,
    jacfwd,
    jacobian,
    jacrev,
    jit,
    jvp,
    linear_transpose,
    linearize,
    local_device_count,
    local_devices,
    make_jaxpr,
    value_and_grad,
    vjp,
    vmap,
)
from fxgrad.array import Array
from fxgrad.config import config
from fxgrad.custom_derivatives import closure_convert, custom_jvp, custom_vjp
from fxgrad.debug import pure_callback
from fxgrad.lax import stop_gradient
from fxgrad.staging import clear_caches

__version__ = "0.1.0"

__all__ = [
    "Array",
    "ShapeDtypeStruct",
    "ad_checkpoint",
    "checkpoint",
    "checkpoint_policies",
    "closure_convert",
    "config",
    "custom_jvp",
    "custom_vjp",
    "debug",
    "block_until_ready",
    "clear_caches",
    "ensure_compile_time_eval",
    "named_call",
    "typeof",
    "default_backend",
    "device_count",
    "device_get",
    "device_put",
    "devices",
    "local_device_count",
    "local_devices",
    "disable_jit",
    "eval_shape",
    "grad",
    "hessian",
    "jacfwd",
    "jacobian",
    "jacrev",
    "jit",
    "jvp",
    "lax",
    "linear_transpose",
    "linearize",
    "make_jaxpr",
    "numpy",
    "pure_callback",
    "random",
    "remat",
    "scipy",
    "stop_gradient",
    "tree",
    "tree_util",
    "value_and_grad",
    "vjp",
    "vmap",
]

del _config_module

from fxgrad import _preload  # noqa: E402 - after the package is complete

_preload.start()  # LLVM loads on a daemon thread while the program prepares its data
