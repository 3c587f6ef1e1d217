"""`nnlife sample` and `nnlife describe`, as a user runs them."""

import json
import subprocess
import sys

import pytest

from nnlife.cli import main
from nnlife.describe import describe
from nnlife.sample import plan
from nnlife.shapes import analyse
from nnlife.table import HEADER_FIELDS, read_table


def run(*args):
    return subprocess.run([sys.executable, "-m", "nnlife", *args], capture_output=True, text=True)


def test_sample_prints_json_lines_with_line2_texts():
    proc = run("sample", "--dataset", "SVHN", "--count", "12", "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 12
    planned = plan("SVHN", 12, 5)
    expected_keys = [f for f in HEADER_FIELDS[4:] if f not in ("ID", "train_GPU", "torch_set_deterministic")]
    for line, p in zip(lines, planned):
        obj = json.loads(line)
        assert list(obj) == expected_keys + ["params", "flops"]
        spec = p.spec()
        text = spec.to_text_dict()
        for key in expected_keys:
            assert obj[key] == text[key] and isinstance(obj[key], str)
        arith = analyse(spec)
        assert obj["params"] == arith.params and obj["flops"] == arith.flops
        assert len(obj["layer_types"].split("-")) == p.n_conv
    assert [len(json.loads(l)["layer_types"].split("-")) for l in lines] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]
    again = run("sample", "--dataset", "SVHN", "--count", "12", "--seed", "5")
    assert again.stdout == proc.stdout  # same arguments, same bytes


def test_sample_in_process(capsys):
    assert main(["sample", "--dataset", "cifar-100", "--count", "2", "--seed", "9"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(l)["dataset"] for l in out] == ["CIFAR100", "CIFAR100"]


@pytest.mark.parametrize(
    "args,words",
    [
        (["--dataset", "MNIST", "--count", "1", "--seed", "1"], "unknown data set 'MNIST'"),
        (["--dataset", "SVHN", "--count", "-3", "--seed", "1"], "--count: expected a non-negative integer"),
        (["--dataset", "SVHN", "--count", "1", "--seed", "4294967296"], "--seed: expected an integer in [0, 2**32)"),
        (["--dataset", "SVHN", "--count", "1"], "the following arguments are required: --seed"),
    ],
)
def test_sample_bad_arguments(args, words):
    proc = run("sample", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_describe_text_and_json(reference_paths):
    path = reference_paths[2]
    proc = run("describe", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["params"] == 1_555_472
    assert info["flops"] == analyse(read_table(path).spec).flops
    assert [l["type"] for l in info["layers"]][:3] == ["Conv2d", "ReLU", "Dropout"]
    assert info["layers"][9] == {"type": "MaxPool2d", "shape": [384, 3, 3], "params": 0, "flops": 384 * 9 * 99}
    assert info == describe(read_table(path).spec)

    proc = run("describe", str(path))
    assert proc.returncode == 0
    assert "parameters: 1,555,472" in proc.stdout
    assert "MaxPool2d  384x3x3" in proc.stdout


def test_describe_bad_table_is_one_line(reference_paths, tmp_path):
    bad = tmp_path / "bad.txt"
    text = reference_paths[0].read_text().replace(" CIFAR100 ", " CIFAR10 ", 1)
    bad.write_text(text)
    proc = run("describe", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"nnlife describe: error: {bad}:2: field 'dataset': expected one of FashionMNIST, CIFAR100, SVHN, got 'CIFAR10'"
    )
    proc = run("describe", str(tmp_path / "nope.txt"))
    assert proc.returncode == 2 and "no such table file" in proc.stderr and "Traceback" not in proc.stderr


def test_light_commands_do_not_import_torch():
    # Building the parser (every command) and sampling must not pay for importing torch.
    code = (
        "import sys\n"
        "from nnlife.cli import main\n"
        "main(['sample', '--dataset', 'SVHN', '--count', '1', '--seed', '1'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_cli_precisions_match_trainer():
    from nnlife.cli import argtypes, make_parser
    from nnlife.train import PRECISIONS

    assert argtypes.PRECISIONS == PRECISIONS
    # both commands that take --precision offer exactly these
    subparsers = next(a for a in make_parser()._actions if a.dest == "command")
    for command in ("train", "campaign"):
        action = next(a for a in subparsers.choices[command]._actions if a.dest == "precision")
        assert tuple(action.choices) == PRECISIONS


@pytest.mark.parametrize(
    "kind,good,bad,expected",
    [
        ("positive", [("1", 1), ("40", 40)], ["0", "-2", "1.5", "x", ""], "expected a positive integer, got "),
        ("count", [("0", 0), ("7", 7)], ["-1", "2.0", "two"], "expected a non-negative integer, got "),
        ("seed", [("0", 0), ("4294967295", 2**32 - 1)], ["-1", "4294967296", "1e3"], "expected an integer in [0, 2**32), got "),
        ("dataset", [("fashionmnist", "FashionMNIST"), ("cifar-100", "CIFAR100")], ["MNIST"], "unknown data set 'MNIST'"),
        ("datasets", [("SVHN, fashionmnist", ("SVHN", "FashionMNIST"))], ["SVHN,MNIST"], "unknown data set 'MNIST'"),
    ],
)
def test_shared_argument_types(kind, good, bad, expected):
    """The argument types every command group uses: values accepted, and the one-line reason
    for a rejected text (the parser prefixes it with the argument's name)."""
    import argparse

    from nnlife.cli import argtypes

    convert = getattr(argtypes, kind)
    for text, value in good:
        assert convert(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError) as err:
            convert(text)
        assert expected in str(err.value)
        if kind in ("positive", "count", "seed"):
            assert str(err.value) == expected + repr(text)
