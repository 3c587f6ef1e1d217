"""Methods by name: the built-in ones (:data:`METHODS`), ``auto``, ``learned:MODEL``,
``penguin_stop+learned:MODEL``, a user's ``package.module:Class``, and the interval stopping
rule ``METHOD@W``."""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from pathlib import Path
from typing import Callable

from ..curves import FAMILIES
from ..errors import InputError
from .core import (
    DEFAULT_LEVEL,
    DEFAULT_N,
    DEFAULT_TARGET_EPOCH,
    DEFAULT_THRESHOLD,
    Prediction,
    Predictor,
    Tracker,
    check_level,
)
from .combined import Combined, PenguinStop, PenguinStopLearned
from .learned import LearnedPredictor, read_model
from .methods import DEFAULT_BUDGET, BestFit, BestSoFar, Ensemble, FamilyMethod, Last, Menndl, Penguin, Triage


AUTO_MODEL = Path(__file__).with_name("auto-model.json")


@functools.lru_cache(maxsize=1)
def auto_model() -> LearnedPredictor:
    """``auto``'s model (``auto-model.json`` beside this module), read and verified once per
    process; its boosters are built on first use, once."""
    return LearnedPredictor(read_model(AUTO_MODEL), "auto-model")


class Auto(PenguinStopLearned):
    """The method recommended for early stopping, by the name ``auto``: today
    ``penguin_stop+learned`` with the model shipped with nnlife (``auto-model.json``): it stops
    exactly where ``penguin_stop`` does (PENGUIN's rule, or triage's not-learning test), so it
    never trains longer than ``penguin``, and predicts there with the model's median and 80 %
    interval (triage's prediction where the prefix has no finite accuracy). Chosen in
    ``benchmarks/README.md`` ("Curves from outside nnlife's taxonomy, and `auto` learned"), by
    a model fitted without each source scored on that source; the model is remade by
    ``benchmarks/fit_auto_model.py``. What ``auto`` is may change when the evidence does; its
    rule is then stated here and in the README."""

    def __init__(self, N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD):
        super().__init__(auto_model(), N, threshold, name="auto")


def _family_factory(name: str) -> Callable[..., Predictor]:
    def make(N: int = DEFAULT_N, threshold: float = DEFAULT_THRESHOLD, level: float = DEFAULT_LEVEL) -> Predictor:
        return FamilyMethod(name, N, threshold, level)

    make.__name__ = name
    return make


METHODS: dict[str, Callable[..., Predictor]] = {
    "penguin": Penguin,
    "menndl": Menndl,
    **{name: _family_factory(name) for name in FAMILIES},
    "best_fit": BestFit,
    "ensemble": Ensemble,
    "triage": Triage,
    "combined": Combined,
    "penguin_stop": PenguinStop,
    "last": Last,
    "best_so_far": BestSoFar,
    "auto": Auto,
}

LEARNED_PREFIX = "learned:"
STOP_LEARNED_PREFIX = "penguin_stop+learned:"


class WidthStop(Predictor):
    """``METHOD@W``: the method's predictions, stopped once its predictive interval is at most
    ``W`` points wide (and the prediction is in (0, 100]) instead of by its own rule. A
    confident prediction without an interval (``triage``'s not-learning stop, a baseline's
    budget) still stops."""

    def __init__(self, base: Predictor, width: float):
        if not (math.isfinite(width) and width >= 0):
            raise InputError(f"interval width {width!r}: expected a non-negative number of percentage points")
        self.base = base
        self.width = float(width)
        self.name = f"{base.name}@{width:g}"

    def tracker(self, target_epoch: float = DEFAULT_TARGET_EPOCH) -> Tracker:
        return _WidthTracker(target_epoch, self.base.tracker(target_epoch), self.width)


class _WidthTracker(Tracker):
    def __init__(self, target_epoch: float, inner: Tracker, width: float):
        super().__init__(target_epoch)
        self.inner = inner
        self.max_width = width

    def fit_requests(self, val_acc: float) -> list[tuple]:
        return self.inner.fit_requests(val_acc)

    def step(self, train_loss, val_loss) -> Prediction:
        self.inner.spec = self.spec
        p = self.inner.observe(self.epochs[-1], self.acc[-1], train_loss, val_loss)
        if p.width is None:
            return p
        stop = p.width <= self.max_width and 0 < p.value <= 100
        return Prediction(p.value, p.uncertainty, stop, p.lower, p.upper)


def _accepted(factory: Callable[..., object], params: dict[str, object]) -> dict[str, object]:
    """The keyword parameters among ``params`` that ``factory`` takes."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return params
    return {k: v for k, v in params.items() if k in signature.parameters}


def load_plugin(spec: str) -> type[Predictor]:
    """The class named by ``package.module:Class``; :class:`InputError` (one line) when the
    module cannot be imported, has no such attribute, or it is not a :class:`Predictor`
    subclass with :meth:`Predictor.tracker` implemented."""
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise InputError(f"method {spec!r}: cannot import module {module_name!r} ({err})") from None
    except Exception as err:  # the user's module raised while being imported
        raise InputError(f"method {spec!r}: importing module {module_name!r} raised {type(err).__name__}: {err}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise InputError(f"method {spec!r}: module {module_name!r} has no attribute {class_name!r}")
    if not (inspect.isclass(cls) and issubclass(cls, Predictor)):
        raise InputError(f"method {spec!r}: {class_name} is not a subclass of nnlife.predict.Predictor")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise InputError(f"method {spec!r}: {class_name} does not implement {missing} (the Predictor interface)")
    return cls


def is_plugin_name(method: str) -> bool:
    """``package.module:Class`` (not ``learned:MODEL``)."""
    head, sep, tail = method.partition(":")
    return bool(sep) and head != LEARNED_PREFIX[:-1] and bool(tail) and all(part.isidentifier() for part in head.split("."))


def make_predictor(
    method: str | Predictor,
    *,
    N: int = DEFAULT_N,
    threshold: float = DEFAULT_THRESHOLD,
    level: float = DEFAULT_LEVEL,
    budget: float = DEFAULT_BUDGET,
) -> Predictor:
    """The predictor of a method name (or the predictor itself): a name of :data:`METHODS`,
    ``learned:MODEL`` (a model file of ``nnlife predictor fit``), ``penguin_stop+learned:MODEL``
    (:class:`~nnlife.predict.combined.PenguinStopLearned`), ``package.module:Class`` (a
    user's :class:`Predictor`, made with those of ``N``, ``threshold``, ``level``, ``budget``
    its constructor takes), any of these followed by ``@W`` (:class:`WidthStop`). A bad name:
    :class:`InputError`."""
    if isinstance(method, Predictor):
        return method
    if not isinstance(method, str):
        raise InputError(f"unknown method {method!r}: expected one of {', '.join(METHODS)}")
    check_level(level)
    params = {"N": N, "threshold": threshold, "level": level, "budget": budget}
    base, at, width = method.rpartition("@")
    if at and base:
        try:
            w = float(width)
        except ValueError:
            w = None
            if not method.startswith((LEARNED_PREFIX, STOP_LEARNED_PREFIX)):  # a model's path may hold an "@"
                raise InputError(f"method {method!r}: expected METHOD@W with W a number of percentage points") from None
        if w is not None:
            return WidthStop(make_predictor(base, **params), w)  # type: ignore[arg-type]
    if method.startswith(LEARNED_PREFIX):
        return LearnedPredictor.load(method[len(LEARNED_PREFIX):], N=N, threshold=threshold)
    if method.startswith(STOP_LEARNED_PREFIX):
        model = LearnedPredictor.load(method[len(STOP_LEARNED_PREFIX):], N=N, threshold=threshold)
        return PenguinStopLearned(model, N, threshold)
    if is_plugin_name(method):
        cls = load_plugin(method)
        try:
            return cls(**_accepted(cls, params))
        except InputError:
            raise
        except Exception as err:
            raise InputError(f"method {method!r}: making {cls.__name__} raised {type(err).__name__}: {err}") from None
    try:
        factory = METHODS[method]
    except KeyError:
        raise InputError(
            f"unknown method {method!r}: expected one of {', '.join(METHODS)}, learned:MODEL, "
            f"penguin_stop+learned:MODEL or package.module:Class"
        ) from None
    return factory(**_accepted(factory, params))
