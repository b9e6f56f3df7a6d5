"""Records for the first slice of primitives: a few elementwise ops, shapes, dot."""

import numpy as np

import fxgrad.numpy as fnp
from tests.op_records import OpRecord, rand_distinct, rand_positive

RECORDS = [
    OpRecord("sin", fnp.sin, [(3, 4)], np.sin),
    OpRecord("log", fnp.log, [(5,)], np.log, rand=rand_positive),
    OpRecord("add_broadcast", fnp.add, [(3, 1), (1, 4)], np.add),
    OpRecord("matmul", fnp.matmul, [(3, 4), (4, 2)], np.matmul),
    OpRecord("sum_axis1", lambda x: fnp.sum(x, axis=1), [(3, 4)], lambda x: np.sum(x, axis=1)),
    OpRecord(
        "max_axis0",
        lambda x: fnp.max(x, axis=0),
        [(3, 4)],
        lambda x: np.max(x, axis=0),
        rand=rand_distinct,
    ),
    OpRecord("transpose", fnp.transpose, [(2, 3, 4)], np.transpose),
]
