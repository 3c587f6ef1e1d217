"""nnlife.penguin_compiled: PENGUIN's fit compiled, with the exact port's parameters bit for bit
where its self-check passes, used by default, and chosen or refused by NNLIFE_PENGUIN_FIT."""

import numpy as np
import pytest

from nnlife import curves, penguin_compiled, penguin_fit
from nnlife.curves import penguin_model, quiet
from nnlife.errors import InputError
from nnlife.predict import run_methods
from nnlife.table import read_table

pytestmark = pytest.mark.skipif(
    not (penguin_fit.available() and penguin_compiled.available()),
    reason="the compiled fit is not used here (no numba, another scipy, or its self-check failed)",
)


def exact(x, y):
    with quiet():
        try:
            return penguin_fit.fit(penguin_model, x, y)
        except (ValueError, penguin_fit.FitFailed, np.linalg.LinAlgError):
            return None


def test_every_prefix_of_the_published_tables_gets_the_exact_ports_bits(reference_paths):
    n_failed = 0
    for path in reference_paths:
        acc = np.asarray(read_table(path).curve.valAcc, dtype=float)
        for k in range(2, 41):
            x, y = np.arange(1.0, k + 1.0), acc[:k].copy()
            want = exact(x, y)
            assert penguin_compiled.fit(x, y) == want, (path.name, k)
            n_failed += want is None
    assert n_failed < 3 * 39  # not a comparison of failures only


@pytest.mark.parametrize("seed", range(3))
def test_curves_of_every_shape_get_the_exact_ports_bits_and_failures(seed):
    # flat (stuck at a class share), noisy around chance, saturating, collapsing and
    # diverging prefixes: what random networks give, including fits that fail
    rng = np.random.default_rng(seed)
    x40 = np.arange(1.0, 41.0)
    shapes = [
        np.full(40, 10.0),
        10.0 + rng.normal(0, 0.3, 40),
        10.0 + 70.0 * (1 - np.exp(-x40 / rng.uniform(1, 20))) + rng.normal(0, 0.5, 40),
        np.where(x40 < 8, 10.0 + 5.0 * x40, 10.0) + rng.normal(0, 0.2, 40),
        np.where(x40 < 12, 10.0 + 3.0 * x40, np.nan),
    ]
    outcomes = set()
    for y in shapes:
        for k in (2, 3, 4, 6, 9, 15, 24, 40):
            xs, ys = x40[:k].copy(), y[:k].copy()
            want = exact(xs, ys)
            assert penguin_compiled.fit(xs, ys) == want, (y[:4], k)
            outcomes.add(want is None)
    assert outcomes == {True, False}


def test_fit_penguin_uses_the_compiled_fit_by_default(monkeypatch, reference_paths):
    monkeypatch.delenv(curves.PENGUIN_FIT_VARIABLE, raising=False)
    curves.penguin_backend.cache_clear()
    curves._fit_penguin_bytes.cache_clear()
    try:
        assert curves.penguin_backend() == "compiled"
        calls = []
        real = penguin_compiled.fit
        monkeypatch.setattr(penguin_compiled, "fit", lambda x, y: calls.append(len(x)) or real(x, y))
        acc = np.asarray(read_table(reference_paths[0]).curve.valAcc[:9], dtype=float)
        assert curves.fit_penguin(np.arange(1.0, 10.0), acc) == exact(np.arange(1.0, 10.0), acc)
        assert calls == [9]
    finally:
        curves.penguin_backend.cache_clear()
        curves._fit_penguin_bytes.cache_clear()


@pytest.mark.parametrize("value, backend", [("exact", "exact"), ("scipy", "scipy"), (" Compiled ", "compiled")])
def test_the_variable_chooses_the_computation(monkeypatch, reference_paths, value, backend):
    monkeypatch.setenv(curves.PENGUIN_FIT_VARIABLE, value)
    curves.penguin_backend.cache_clear()
    curves._fit_penguin_bytes.cache_clear()
    try:
        assert curves.penguin_backend() == backend
        # the same decisions on the published tables whichever computes the fits
        out = run_methods([read_table(p) for p in reference_paths], ["penguin"], 20, workers=1)["penguin"]
        assert [(o.converged, o.stop_epoch) for o in out] == [(True, 4.0), (True, 3.0), (True, 8.5)]
    finally:
        curves.penguin_backend.cache_clear()
        curves._fit_penguin_bytes.cache_clear()


def test_a_bad_value_of_the_variable_is_one_line(monkeypatch):
    monkeypatch.setenv(curves.PENGUIN_FIT_VARIABLE, "fast")
    curves.penguin_backend.cache_clear()
    try:
        with pytest.raises(InputError, match=r"^NNLIFE_PENGUIN_FIT='fast': expected one of compiled, exact, scipy$"):
            curves.penguin_backend()
    finally:
        monkeypatch.delenv(curves.PENGUIN_FIT_VARIABLE)
        curves.penguin_backend.cache_clear()


def test_a_failed_self_check_falls_back_to_the_exact_port(monkeypatch):
    monkeypatch.setattr(penguin_compiled, "_VERIFIED", [False])
    monkeypatch.delenv(curves.PENGUIN_FIT_VARIABLE, raising=False)
    curves.penguin_backend.cache_clear()
    try:
        assert curves.penguin_backend() == "exact"
        monkeypatch.setenv(curves.PENGUIN_FIT_VARIABLE, "compiled")
        curves.penguin_backend.cache_clear()
        assert curves.penguin_backend() == "exact"
    finally:
        curves.penguin_backend.cache_clear()


def test_the_self_check_refuses_a_power_that_is_not_numpys(monkeypatch):
    # a compiled power one bit off numpy's for some values must fail the check
    monkeypatch.setattr(penguin_compiled, "_model", lambda xs, a, b, c, out: out.__setitem__(
        slice(None), np.nextafter(penguin_model(xs, a, b, c), np.inf)))
    assert penguin_compiled._verify() is False
