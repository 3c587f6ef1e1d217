"""Campaigns against a hostile or unlucky user: nothing lost, nothing written where it should not be.

Every case runs the command a user runs (``python -m nnlife campaign ...`` in a subprocess)
and asserts the exact line printed, the exit status and, where a campaign ran, the exact
tables afterwards (names and bytes). The plan is the six cheap FashionMNIST networks of
tests/test_campaign.py (real FashionMNIST, 350 training and 200 test images, 2 epochs),
trained with deterministic algorithms and one thread per worker, so the same network gives
the same table bytes in every run: a table retrained after a kill or a corruption is compared
with the table of an uninterrupted run byte for byte. File-system failures are real (a tmpfs,
full or read-only, as root; skipped otherwise). docs/reliability.md ("Campaigns") lists every
case and the test that backs it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnlife import campaign as C
from nnlife.record import read_record
from nnlife.table import TEMP_PREFIX
from test_reliability import IS_ROOT, _drop_dac_capabilities, fill, one_line_error, tmpfs

SIX = dict(datasets=("FashionMNIST",), per_dataset=6, seed=53681, epochs=2, train_images=350, test_images=200,
           deterministic=True)
MODELS = C.dataset_info("FashionMNIST").models_dir
RECORDS = f"{C.dataset_info('FashionMNIST').dir_name}_records"


def argv(out: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "nnlife", "campaign", "--datasets", "FashionMNIST", "--per-dataset", "6",
            "--seed", "53681", "--epochs", "2", "--train-images", "350", "--test-images", "200", "--deterministic",
            "--out", str(out), "--data-root", str(out.parent / "no-data-root"), "--no-download", "--workers", "2",
            "--threads", "1", *map(str, extra)]


def campaign(out: Path, *extra, env: dict | None = None, umask: int | None = None, unprivileged: bool = False,
             timeout: float = 300):
    def preexec():
        if umask is not None:
            os.umask(umask)
        if unprivileged and IS_ROOT:
            _drop_dac_capabilities()

    return subprocess.run(argv(out, *extra), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, preexec_fn=preexec)


def status(out: Path):
    return subprocess.run([sys.executable, "-m", "nnlife", "status", str(out)], capture_output=True, text=True,
                          timeout=60)


def tables(out: Path) -> dict[str, bytes]:
    """Every file under the campaign's table directory, by name: its bytes."""
    d = out / MODELS
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())} if d.is_dir() else {}


def no_temporaries(out: Path) -> bool:
    return not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One uninterrupted run of the plan, with umask 027: the reference tables."""
    out = tmp_path_factory.mktemp("finished") / "run"
    done = campaign(out, umask=0o027)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"campaign {out}: 6 of 6 networks done"
    assert len(tables(out)) == 6
    return out


def copy_of(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished, out, symlinks=True)
    return out


# ---- 1. state files are never followed out of the campaign directory -------------------------


@pytest.mark.parametrize("name, what", [(C.LOCK, "lock file"), (C.JOURNAL, "journal"), (C.LOG, "log")])
def test_a_symlink_planted_as_a_state_file_is_refused_and_its_target_untouched(tmp_path, name, what):
    out, victim = tmp_path / "run", tmp_path / "someone-elses-file"
    out.mkdir()
    victim.write_bytes(b"precious\n")
    (out / name).symlink_to(victim)
    proc = campaign(out)
    one_line_error(proc, "campaign", f"{out / name}: is a symbolic link (to {victim}); expected the campaign's "
                                     f"{what}, a regular file (remove the link)")
    assert victim.read_bytes() == b"precious\n"
    assert tables(out) == {}
    if name == C.JOURNAL:  # status reads the journal: the same refusal
        one_line_error(status(out), "status", f"{out / name}: is a symbolic link (to {victim}); expected the "
                                              f"campaign's journal, a regular file (remove the link)")


def test_a_fifo_as_the_lock_is_refused_without_blocking(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / C.LOCK)
    proc = campaign(out, timeout=60)
    one_line_error(proc, "campaign", f"{out / C.LOCK}: is a FIFO (named pipe), expected the campaign's lock file, "
                                     f"a regular file")
    assert tables(out) == {}


def test_the_lock_file_is_never_truncated(finished, tmp_path):
    # The PID is written over the first bytes (padded); nothing shrinks the file, so a file
    # that is somehow the lock's (a hard link) keeps its length.
    out = copy_of(finished, tmp_path)
    (out / C.LOCK).write_bytes(b"x" * 100)
    proc = campaign(out)
    assert proc.returncode == 0 and proc.stdout.splitlines() == [f"campaign {out}: 6 of 6 networks done (nothing to do)"]
    lock = (out / C.LOCK).read_bytes()
    assert len(lock) == 100 and lock[21:] == b"x" * 79 and lock[20:21] == b"\n"


# ---- 2. a lost manifest: the tables are adopted, never trained twice --------------------------


def test_a_deleted_manifest_adopts_the_tables_instead_of_training_them_again(finished, tmp_path):
    out = copy_of(finished, tmp_path)
    before, manifest = tables(out), C.read_manifest(out)
    (out / C.MANIFEST).unlink()
    proc = campaign(out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"{out}: no campaign.json; planned again from the options and adopted the 6 "
                                        f"tables there that are planned networks (matched by data set, seed and network)"]
    assert proc.stdout.splitlines() == [f"campaign {out}: 6 of 6 networks done (nothing to do)"]
    assert tables(out) == before  # the same 6 tables, none trained again
    assert [n.ID for n in C.read_manifest(out).networks] == [n.ID for n in manifest.networks]


def test_a_deleted_manifest_with_a_table_of_no_planned_network_is_refused(finished, tmp_path):
    out = copy_of(finished, tmp_path)
    first = C.read_manifest(out).networks[0]
    # a second copy of one network, under another ID: the first by name is matched, the other listed
    stranger = "2020_01_01_00_00_00_000000"
    text = (out / MODELS / f"{first.ID}.txt").read_text().replace(first.ID, stranger)
    (out / MODELS / f"{stranger}.txt").write_text(text)
    (out / C.MANIFEST).unlink()
    before = tables(out)
    proc = campaign(out)
    one_line_error(proc, "campaign", f"{out}: no campaign.json, and 1 of the 7 tables here match no network that "
                                     f"these options plan ({MODELS}/{first.ID}.txt); run with the options that made "
                                     f"them, or move them out of {out}, or use another --out")
    assert tables(out) == before and not (out / C.MANIFEST).exists()


# ---- 3. a corrupt table is noticed, kept aside and trained again ----------------------------


def test_a_truncated_table_is_reported_moved_aside_and_retrained_to_the_same_bytes(finished, tmp_path):
    out = copy_of(finished, tmp_path)
    reference = tables(out)
    nets = C.read_manifest(out).networks
    short, cut = nets[1], nets[4]
    short_path, cut_path = out / MODELS / f"{short.ID}.txt", out / MODELS / f"{cut.ID}.txt"
    full_short, full_cut = short_path.read_bytes(), cut_path.read_bytes()
    short_path.write_bytes(b"".join(full_short.splitlines(keepends=True)[:3]))  # header and 2 of 4 rows
    cut_path.write_bytes(full_cut[:-10])  # cut inside the last row
    why_short = f"{short_path}: expected 4 half-epoch rows (--epochs 2), got 2"
    why_cut = f"{cut_path}: expected every line to end in a newline (\\n), got 'no newline at end of file'"

    shown = status(out)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"campaign {out}: not running, 4 of 6 networks done"
    i = lines.index("not finished tables (2; a re-run moves them aside and trains them again):")
    assert lines[i + 1:i + 3] == [f"  FashionMNIST {short.ID}: {why_short}", f"  FashionMNIST {cut.ID}: {why_cut}"]

    proc = campaign(out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"campaign {out}: 6 of 6 networks done"
    after = tables(out)
    aside = {name: data for name, data in after.items() if C.CORRUPT_SUFFIX in name}
    assert sorted(n.split(C.CORRUPT_SUFFIX)[0] for n in aside) == sorted([short_path.name, cut_path.name])
    assert {n.split(C.CORRUPT_SUFFIX)[0]: d for n, d in aside.items()} == {
        short_path.name: full_short[:len(b"".join(full_short.splitlines(keepends=True)[:3]))],
        cut_path.name: full_cut[:-10]}
    moved = {n.split(C.CORRUPT_SUFFIX)[0]: n for n in aside}
    err = proc.stderr.splitlines()
    for path, why in ((short_path, why_short), (cut_path, why_cut)):
        assert f"{why}; not a finished table: moved to {moved[path.name]}, and the network is trained again" in err
    # the retrained tables are byte for byte those of the uninterrupted run
    assert {n: d for n, d in after.items() if n not in aside} == reference
    assert [e["event"] for e in C.read_journal(out) if e.get("ID") == short.ID][-3:] == ["corrupt", "start", "done"]
    assert C.campaign_status(out).done == 6 and no_temporaries(out)


# ---- 4. output that cannot be written -------------------------------------------------------


def test_read_only_out_is_one_line_before_training(tmp_path):
    out = tmp_path / "ro"
    with tmpfs(out, read_only=True):
        one_line_error(campaign(out), "campaign", f"{out}: cannot write: Read-only file system")


def test_permission_denied_out_is_one_line_before_training(tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        out = parent / "run"
        one_line_error(campaign(out, unprivileged=True), "campaign", f"{out}: cannot write: Permission denied")
        assert not out.exists()
    finally:
        parent.chmod(0o755)


def test_dangling_out_link_is_one_line(tmp_path):
    out, target = tmp_path / "run", tmp_path / "gone" / "away"
    out.symlink_to(target)
    one_line_error(campaign(out), "campaign", f"{out}: cannot write: a symbolic link to {target}, which does not exist")
    assert not target.exists()


def test_full_disk_fails_each_network_without_killing_the_campaign(tmp_path):
    out = tmp_path / "full"
    with tmpfs(out, size="64k"):
        manifest = C.open_manifest(out, C.CampaignOptions(**SIX))
        fill(out)
        proc = campaign(out)
        assert proc.returncode == 1, proc.stderr  # every network failed; the campaign ran to its end
        assert "Traceback" not in proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == f"campaign {out}: 0 of 6 networks done"
        assert lines[2] == "failed (6; a re-run of the same command retries them):"
        assert lines[3:] == [f"  FashionMNIST {n.ID}: {out / RECORDS / n.ID}.json: cannot write: No space left on device"
                             for n in sorted(manifest.networks, key=lambda n: n.ID)]
        # 14 events: campaign-start, a start and a failure per network, campaign-end
        assert proc.stderr.splitlines()[-1] == (f"{out / C.JOURNAL}: cannot write: No space left on device; "
                                                f"14 journal events were not written")
        assert tables(out) == {} and no_temporaries(out)
        assert sorted(p.name for p in out.iterdir()) == sorted([C.LOCK, C.JOURNAL, C.LOG, C.MANIFEST, "filler", RECORDS])


# ---- 5. a hand-edited manifest -------------------------------------------------------------


@pytest.mark.parametrize("field, value, expected", [
    ("batch_size", None, "expected an integer >= 1, got null"),
    ("flops", "lots", 'expected an integer >= 1, got "lots"'),
    ("dataset", "MNIST", 'expected one of the campaign\'s data sets (FashionMNIST), got "MNIST"'),
    ("ID", "../escape", "expected a file name of 1 to 128 of A-Z a-z 0-9 _ - . not starting with '.', got \"../escape\""),
    ("random_seed", 2**32, "expected an integer in [0, 4294967295], got 4294967296"),
    ("batch_size", 64, "expected PLANNED (as its seed draws it), got 64"),
])
def test_a_hand_edited_manifest_is_one_line_before_anything_is_trained(tmp_path, field, value, expected):
    out = tmp_path / "run"
    out.mkdir()
    manifest = C.open_manifest(out, C.CampaignOptions(**SIX))
    obj = json.loads((out / C.MANIFEST).read_text())
    obj["networks"][3][field] = value
    (out / C.MANIFEST).write_text(json.dumps(obj))
    expected = expected.replace("PLANNED", str(manifest.networks[3].batch_size))
    message = f"{out / C.MANIFEST}: network 3: field '{field}': {expected}"
    one_line_error(campaign(out), "campaign", message)
    one_line_error(status(out), "status", message)
    assert tables(out) == {} and not (out / RECORDS).exists() and not (out / C.JOURNAL).exists()


# ---- 6. modes follow the umask --------------------------------------------------------------


def test_every_campaign_file_follows_the_umask(finished):
    # The reference run ran with umask 027: files 0640, directories 0750.
    paths = [finished / n for n in (C.MANIFEST, C.JOURNAL, C.LOG, C.LOCK)]
    paths += sorted((finished / MODELS).iterdir()) + sorted((finished / RECORDS).iterdir())
    assert len(paths) == 4 + 12
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in paths} == {p.name: "0o640" for p in paths}
    assert [oct(d.stat().st_mode & 0o777) for d in (finished / MODELS, finished / RECORDS)] == ["0o750", "0o750"]


# ---- 7. Ray --------------------------------------------------------------------------------


def test_a_bad_ray_address_is_one_line(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "run"
    one_line_error(campaign(out, "--ray", "127.0.0.1:1", timeout=60), "campaign",
                   "--ray 127.0.0.1:1: no Ray cluster answers at this address (Connection refused); expected the "
                   "address of a running cluster (as `ray start --head` prints it)")
    one_line_error(campaign(out, "--ray", "nowhere", timeout=60), "campaign",
                   "--ray nowhere: expected HOST:PORT of a running Ray cluster (as `ray start --head` prints it), or auto")
    assert not out.exists()


def test_a_killed_ray_task_is_retried_and_journaled(finished, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "run"
    shutil.copyfile(finished / C.MANIFEST, out.mkdir() or out / C.MANIFEST)  # the same plan and IDs
    victim = C.read_manifest(out).networks[2]
    proc = campaign(out, "--ray", env={C.FAULTS_ENV: f"crash:{victim.ID}:1"}, timeout=400)
    assert proc.returncode == 0, proc.stderr
    mine = [e for e in C.read_journal(out) if e.get("ID") == victim.ID]
    assert [e["event"] for e in mine] == ["start", "crash", "retry", "start", "done"]
    assert mine[1]["error"].startswith("Ray: ") and mine[1]["final"] is False and mine[2]["attempt"] == 2
    record = read_record(out / RECORDS / f"{victim.ID}.json")
    assert (record.status, record.extra["attempt"], record.extra["starts"]) == ("complete", 2, 2)
    assert tables(out) == tables(finished)  # the retried network's table too, byte for byte


# ---- the kill test -------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_tables(finished, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copyfile(finished / C.MANIFEST, out / C.MANIFEST)  # the same plan, the same IDs
    rng = random.Random(20261201)
    for delay in [rng.uniform(0.5, 12.0) for _ in range(8)]:
        proc = subprocess.Popen(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + delay
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _descendants(proc.pid)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if _alive(p)], "workers outlived the killed campaign"
        # only complete tables at any moment, each the reference's bytes
        assert all(tables(finished)[name] == data for name, data in tables(out).items())
    final = campaign(out)
    assert final.returncode == 0, final.stderr
    # (the kills may have let every network finish already: then the resume has nothing to do)
    assert final.stdout.splitlines()[0] in (f"campaign {out}: 6 of 6 networks done",
                                            f"campaign {out}: 6 of 6 networks done (nothing to do)")
    assert tables(out) == tables(finished) and no_temporaries(out)
    journal = C.read_journal(out)
    for net in C.read_manifest(out).networks:
        kinds = [e["event"] for e in journal if e.get("ID") == net.ID]
        assert kinds.count("done") == 1 and "start" not in kinds[kinds.index("done"):]
