"""eval_mode: a model in eval mode while it is measured, its modules' flags restored after.

Several threads may measure one model at once: the first to enter saves the flags and sets
eval mode, the last to leave restores them (a count per model, under a lock), so no thread
puts the model back in training mode while another still measures it.
"""
import threading
import weakref
from contextlib import contextmanager

_lock = threading.Lock()
_entered = weakref.WeakKeyDictionary()  # model -> [threads inside, the saved flags]


@contextmanager
def eval_mode(model):
    with _lock:
        state = _entered.get(model)
        if state is None:
            state = _entered[model] = [0, [(m, m.training) for m in model.modules()]]
            model.eval()
        state[0] += 1
    try:
        yield
    finally:
        with _lock:
            state[0] -= 1
            if state[0] == 0:
                del _entered[model]
                for module, flag in state[1]:
                    module.training = flag
