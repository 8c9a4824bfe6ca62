"""What every check shares: comparing tensors, naming the first mistake, and keeping teachkit's reference out of an answer.

Two guards make a check grade the question it asks and nothing else:

* `refusing(*functions)`: while a student's function runs, teachkit's own implementation of what the
  exercise asks for raises instead of answering, so an answer that merely calls it earns nothing.
  The function objects themselves are changed (their code is swapped), so every alias of them,
  ``from teachkit import ddim_step as f`` included, is refused too.
* `substituted(fn, name=reference)`: a question that builds on an earlier answer (the DDIM loop on
  the DDIM step) is graded with a correct version of that earlier answer in the student's
  namespace, so one mistake costs its own points only.

Neither stops a determined student: grading runs their code, which can undo anything done here.
"""
from __future__ import annotations

import inspect
import types
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

__all__ = ["refusing", "substituted", "reference_copy", "Recorder"]

_MISSING = object()


class Recorder(torch.nn.Module):
    """Wraps a model and records (batch size, timesteps, labels) of every forward call."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.calls = model, []
        for name in ("num_classes", "null_label", "sample_shape"):
            if hasattr(model, name):
                setattr(self, name, getattr(model, name))

    def forward(self, x, t, y=None):
        self.calls.append((x.shape[0], t.detach().cpu().tolist(), None if y is None else y.detach().cpu().tolist()))
        return self.model(x, t, y)


def _num(v) -> str:
    """A tensor or number as a short string: the first element to 4 decimals."""
    v = torch.as_tensor(v).detach().reshape(-1)
    return f"{float(v[0]):.4f}" if v.numel() else "(empty)"


def _same(got, expected, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """True when got is a tensor of expected's shape with close values (dtypes may differ)."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
        return False
    return bool(torch.allclose(got.detach().double(), expected.double(), rtol=rtol, atol=atol))


def _fail(where: str, what: str, got, expected, mistakes: dict[str, torch.Tensor], default: str) -> None:
    """Raise an AssertionError naming the case, the numbers and the first known mistake that explains `got`."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{where}: {what} should be a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise AssertionError(f"{where}: {what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    hint = next((h for h, wrong in mistakes.items() if _same(got, wrong)), default)
    raise AssertionError(f"{where}: expected {what}={_num(expected)}, got {_num(got)}; {hint}")


def _target(fn: Callable) -> types.FunctionType:
    """The plain Python function under decorators such as torch.no_grad (whose code can be swapped)."""
    inner = inspect.unwrap(fn)
    if not isinstance(inner, types.FunctionType) or inner.__code__.co_freevars:
        raise TypeError(f"cannot refuse {fn!r}: only module-level Python functions can be refused")
    return inner


def _refusal_code(fn: types.FunctionType) -> types.CodeType:
    """Code for a function with fn's name that raises an AssertionError telling the student to write it themselves."""
    import teachkit

    public = getattr(teachkit, fn.__name__, None)
    name = f"teachkit.{fn.__name__}" if public is not None and inspect.unwrap(public) is fn else \
        f"{fn.__module__}.{fn.__qualname__}"
    message = (f"your answer called {name}, teachkit's own implementation of what this exercise asks you "
               f"to write; write it yourself (calls to {name} score nothing here)")
    namespace: dict = {}
    exec(compile(f"def {fn.__name__}(*args, **kwargs):\n    raise AssertionError({message!r})\n",
                 f"<refused {name}>", "exec"), namespace)
    return namespace[fn.__name__].__code__


@contextmanager
def refusing(*functions: Callable) -> Iterator[None]:
    """While active, each of `functions` (and every alias of it) raises an AssertionError instead of answering."""
    targets = [_target(f) for f in functions]
    saved = [(t, t.__code__, t.__defaults__, t.__kwdefaults__) for t in targets]
    try:
        for t in targets:
            t.__code__ = _refusal_code(t)
        yield
    finally:
        for t, code, defaults, kwdefaults in reversed(saved):
            t.__code__, t.__defaults__, t.__kwdefaults__ = code, defaults, kwdefaults


def reference_copy(fn: Callable) -> types.FunctionType:
    """A separate function object running fn's code: unaffected when `refusing(fn)` swaps fn's code."""
    inner = _target(fn)
    copy = types.FunctionType(inner.__code__, inner.__globals__, inner.__name__, inner.__defaults__, inner.__closure__)
    copy.__kwdefaults__ = inner.__kwdefaults__
    # a decorated reference (torch.no_grad) keeps its decorator's behaviour
    return copy if fn is inner else torch.no_grad()(copy)


@contextmanager
def substituted(fn: Callable, **names: Callable) -> Iterator[None]:
    """While active, the global names in fn's module (a notebook's namespace) are bound to `names`' values."""
    g = getattr(inspect.unwrap(fn), "__globals__", None)
    if g is None:
        yield
        return
    old = {k: g.get(k, _MISSING) for k in names}
    g.update(names)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is _MISSING:
                g.pop(k, None)
            else:
                g[k] = v


def _call(fn: Callable, name: str, *args, refuse: tuple = (), **kwargs):
    """Call the student's function with teachkit's references refused; a TypeError (wrong signature) gets a hint."""
    if not callable(fn):
        raise AssertionError(f"{name} should be a function, got {type(fn).__name__}: did you run the cell that defines it?")
    try:
        with refusing(*refuse):
            return fn(*args, **kwargs)
    except TypeError as err:
        raise AssertionError(f"calling your {name} raised TypeError: {err}. Check its signature against the "
                             "exercise; alpha_bar values are Python floats (use math.sqrt, not torch.sqrt)") from err
