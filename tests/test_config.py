"""Tests for jaxdl.config: loading, strict overrides, JSON round trip and the CLI helpers."""

import argparse
import json
import math
import os
import subprocess
import sys
import textwrap

import ml_collections
import pytest
from ml_collections import config_dict

from jaxdl import config as cfg
from jaxdl.config import ConfigError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_CONFIG = '''
import ml_collections
from ml_collections import config_dict


def get_config(arg=None):
    """A tiny experiment config with two presets."""
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.name = "tiny"
    config.checkpoint = None
    config.max_grad_norm = config_dict.placeholder(float)

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 32
    config.train.base_lr = 0.1
    config.train.num_steps = 100
    config.train.shuffle = True

    config.eval = ml_collections.ConfigDict()
    config.eval.batch_size = config.train.get_ref("batch_size")

    config.model = ml_collections.ConfigDict()
    config.model.widths = (16, 32)
    config.model.scales = (0.5, 1.0)
    config.model.classes = ("day", "night")
    config.model.extra = ()
    config.model.layers = [1, 2]

    presets = {"quick": 10, "full": 10_000}
    if arg is None:
        return config
    if arg not in presets:
        raise ValueError(f"unknown preset {arg!r}; choose from: {', '.join(presets)}")
    config.train.num_steps = presets[arg]
    return config
'''


@pytest.fixture
def tiny_path(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY_CONFIG)
    return str(path)


@pytest.fixture
def tiny(tiny_path):
    return cfg.load_config(tiny_path)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# ----------------------------------------------------------------------------- loading


def test_load_without_preset(tiny):
    assert tiny.train.num_steps == 100
    assert tiny.train.batch_size == 32
    assert tiny.model.widths == (16, 32)
    assert not tiny.is_locked


def test_load_with_preset(tiny_path):
    assert cfg.load_config(tiny_path + ":quick").train.num_steps == 10
    assert cfg.load_config(tiny_path + ":full").train.num_steps == 10_000
    # An empty preset is no preset.
    assert cfg.load_config(tiny_path + ":").train.num_steps == 100


def test_load_twice_gives_independent_configs(tiny_path):
    a, b = cfg.load_config(tiny_path), cfg.load_config(tiny_path)
    a.train.batch_size = 1
    assert b.train.batch_size == 32


def test_unknown_preset(tiny_path):
    with pytest.raises(ConfigError) as e:
        cfg.load_config(tiny_path + ":huge")
    assert str(e.value) == (
        f"config file '{tiny_path}': unknown preset 'huge'; choose from: quick, full"
    )


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.py")
    with pytest.raises(ConfigError) as e:
        cfg.load_config(path + ":quick")
    assert str(e.value) == f"config file '{path}' not found"


def test_file_without_get_config(tmp_path):
    path = write(tmp_path, "empty.py", "X = 1\n")
    with pytest.raises(ConfigError) as e:
        cfg.load_config(path)
    assert str(e.value) == f"config file '{path}' defines no get_config()"


def test_get_config_returning_dict(tmp_path):
    path = write(tmp_path, "plain.py", "def get_config(arg=None):\n    return {'a': 1}\n")
    with pytest.raises(ConfigError) as e:
        cfg.load_config(path)
    assert str(e.value) == (
        f"get_config() in '{path}' returned dict, expected ml_collections.ConfigDict"
    )


def test_get_config_without_parameter(tmp_path):
    path = write(
        tmp_path,
        "noarg.py",
        """
        import ml_collections
        def get_config():
            return ml_collections.ConfigDict({"a": 1})
        """,
    )
    assert cfg.load_config(path).a == 1
    with pytest.raises(ConfigError) as e:
        cfg.load_config(path + ":quick")
    assert str(e.value) == f"config file '{path}' takes no preset, got 'quick'"


def test_get_config_with_required_parameter_gets_none(tmp_path):
    path = write(
        tmp_path,
        "required.py",
        """
        import ml_collections
        def get_config(arg):
            return ml_collections.ConfigDict({"arg": str(arg)})
        """,
    )
    assert cfg.load_config(path).arg == "None"
    assert cfg.load_config(path + ":a:b").arg == "a:b"  # a preset may contain colons


def test_config_error_is_one_line():
    assert str(ConfigError("first\nsecond\r\nthird")) == "first second third"


def test_frozen_config_is_thawed(tmp_path):
    # Delegated to FrozenConfigDict.as_configdict(): the result takes overrides.
    path = write(
        tmp_path,
        "frozen.py",
        """
        from ml_collections import config_dict
        def get_config():
            return config_dict.FrozenConfigDict({"a": 1, "train": {"steps": 5}})
        """,
    )
    config = cfg.load_config(path)
    assert type(config) is ml_collections.ConfigDict
    out = cfg.config_or_exit(config, [("train.steps", "7")])
    assert (out.a, out.train.steps, out.is_locked) == (1, 7, True)


def test_each_file_loads_into_its_own_module(tiny_path, tmp_path):
    # ml_collections' loader execs every file into one module, so a file without
    # get_config() would silently reuse the previous file's; ours refuses it.
    assert cfg.load_config(tiny_path).seed == 0
    path = write(tmp_path, "later.py", "X = 1\n")
    with pytest.raises(ConfigError) as e:
        cfg.load_config(path)
    assert str(e.value) == f"config file '{path}' defines no get_config()"


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize(
    "raw, expected",
    [("true", True), ("True", True), ("YES", True), ("1", True),
     ("false", False), ("No", False), ("0", False), ("FALSE", False)],
)
def test_bool_spellings(tiny, raw, expected):
    out = cfg.apply_overrides(tiny, [("train.shuffle", raw)])
    assert out.train.shuffle is expected


@pytest.mark.parametrize("raw", ["2", "on", "y", "", "truee", "t", "f"])
def test_bool_refuses_other_text(tiny, raw):
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("train.shuffle", raw)])
    assert str(e.value) == f"config key 'train.shuffle' expects bool, got '{raw}'"


@pytest.mark.parametrize("raw, expected", [("64", 64), ("-3", -3), ("+7", 7), ("1_000", 1000)])
def test_int_accepts_integer_literals(tiny, raw, expected):
    out = cfg.apply_overrides(tiny, [("train.batch_size", raw)])
    assert out.train.batch_size == expected
    assert type(out.train.batch_size) is int


@pytest.mark.parametrize("raw", ["0.5", "abc", "true", "1e3", "", "3.0", "0x10"])
def test_int_refuses_non_integers(tiny, raw):
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("train.batch_size", raw)])
    assert str(e.value) == f"config key 'train.batch_size' expects int, got '{raw}'"


@pytest.mark.parametrize(
    "raw, expected", [("1e-3", 1e-3), ("0.25", 0.25), ("3", 3.0), ("-2.5E2", -250.0)]
)
def test_float_accepts_ints_and_floats(tiny, raw, expected):
    out = cfg.apply_overrides(tiny, [("train.base_lr", raw)])
    assert out.train.base_lr == expected
    assert type(out.train.base_lr) is float


def test_float_accepts_inf_refuses_nan(tiny):
    assert cfg.apply_overrides(tiny, [("train.base_lr", "inf")]).train.base_lr == math.inf
    assert cfg.apply_overrides(tiny, [("train.base_lr", "-inf")]).train.base_lr == -math.inf
    for raw in ["nan", "abc", "true"]:
        with pytest.raises(ConfigError) as e:
            cfg.apply_overrides(tiny, [("train.base_lr", raw)])
        assert str(e.value) == f"config key 'train.base_lr' expects float, got '{raw}'"


def test_str_is_verbatim(tiny):
    assert cfg.apply_overrides(tiny, [("name", "42")]).name == "42"
    assert cfg.apply_overrides(tiny, [("name", "'quoted'")]).name == "'quoted'"
    assert cfg.apply_overrides(tiny, [("name", "")]).name == ""


@pytest.mark.parametrize(
    "raw, expected", [("(8, 16, 64)", (8, 16, 64)), ("8,16", (8, 16)), ("[4]", (4,)), ("4,", (4,))]
)
def test_tuple_of_int(tiny, raw, expected):
    out = cfg.apply_overrides(tiny, [("model.widths", raw)])
    assert out.model.widths == expected
    assert type(out.model.widths) is tuple


@pytest.mark.parametrize("raw", ["(1.5, 2)", "16", "(True, 2)", "('a',)", "(1, 2", "abc"])
def test_tuple_of_int_refuses(tiny, raw):
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("model.widths", raw)])
    assert str(e.value) == f"config key 'model.widths' expects tuple of int, got '{raw}'"


def test_tuple_of_float_accepts_ints(tiny):
    out = cfg.apply_overrides(tiny, [("model.scales", "(1, 0.25)")])
    assert out.model.scales == (1.0, 0.25)
    assert [type(x) for x in out.model.scales] == [float, float]


def test_tuple_of_str_needs_quotes(tiny):
    out = cfg.apply_overrides(tiny, [("model.classes", "('cat', 'dog', 'owl')")])
    assert out.model.classes == ("cat", "dog", "owl")
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("model.classes", "(cat,dog)")])
    assert str(e.value) == "config key 'model.classes' expects tuple of str, got '(cat,dog)'"


def test_empty_tuple_accepts_any_literal_elements(tiny):
    out = cfg.apply_overrides(tiny, [("model.extra", "(1, 'a', 2.5)")])
    assert out.model.extra == (1, "a", 2.5)


def test_list_stays_list(tiny):
    out = cfg.apply_overrides(tiny, [("model.layers", "(3, 4, 5)")])
    assert out.model.layers == [3, 4, 5]
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("model.layers", "[0.5]")])
    assert str(e.value) == "config key 'model.layers' expects list of int, got '[0.5]'"


def test_none_field_takes_literal_or_raw_text(tiny):
    assert cfg.apply_overrides(tiny, [("checkpoint", "3")]).checkpoint == 3
    assert cfg.apply_overrides(tiny, [("checkpoint", "(1, 2)")]).checkpoint == (1, 2)
    assert cfg.apply_overrides(tiny, [("checkpoint", "runs/a")]).checkpoint == "runs/a"
    # Twice, with different types: the later one wins, judged by the original None.
    out = cfg.apply_overrides(tiny, [("checkpoint", "3"), ("checkpoint", "runs/b")])
    assert out.checkpoint == "runs/b"


@pytest.mark.parametrize("raw, expected", [("None", None), ("True", True), ("true", "true")])
def test_none_field_literal_edge_cases(tiny, raw, expected):
    # Python literals only: lower-case 'true' stays text (ml_collections' literal
    # parser would make it True).
    assert cfg.apply_overrides(tiny, [("checkpoint", raw)]).checkpoint == expected


def test_typed_placeholder_parses_as_declared_type(tiny):
    assert cfg.apply_overrides(tiny, [("max_grad_norm", "1")]).max_grad_norm == 1.0
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("max_grad_norm", "big")])
    assert str(e.value) == "config key 'max_grad_norm' expects float, got 'big'"


def test_untyped_placeholders_and_type_fields():
    config = ml_collections.ConfigDict({"sizes": config_dict.placeholder(tuple),
                                        "n": config_dict.placeholder(int), "dtype": float})
    # No existing elements to compare with: any literal sequence, kept a tuple.
    assert cfg.apply_overrides(config, [("sizes", "[2, 'a']")]).sizes == (2, "a")
    for raw in ["abc", "3"]:
        with pytest.raises(ConfigError) as e:
            cfg.apply_overrides(config, [("sizes", raw)])
        assert str(e.value) == f"config key 'sizes' expects tuple, got '{raw}'"
    out = cfg.apply_overrides(config, [("n", "3")])
    assert (out.n, out.get_type("n")) == (3, int)
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(config, [("dtype", "int")])
    assert str(e.value) == (
        "config key 'dtype' holds a type, which cannot be set from the command line"
    )


def test_nested_keys_and_order(tiny):
    out = cfg.apply_overrides(
        tiny, [("train.batch_size", "8"), ("seed", "3"), ("train.batch_size", "16")]
    )
    assert (out.train.batch_size, out.seed) == (16, 3)
    # eval.batch_size is a reference to train.batch_size and follows it.
    assert out.eval.batch_size == 16


def test_override_of_a_reference_moves_its_source(tiny):
    # ConfigDict.get_ref() links both ways, so setting the referring field sets both
    # (as with ml_collections.config_flags); the input config is untouched.
    out = cfg.apply_overrides(tiny, [("eval.batch_size", "8")])
    assert (out.train.batch_size, out.eval.batch_size) == (8, 8)
    assert (tiny.train.batch_size, tiny.eval.batch_size) == (32, 32)


def test_input_config_not_mutated(tiny):
    before = tiny.to_dict()
    tiny.lock()
    out = cfg.apply_overrides(tiny, [("train.batch_size", "8"), ("model.widths", "1,2")])
    assert tiny.to_dict() == before
    assert tiny.train.batch_size == 32 and tiny.eval.batch_size == 32
    assert out.train.batch_size == 8 and out.model.widths == (1, 2)
    assert out.is_locked  # the copy keeps the lock state
    assert out is not tiny


def test_unknown_key_names_closest_valid_keys(tiny):
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("train.batchsize", "8")])
    assert str(e.value) == (
        "unknown config key 'train.batchsize'; closest valid keys: "
        "train.batch_size, eval.batch_size, train.base_lr"
    )


def test_unknown_key_below_a_leaf(tiny):
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("train.batch_size.x", "8")])
    assert str(e.value).startswith(
        "unknown config key 'train.batch_size.x'; closest valid keys: train.batch_size"
    )


def test_unknown_key_without_close_match_lists_group(tiny):
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("model.zzzzzzzzzzzz", "1")])
    assert str(e.value) == (
        "unknown config key 'model.zzzzzzzzzzzz'; keys in group 'model': "
        "model.classes, model.extra, model.layers, model.scales, model.widths"
    )
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("qqqqqqqqqqqq", "1")])
    assert str(e.value) == (
        "unknown config key 'qqqqqqqqqqqq'; top-level keys: "
        "checkpoint, eval, max_grad_norm, model, name, seed, train"
    )


def test_group_key_refused(tiny):
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [("train", "8")])
    assert str(e.value) == (
        "config key 'train' is a group, not a value; set one of its keys: "
        "train.base_lr, train.batch_size, train.num_steps, train.shuffle"
    )


@pytest.mark.parametrize("key", ["lock", "to_dict", "train.keys", "train.lock"])
def test_config_dict_method_names_are_unknown_keys(tiny, key):
    # Keys only, never ConfigDict attributes (ml_collections' config_path looks up
    # attributes first, so `train.keys` would reach the method).
    with pytest.raises(ConfigError) as e:
        cfg.apply_overrides(tiny, [(key, "1")])
    assert str(e.value).startswith(f"unknown config key '{key}'; ")


# --------------------------------------------------------------------- parse_overrides


def test_parse_overrides_both_syntaxes():
    argv = ["train", "--config.a.b=1", "--workdir", "w", "--config.c", "x y", "--config=f.py",
            "--config.d", "-1", "--config.e=k=v", "img.png"]
    overrides, rest = cfg.parse_overrides(argv)
    assert overrides == [("a.b", "1"), ("c", "x y"), ("d", "-1"), ("e", "k=v")]
    assert rest == ["train", "--workdir", "w", "--config=f.py", "img.png"]


def test_parse_overrides_stops_at_double_dash():
    overrides, rest = cfg.parse_overrides(["--config.a=1", "--", "--config.b=2"])
    assert overrides == [("a", "1")]
    assert rest == ["--", "--config.b=2"]


@pytest.mark.parametrize("argv", [["--config.train.lr"], ["--config.train.lr", "--workdir", "w"]])
def test_parse_overrides_missing_value(argv):
    with pytest.raises(ConfigError) as e:
        cfg.parse_overrides(argv)
    assert str(e.value) == (
        "--config.train.lr needs a value: write --config.train.lr=VALUE or --config.train.lr VALUE"
    )


def test_parse_overrides_malformed_key():
    with pytest.raises(ConfigError) as e:
        cfg.parse_overrides(["--config.=3"])
    assert str(e.value) == "malformed override '--config.=3': expected --config.KEY=VALUE"


# ---------------------------------------------------------------------------- json i/o


def test_json_round_trip(tiny):
    tiny = cfg.apply_overrides(tiny, [("train.base_lr", "inf"), ("max_grad_norm", "2")])
    plain = cfg.config_to_dict(tiny)
    assert plain["model"]["widths"] == [16, 32]
    assert plain["eval"] == {"batch_size": 32}
    assert plain["checkpoint"] is None
    back = cfg.config_from_dict(json.loads(json.dumps(plain)))
    assert isinstance(back, ml_collections.ConfigDict)
    expected = tiny.to_dict()
    expected["model"]["layers"] = (1, 2)  # documented: every JSON list reloads as a tuple
    assert back.to_dict() == expected
    assert back.train.base_lr == math.inf
    # The reloaded config takes overrides like the original.
    out = cfg.apply_overrides(back, [("model.widths", "4,8"), ("model.layers", "[7]")])
    assert (out.model.widths, out.model.layers) == ((4, 8), (7,))


def test_config_to_dict_refuses_non_json_values():
    config = ml_collections.ConfigDict({"model": {"act": print}})
    with pytest.raises(ConfigError) as e:
        cfg.config_to_dict(config)
    assert str(e.value) == (
        "config key 'model.act' holds a builtin_function_or_method, which cannot be written to JSON"
    )

    # ConfigDict.to_json() would write a type as "<class 'float'>", which reloads as text.
    with pytest.raises(ConfigError) as e:
        cfg.config_to_dict(ml_collections.ConfigDict({"dtype": float}))
    assert str(e.value) == "config key 'dtype' holds a type, which cannot be written to JSON"


# --------------------------------------------------------------------------------- CLI


def make_parser(default_config):
    parser = argparse.ArgumentParser(prog="tiny")
    cfg.add_config_arguments(parser, default_config)
    return parser


def test_resolve_config_success(tiny_path, tmp_path):
    parser = make_parser(tiny_path)
    args, config = cfg.resolve_config(
        parser,
        ["--config", tiny_path + ":quick", "--config.train.batch_size", "8",
         "--workdir", str(tmp_path), "--config.train.shuffle=no"],
    )
    assert args.config == tiny_path + ":quick"
    assert args.workdir == str(tmp_path)
    assert (config.train.num_steps, config.train.batch_size, config.train.shuffle) == (10, 8, False)
    assert config.is_locked
    with pytest.raises(AttributeError):
        config.train.new_field = 1


def test_add_config_arguments_default_and_required(tiny_path, capsys):
    parser = make_parser(tiny_path)
    assert parser.parse_args(["--workdir", "w"]).config == tiny_path
    with pytest.raises(SystemExit) as e:
        parser.parse_args([])
    assert e.value.code == 2
    assert "--workdir" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--config.train.batchsize=8"],
         "error: unknown config key 'train.batchsize'; closest valid keys: "
         "train.batch_size, eval.batch_size, train.base_lr"),
        (["--config.train.batch_size=0.5"],
         "error: config key 'train.batch_size' expects int, got '0.5'"),
        (["--config.train.batch_size"],
         "error: --config.train.batch_size needs a value: write "
         "--config.train.batch_size=VALUE or --config.train.batch_size VALUE"),
        (["--config", "TINY:huge"],
         "error: config file 'TINY': unknown preset 'huge'; choose from: quick, full"),
    ],
)
def test_resolve_config_exits_2_with_one_line(tiny_path, capsys, extra, message):
    extra = [x.replace("TINY", tiny_path) for x in extra]
    message = message.replace("TINY", tiny_path)
    with pytest.raises(SystemExit) as e:
        cfg.resolve_config(make_parser(tiny_path), ["--workdir", "w", *extra])
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message]
    assert captured.out == ""


def add_train(parser):
    """Train a model and write its run to --workdir."""
    cfg.add_config_arguments(parser, "configs/tiny.py")


def add_predict(parser):
    """Classify images with a finished run."""
    parser.add_argument("--workdir", required=True)
    parser.add_argument("images", nargs="+")


VERBS = {"train": add_train, "predict": add_predict}


def test_parse_command_inserts_default_verb():
    verb, args, overrides = cfg.parse_command(
        ["--config", "c.py:quick", "--config.train.batch_size=8", "--workdir", "w"], verbs=VERBS
    )
    assert verb == "train"
    assert (args.verb, args.config, args.workdir) == ("train", "c.py:quick", "w")
    assert overrides == [("train.batch_size", "8")]


def test_parse_command_default_verb_alone_and_override_first():
    verb, args, overrides = cfg.parse_command(
        ["--config.seed", "3", "--workdir", "w"], verbs=VERBS
    )
    assert (verb, args.config, args.workdir, overrides) == (
        "train", "configs/tiny.py", "w", [("seed", "3")]
    )


def test_parse_command_explicit_verb():
    verb, args, overrides = cfg.parse_command(
        ["predict", "--workdir", "w", "a.png", "b.png"], verbs=VERBS
    )
    assert verb == "predict"
    assert (args.workdir, args.images, overrides) == ("w", ["a.png", "b.png"], [])


def test_parse_command_then_config_or_exit(tiny_path):
    verb, args, overrides = cfg.parse_command(
        ["train", "--config", tiny_path, "--workdir", "w", "--config.model.widths=(2,)"],
        verbs=VERBS,
    )
    config = cfg.config_or_exit(args.config, overrides)
    assert (verb, config.model.widths, config.is_locked) == ("train", (2,), True)


def test_config_or_exit_on_reloaded_config(tiny, capsys):
    reloaded = cfg.config_from_dict(json.loads(json.dumps(cfg.config_to_dict(tiny))))
    assert cfg.config_or_exit(reloaded, [("seed", "5")]).seed == 5
    with pytest.raises(SystemExit) as e:
        cfg.config_or_exit(reloaded, [("sed", "5")])
    assert e.value.code == 2
    assert capsys.readouterr().err == "error: unknown config key 'sed'; closest valid keys: seed\n"


def test_parse_command_top_level_help_lists_verbs(capsys):
    with pytest.raises(SystemExit) as e:
        cfg.parse_command(["--help"], verbs=VERBS, prog="tiny")
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tiny [-h] VERB ...")
    assert "Train a model and write its run to --workdir." in out
    assert "Classify images with a finished run." in out


def test_parse_command_verb_typo(capsys):
    with pytest.raises(SystemExit) as e:
        cfg.parse_command(["trian", "--workdir", "w"], verbs=VERBS, prog="tiny")
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "tiny: error: unknown verb 'trian'; did you mean 'train'?"
    )


def test_parse_command_missing_override_value_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        cfg.parse_command(["train", "--workdir", "w", "--config.seed"], verbs=VERBS)
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "error: --config.seed needs a value: write --config.seed=VALUE or --config.seed VALUE\n"
    )


def test_bad_key_in_subprocess_exits_2_with_one_stderr_line(tiny_path, tmp_path):
    script = write(
        tmp_path,
        "run_tiny.py",
        f"""
        import argparse
        from jaxdl import config

        parser = argparse.ArgumentParser()
        config.add_config_arguments(parser, {tiny_path!r})
        args, cfg = config.resolve_config(parser)
        print("training", cfg.train.batch_size)
        """,
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = [sys.executable, script, "--workdir", str(tmp_path / "run")]
    bad = subprocess.run(base + ["--config.train.batchsize=8"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "error: unknown config key 'train.batchsize'; closest valid keys: "
        "train.batch_size, eval.batch_size, train.base_lr"
    ]
    good = subprocess.run(base + ["--config.train.batch_size", "8"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert (good.returncode, good.stdout, good.stderr) == (0, "training 8\n", "")


def test_early_stopping_config_round_trips_into_early_stopping():
    from jaxdl.train.loop import EarlyStopping, early_stopping_config
    c = early_stopping_config(monitor="val/loss", mode="min", patience=3)
    assert dict(c) == {"monitor": "val/loss", "mode": "min", "patience": 3, "min_delta": 0.0}
    assert EarlyStopping.from_config(c) == EarlyStopping("val/loss", "min", 3, 0.0)
    assert EarlyStopping.from_config(early_stopping_config()) == EarlyStopping()
    with pytest.raises(ValueError, match="unknown early stopping config field"):
        early_stopping_config(patients=3)
