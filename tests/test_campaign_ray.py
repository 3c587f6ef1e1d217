"""The Ray backend (a local Ray instance with 2 CPUs) against the local pool, on the same plan."""

from __future__ import annotations

import pytest

from nnlife import campaign as C
from nnlife.record import read_record
from nnlife.table import read_table

ray = pytest.importorskip("ray")  # an optional extra: pip install 'nnlife[ray]'

# FashionMNIST (real), 6 cheap networks with conv layers 1..6; biggest batch size 174.
OPTIONS = C.CampaignOptions(datasets=("FashionMNIST",), per_dataset=6, seed=53681, epochs=1,
                            train_images=350, test_images=200, deterministic=True)


def test_ray_gives_the_same_tables_as_the_local_pool(tmp_path):
    common = dict(workers=2, threads=1, data_root=str(tmp_path / "root"), download=False, progress=False)
    local = C.run_campaign(tmp_path / "local", OPTIONS, C.ExecutionOptions(**common))
    on_ray = C.run_campaign(tmp_path / "ray", OPTIONS, C.ExecutionOptions(ray="", **common))
    assert (local.trained, on_ray.trained, on_ray.failures) == (6, 6, ())
    assert local.backend.startswith("local pool") and on_ray.backend == "Ray (local instance, 2 CPUs), 2 at a time, 1 CPU each"
    assert not ray.is_initialized()  # the instance it started is shut down

    manifests = {name: C.read_manifest(tmp_path / name) for name in ("local", "ray")}
    assert [(n.random_seed, n.conv_layers) for n in manifests["local"].networks] == \
           [(n.random_seed, n.conv_layers) for n in manifests["ray"].networks]
    for a, b in zip(manifests["local"].networks, manifests["ray"].networks):
        ta, tb = read_table(C.table_file(tmp_path / "local", a)), read_table(C.table_file(tmp_path / "ray", b))
        # the same network (all 24 fields but the ID) ...
        assert tb.spec == ta.spec.with_run(ID=b.ID, train_GPU=False, torch_set_deterministic=True)
        # ... trained to the same curve (deterministic algorithms, one thread each)
        assert tb.curve == ta.curve and len(tb.curve) == 2
        record = read_record(C.record_file(tmp_path / "ray", b))
        assert (record.status, record.extra["attempt"], record.extra["starts"]) == ("complete", 1, 1)
        events = [e["event"] for e in C.read_journal(tmp_path / "ray") if e.get("ID") == b.ID]
        assert events == ["start", "done"]


def test_the_portable_kernels_reach_ray_workers_that_did_not_inherit_them(tmp_path, monkeypatch):
    # Ray started before the setting: its workers cannot inherit it, as on a joined cluster.
    import json

    from test_golden import has_avx2

    from nnlife import kernels

    if not has_avx2():
        pytest.skip("AVX2 kernels need an x86-64 CPU with AVX2")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for name in kernels.PORTABLE:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("NNLIFE_CPU_KERNELS", "avx2")
        options = C.CampaignOptions(datasets=("FashionMNIST",), per_dataset=2, seed=53681, epochs=1,
                                    train_images=350, test_images=200, deterministic=True)
        summary = C.run_campaign(tmp_path, options, C.ExecutionOptions(ray="", workers=2, threads=1, download=False,
                                                                       progress=False))
        assert (summary.trained, summary.failures) == (2, ())
        names = {json.loads(p.read_text())["device_name"] for p in (tmp_path / "FashionMNIST_records").iterdir()}
        assert len(names) == 1 and names.pop().endswith("(AVX2 kernels)")
    finally:
        ray.shutdown()
