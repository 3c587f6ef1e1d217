"""Fitness prediction and early termination.

A *method* predicts a network's validation accuracy at a target epoch from the first rows of
its curve, and says when it is confident enough that training can stop. Every method is an
online rule: it is fed one row at a time (:meth:`Predictor.tracker`), exactly as a training
loop produces them, and it never looks past the target epoch. The same rule serves three
uses, so they always agree:

- :class:`OnlineStopper`: plugged into a training loop, ``observe(...)`` says when to stop;
- :func:`simulate`: replays a recorded curve through an :class:`OnlineStopper`;
- :meth:`Predictor.predict`: the prediction after a given prefix of a curve.

Curves come from tables, Parquet packs or curve files (:mod:`nnlife.curvefile`): any even
spacing of epochs; methods fit on the point index ``x`` = 1, 2, 3, ... (a table's half epochs
give PENGUIN's ``x = 2 * epoch``), and rules stated in epochs (MENNDL's patience, triage's
test) are in the curve's own epoch units.

Methods (:data:`METHODS`, and ``docs/predictors.md``):

- ``penguin``: the authors' rule, docs/prediction.md, exactly.
- ``menndl``: the authors' baseline; stop once the minimum training loss has not improved for
  10 epochs. It predicts nothing: its "prediction" is the last observed accuracy.
- ``pow3``, ``log_power``, ``exp3``, ``ilog2``, ``vapor_pressure``, ``janoschek``, ``mmf``,
  ``weibull``: one curve family of Domhan et al. (2015) each (:mod:`nnlife.curves`), refitted
  after every row; stop by PENGUIN's stability rule on its predictions.
- ``best_fit``: after every row, the family with the lowest held-out error on the prefix
  (fitted on its first half, scored on its second half); stop by the stability rule.
- ``ensemble``: all eight families averaged with weights ``1 / held-out MSE``, with an
  uncertainty (the weighted spread of the families' predictions); stop by the stability rule.
- ``triage``: first a test for networks that are not learning at all (at epoch 1.5, a
  validation loss that sits at its first value, not fallen by 0.03 % of it nor moved by more
  than 1 %, or is not finite: stop there and predict the last accuracy), then ``ensemble``
  for the others (:class:`Triage`).
- ``last``, ``best_so_far``: plain baselines, stopping every network at ``budget`` (default
  0.25) of the target epoch and predicting the last, or the best, accuracy seen.
- ``combined``: ``penguin`` and ``triage`` on the same rows, stopped by whichever is confident
  first, with that one's prediction.
- ``penguin_stop``: stopped where ``penguin`` stops (or at triage's not-learning test), with
  triage's prediction there (:class:`PenguinStop`).
- ``auto``: the method recommended for early stopping (today ``penguin_stop``'s stops with the
  prediction of the model shipped with nnlife; :class:`Auto`).
- ``learned:MODEL``: a model fitted on a corpus by ``nnlife predictor fit``
  (:mod:`nnlife.predict.learned`).
- ``penguin_stop+learned:MODEL``: ``penguin_stop``'s stops, with that model's prediction there
  (:class:`PenguinStopLearned`).
- ``package.module:Class``: a user's :class:`Predictor`.
- ``METHOD@W``: any of these, stopped once its predictive interval is at most ``W`` points
  wide (:class:`WidthStop`).

Every fitting method gives a predictive interval (``level``, default 80 %) with each
prediction: the fit's classical prediction interval (:func:`fit_predictive`), for the
ensemble the mixture of its families' (``evaluate`` measures their coverage).

Every method but ``menndl`` and the baselines stops by the same rule, PENGUIN's: the last
``N`` predictions lie within ``threshold`` points of their median and the newest is in (0, 100]
(:class:`StabilityWindow`); ``triage`` also stops on its not-learning test. So, at equal ``N``
and ``threshold``, methods differ only in how good and how steady their predictions are;
``threshold`` trades epochs saved for accuracy.

The *target epoch* is also the budget: a method that has not stopped by then lets training
reach the target, and its prediction is the accuracy observed there (PENGUIN's fallback).
"Fraction of epochs saved" is ``(target - stop epoch) / target``: 0 for a network that was not
stopped, 0.75 for one stopped at epoch 5 of a target of 20. MENNDL's published cap ("at 20
epochs at the latest") is that budget with the default target of 20.
"""

from .core import (
    DEFAULT_LEVEL,
    DEFAULT_N,
    DEFAULT_TARGET_EPOCH,
    DEFAULT_THRESHOLD,
    Prediction,
    Predictor,
    StabilityWindow,
    Tracker,
    check_level,
    check_target,
    check_target_epoch,
    fit_predictive,
    mixture_interval,
)
from .evaluation import (
    OUTCOME_COLUMNS,
    SCORE_HEADER,
    MethodScore,
    OnlineStopper,
    Outcome,
    curve_arrays,
    evaluate,
    format_outcomes,
    format_scores,
    labeled,
    load_curves,
    outcome_row,
    predict_curves,
    predict_tables,
    run_methods,
    score,
    simulate,
    spearman,
    top_fraction,
    warm_up,
    write_csv,
)
from .methods import (
    DEFAULT_BUDGET,
    MIN_FAMILY_POINTS,
    PENGUIN_A_RESET,
    TRIAGE_EPOCH,
    TRIAGE_MIN_DROP,
    TRIAGE_MAX_MOVE,
    BestFit,
    BestSoFar,
    Ensemble,
    FamilyMethod,
    Last,
    Menndl,
    Penguin,
    Triage,
    _fit_shared,
)
from .combined import Combined, PenguinStop, PenguinStopLearned
from .registry import METHODS, Auto, WidthStop, load_plugin, make_predictor

__all__ = [name for name in dir() if not name.startswith("__")]
