"""Experiment configs: load a config file, apply command-line overrides, refuse mistakes.

Every experiment runs as (the flax-examples / big_vision convention)::

    python -m experiments.NAME [VERB] --config configs/NAME.py[:PRESET] --workdir DIR \
        [--config.KEY=VALUE | --config.KEY VALUE ...] [verb-specific arguments]

``configs/NAME.py`` defines ``get_config(arg: str | None = None) -> ConfigDict``; ``arg``
is the preset after the colon (``configs/day_night.py:quick``).

Overrides are strict: an unknown key, a key naming a whole group, or a value of the
wrong type stops the run with one line on stderr and exit code 2, before any work is
done, so a typo never trains for an hour with the default value.

How a raw command-line string is parsed depends on the type of the value it replaces:

========  ===============================================================================
bool      ``true/false/yes/no/1/0`` (any case), nothing else
int       integer literals only (``-3``, ``1_000``); ``0.5``, ``1e3``, ``true`` are refused
float     ints and floats (``3``, ``0.1``, ``1e-3``) and ``inf``/``-inf`` (a natural
          "no limit", e.g. for gradient clipping); ``nan`` is refused (never a setting)
str       any text, verbatim (no unquoting)
tuple     a Python literal via ``ast.literal_eval`` (``"(32, 64)"``, ``"32,64"``,
list      ``"[32]"``, ``"32,"``); the container keeps its type, every element must have
          the type of an existing element (int -> float allowed); an empty existing
          sequence accepts any literal elements
None      a Python literal if the text is one (``3``, ``0.5``, ``None``, ``(1, 2)``),
          else the raw text; a typed placeholder (``config_dict.placeholder(int)``)
          parses as its declared type
========  ===============================================================================

``ConfigDict`` does the storing: groups from dicts, dotted lookup (``config["a.b"]``),
declared types (``get_type``, placeholders), type-checked assignment, two-way ``get_ref``
links, ``to_dict``, ``lock()``, thawing a ``FrozenConfigDict``. ``config_flags`` is not
used: its API is absl flags (global ``FLAGS`` from ``sys.argv``, no argparse verbs), and
its loader and parsers differ visibly: ``file.py:`` passes ``""``, a missing file fails
only on first access, a preset's ``ValueError`` becomes a traceback text, all files share
one module (a file without ``get_config`` reuses the last one's); bool takes ``t`` but not
``yes``, int takes ``0x10``, float takes ``nan``, tuple takes ``16`` as ``(16,)`` with no
element check, None and list fields cannot be overridden; keys resolve attributes first
(``train.keys``); an unknown key names one sibling. ``to_json`` names no key on failure and
writes a type as ``"<class 'float'>"``. Ours alone: the closest valid keys, one-line
``ConfigError`` (exit 2) before any work, ``check_choices``, ``choose_preset``, the verbs.

Typical use in an experiment module::

    verb, args, overrides = config.parse_command(argv, verbs={"train": add_train_args,
                                                              "predict": add_predict_args})
    cfg = config.config_or_exit(args.config, overrides)        # the train verb

or, for a single-verb program, ``args, cfg = config.resolve_config(parser, argv)``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import importlib.util
import inspect
import itertools
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import ml_collections
from ml_collections import config_dict as _config_dict

from jaxdl.errors import UserError

__all__ = [
    "ConfigError",
    "check_choices",
    "load_config",
    "apply_overrides",
    "parse_overrides",
    "config_to_dict",
    "config_from_dict",
    "build_config",
    "config_or_exit",
    "add_config_arguments",
    "resolve_config",
    "parse_command",
]

_OVERRIDE_PREFIX = "--config."
_INT_RE = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_module_counter = itertools.count()


class ConfigError(UserError, ValueError):
    """A bad config file, preset, key or value. ``str(error)`` is one line, printable as-is."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, so that `error: <message>` is exactly one line on stderr.
        super().__init__(" ".join(str(message).splitlines()))


# --------------------------------------------------------------------------- loading


def _split_spec(spec: str) -> tuple[str, str | None]:
    """'a/b.py:quick' -> ('a/b.py', 'quick'); 'a/b.py' -> ('a/b.py', None).

    The path ends at the first '.py:', so a preset may itself contain colons. An empty
    preset ('a/b.py:') means no preset.
    """
    index = spec.find(".py:")
    if index < 0:
        return spec, None
    path, preset = spec[: index + 3], spec[index + 4 :]
    return path, (preset or None)


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Load ``"path/to/file.py"`` or ``"path/to/file.py:preset"`` and return its config.

    The file is imported by path under a unique module name, then ``get_config(preset)``
    is called; without a preset ``get_config()`` is called if it can be called without
    arguments, else ``get_config(None)``. A ``FrozenConfigDict`` is thawed. The result is
    not locked (``build_config`` locks it after overrides).

    Raises:
      ConfigError: the file is missing or not a ``.py`` file, defines no ``get_config``,
        takes no preset but got one, raises ``ValueError`` (an unknown preset: its
        message is kept), or returns something other than a ``ConfigDict``. Other
        exceptions (a bug in the config file) propagate with their traceback.
    """
    path, preset = _split_spec(spec)
    if not os.path.isfile(path):
        raise ConfigError(f"config file '{path}' not found")
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    module_name = f"_jaxdl_config_{next(_module_counter)}_{stem}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"config file '{path}' is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    # Registered so that dataclasses / typing inside the config file can find it.
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise

    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"config file '{path}' defines no get_config()")
    try:
        params = inspect.signature(get_config).parameters.values()
    except (TypeError, ValueError):  # a builtin or odd callable: just call it
        params = None
    takes_arg = params is None or any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )
    needs_arg = params is not None and any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        for p in params
    )
    if preset is not None and not takes_arg:
        raise ConfigError(f"config file '{path}' takes no preset, got '{preset}'")

    try:
        if preset is not None:
            config = get_config(preset)
        elif needs_arg:
            config = get_config(None)
        else:
            config = get_config()
    except ValueError as e:  # the convention for "unknown preset 'x'; choose from: ..."
        raise ConfigError(f"config file '{path}': {e}") from None

    if isinstance(config, _config_dict.FrozenConfigDict):
        config = config.as_configdict()
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(
            f"get_config() in '{path}' returned {type(config).__name__}, "
            "expected ml_collections.ConfigDict"
        )
    return config


# ------------------------------------------------------------------------- overrides


def _leaf_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """All dotted keys of non-group values, depth first, in the config's key order."""
    keys = []
    for name, value in config.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, ml_collections.ConfigDict):
            keys.extend(_leaf_keys(value, dotted + "."))
        else:
            keys.append(dotted)
    return keys


def _child_keys(group: ml_collections.ConfigDict, prefix: str) -> str:
    return ", ".join(f"{prefix}{name}" for name in group.keys()) or "(none)"


def _find(config: ml_collections.ConfigDict, key: str) -> tuple[ml_collections.ConfigDict, str]:
    """Return (parent group, leaf name) of dotted ``key``, or raise the strict ConfigError."""
    parts = key.split(".")
    group, depth = config, 0
    for part in parts[:-1]:
        if part in group and isinstance(group[part], ml_collections.ConfigDict):
            group, depth = group[part], depth + 1
        else:
            break
    leaf = parts[-1]
    if depth == len(parts) - 1 and leaf in group:
        value = group[leaf]
        if isinstance(value, ml_collections.ConfigDict):
            raise ConfigError(
                f"config key '{key}' is a group, not a value; set one of its keys: "
                f"{_child_keys(value, key + '.')}"
            )
        return group, leaf

    close = difflib.get_close_matches(key, _leaf_keys(config), n=3, cutoff=0.6)
    if close:
        raise ConfigError(f"unknown config key '{key}'; closest valid keys: {', '.join(close)}")
    if depth == 0:
        raise ConfigError(f"unknown config key '{key}'; top-level keys: {_child_keys(config, '')}")
    parent = ".".join(parts[:depth])
    raise ConfigError(
        f"unknown config key '{key}'; keys in group '{parent}': {_child_keys(group, parent + '.')}"
    )


class _Mismatch(Exception):
    """A literal element does not fit the template; turned into a ConfigError by the caller."""


def _fit_literal(value: Any, templates: Sequence[Any]) -> Any:
    """Return ``value`` if its type matches one of ``templates``' types (int -> float ok)."""
    if not templates:
        return value
    types = {type(t) for t in templates}
    if isinstance(value, bool):
        if bool in types:
            return value
    elif isinstance(value, int) and int in types:
        return value
    elif isinstance(value, (int, float)) and float in types:
        return float(value)
    elif isinstance(value, str) and str in types:
        return value
    elif value is None and type(None) in types:
        return value
    elif isinstance(value, (tuple, list)):
        nested = [t for t in templates if isinstance(t, (tuple, list))]
        if nested:
            inner = [x for t in nested for x in t]
            return type(nested[0])(_fit_literal(x, inner) for x in value)
    raise _Mismatch


def _type_name(template: Any, declared: type) -> str:
    """'int', 'tuple of int', 'list of float or str', ... for error messages."""
    if isinstance(template, (tuple, list)):
        inner = sorted({type(x).__name__ for x in template})
        return f"{declared.__name__} of {' or '.join(inner)}" if inner else declared.__name__
    return declared.__name__


def _parse_value(key: str, raw: str, template: Any, declared: type) -> Any:
    """Parse command-line text ``raw`` for a field holding ``template`` of type ``declared``."""
    wrong = ConfigError(f"config key '{key}' expects {_type_name(template, declared)}, got '{raw}'")
    text = raw.strip()
    if declared is bool:
        if text.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[text.lower()]
        raise wrong
    if declared is int:
        if _INT_RE.fullmatch(text):
            return int(text)
        raise wrong
    if declared is float:
        try:
            number = float(text)
        except ValueError:
            raise wrong from None
        if math.isnan(number):
            raise wrong
        return number
    if declared is str:
        return raw
    if declared is type(None):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return raw
    if declared in (tuple, list):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise wrong from None
        if not isinstance(value, (tuple, list)):
            raise wrong
        if template is None:  # a typed placeholder: no elements to compare with
            return declared(value)
        try:
            return declared(_fit_literal(x, list(template)) for x in value)
        except _Mismatch:
            raise wrong from None
    # Anything else (a callable, a dtype, ...): only an exact-type literal can replace it.
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        value = None
    if isinstance(value, declared):
        return value
    raise ConfigError(
        f"config key '{key}' holds a {declared.__name__}, which cannot be set from the command line"
    )


def apply_overrides(
    config: ml_collections.ConfigDict, overrides: Sequence[tuple[str, str]]
) -> ml_collections.ConfigDict:
    """Return a copy of ``config`` with each ``(dotted_key, raw_text)`` override applied.

    The input is untouched (also when it is locked; the copy keeps its lock state, and
    field references inside the copy stay linked, as in ``ml_collections``). Overrides
    are applied in order (a later one wins). Each raw text is parsed by the type of the
    value in the *input* config (see the module docstring for the rules).

    Raises:
      ConfigError: unknown key (naming up to 3 close valid keys, or else the keys of the
        deepest existing group), a key naming a group, or a value of the wrong type.
    """
    result = copy.deepcopy(config)
    for key, raw in overrides:
        original_group, leaf = _find(config, key)
        template = original_group[leaf]
        declared = original_group.get_type(leaf)
        value = _parse_value(key, raw, template, declared)
        parent = key.rpartition(".")[0]
        group = result[parent] if parent else result  # ConfigDict's dotted lookup
        try:
            if declared is type(None) and group[leaf] is not None:
                group[leaf] = None  # an earlier override fixed a type; None resets it
            group[leaf] = value
        except (TypeError, KeyError, AttributeError) as e:  # not expected after parsing
            raise ConfigError(f"config key '{key}' cannot be set to '{raw}': {e}") from None
    return result


def parse_overrides(argv: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Split ``argv`` into (``--config.KEY`` overrides in order, the remaining arguments).

    Both ``--config.KEY=VALUE`` and ``--config.KEY VALUE`` are accepted. In the second
    form a next item starting with ``--`` is not taken as the value (write
    ``--config.KEY=--text`` for that); negative numbers (``-1``) are fine. Items after a
    bare ``--`` are left alone. ``--config`` and ``--config=FILE`` stay in the remainder.

    Raises:
      ConfigError: ``--config.KEY`` with no value, or an empty key (``--config.=1``).
    """
    overrides: list[tuple[str, str]] = []
    rest: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item == "--":
            rest.extend(items[i:])
            break
        if not item.startswith(_OVERRIDE_PREFIX):
            rest.append(item)
            i += 1
            continue
        body = item[len(_OVERRIDE_PREFIX) :]
        if "=" in body:
            key, value = body.split("=", 1)
            i += 1
        else:
            key = body
            if i + 1 >= len(items) or items[i + 1].startswith("--"):
                raise ConfigError(f"{item} needs a value: write {item}=VALUE or {item} VALUE")
            value = items[i + 1]
            i += 2
        if not key or "" in key.split("."):
            raise ConfigError(f"malformed override '{item}': expected --config.KEY=VALUE")
        overrides.append((key, value))
    return overrides, rest


# -------------------------------------------------------------------------- json i/o


def _to_json_value(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _to_json_value(v, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_to_json_value(v, key) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(
        f"config key '{key}' holds a {type(value).__name__}, which cannot be written to JSON"
    )


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
    """A plain, JSON-serialisable dict of ``config`` (references resolved, tuples -> lists).

    For ``config.json`` / ``results.json``. ``inf`` is written as JSON ``Infinity``, which
    Python's ``json`` reads back.

    Raises:
      ConfigError: a value that JSON cannot hold (a function, an array, ...).
    """
    return _to_json_value(config.to_dict(), "")


def _from_json_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _from_json_value(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(_from_json_value(v) for v in value)
    return value


def config_from_dict(d: Mapping) -> ml_collections.ConfigDict:
    """Inverse of ``config_to_dict``: rebuild an (unlocked) ConfigDict from a finished run.

    JSON only has lists, so every list becomes a tuple again: configs in this project
    hold sequences as tuples (hashable, safe as static arguments of ``jax.jit``), and a
    field that was a list reloads as a tuple with the same elements. Overrides work on
    either (``apply_overrides`` keeps the container type of the field it replaces).
    """
    return ml_collections.ConfigDict(_from_json_value(d))


# ------------------------------------------------------------------------------- CLI


def build_config(
    source: str | ml_collections.ConfigDict, overrides: Sequence[tuple[str, str]]
) -> ml_collections.ConfigDict:
    """Load ``source`` (a ``file.py[:preset]`` spec, or a ConfigDict), override, lock.

    Raises:
      ConfigError: from ``load_config`` or ``apply_overrides``.
    """
    config = load_config(source) if isinstance(source, str) else source
    config = apply_overrides(config, overrides)
    config.lock()
    return config


def _exit_with(error: ConfigError) -> NoReturn:
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(2)


def config_or_exit(
    source: str | ml_collections.ConfigDict, overrides: Sequence[tuple[str, str]]
) -> ml_collections.ConfigDict:
    """``build_config``, but a ConfigError prints ``error: <message>`` (one line) to stderr
    and exits with code 2 (argparse's code for bad usage) before any other work."""
    try:
        return build_config(source, overrides)
    except ConfigError as e:
        _exit_with(e)


def check_choices(
    config: ml_collections.ConfigDict, choices: Mapping[str, Sequence[Any]]
) -> None:
    """Raises ConfigError unless each dotted key's value is one of its choices.

    Experiments call it before any work, so a typo in a value such as
    ``train.parallel=pmapp`` stops the run at once, like an unknown key does.
    """
    for key, allowed in choices.items():
        group, leaf = _find(config, key)
        value = group[leaf]
        if value not in allowed:
            raise ConfigError(
                f"config key {key!r} is {value!r}; choose from: "
                + ", ".join(str(a) for a in allowed))


def choose_preset(arg: str | None, presets: Sequence[str]) -> str:
    """The preset a config file's get_config(arg) builds: `arg`, or "default" when
    empty. Raises ValueError naming the choices for any other string."""
    preset = arg or "default"
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose from: {', '.join(presets)}")
    return preset


def add_config_arguments(parser: argparse.ArgumentParser, default_config: str) -> None:
    """Add ``--config FILE.py[:PRESET]`` (default ``default_config``) and a required
    ``--workdir DIR`` to an argparse parser or subparser."""
    parser.add_argument(
        "--config",
        default=default_config,
        metavar="FILE.py[:PRESET]",
        help="config file and optional preset (default: %(default)s); "
        "change any field with --config.KEY=VALUE",
    )
    parser.add_argument(
        "--workdir",
        required=True,
        metavar="DIR",
        help="directory for everything this run writes; a run found there is resumed",
    )


def resolve_config(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None
) -> tuple[argparse.Namespace, ml_collections.ConfigDict]:
    """Parse ``argv`` (default ``sys.argv[1:]``) into (args, locked config).

    Overrides are pulled out first, the rest goes to ``parser`` (which needs
    ``add_config_arguments``), then the config is loaded, overridden and locked.
    ``args.config`` keeps the spec string. A ConfigError prints ``error: <message>`` as
    one line on stderr and exits with code 2 before any other work.
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        overrides, rest = parse_overrides(argv)
    except ConfigError as e:
        _exit_with(e)
    args = parser.parse_args(rest)
    return args, config_or_exit(args.config, overrides)


def _first_line(text: str | None) -> str | None:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else None


def parse_command(
    argv: Sequence[str] | None,
    *,
    verbs: Mapping[str, Callable[[argparse.ArgumentParser], None]],
    default_verb: str = "train",
    prog: str | None = None,
) -> tuple[str, argparse.Namespace, list[tuple[str, str]]]:
    """Parse ``[VERB] [args...]`` for a multi-verb experiment; return (verb, args, overrides).

    One subparser per verb; ``verbs[name](subparser)`` adds that verb's arguments (call
    ``add_config_arguments`` there for verbs that take ``--config``); the first line of
    its docstring is the verb's help. ``default_verb`` is inserted when ``argv`` is
    empty or starts with an option (so ``--config c.py --workdir d`` means
    ``train --config c.py --workdir d``), except that a lone ``-h``/``--help`` shows the
    top-level help listing the verbs. A first word that is not a verb is also taken as
    an argument of the default verb, unless it is close to a verb name (``trian``): then
    it is reported as an unknown verb. ``--config.KEY`` overrides may appear anywhere;
    they are returned, not applied (``config_or_exit(args.config, overrides)`` does
    that). Usage errors exit with code 2, like argparse.
    """
    if default_verb not in verbs:
        raise ValueError(f"default verb '{default_verb}' is not one of {sorted(verbs)}")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        overrides, rest = parse_overrides(argv)
    except ConfigError as e:
        _exit_with(e)

    parser = argparse.ArgumentParser(prog=prog)
    subparsers = parser.add_subparsers(
        dest="verb",
        metavar="VERB",
        required=True,
        title="verbs",
        description=f"(default: {default_verb})",
    )
    for name, add_arguments in verbs.items():
        doc = inspect.getdoc(add_arguments)
        sub = subparsers.add_parser(name, help=_first_line(doc), description=doc)
        add_arguments(sub)

    if rest in (["-h"], ["--help"]):
        parser.parse_args(rest)  # prints the top-level help and exits 0
    if not rest or rest[0].startswith("-"):
        rest.insert(0, default_verb)
    elif rest[0] not in verbs:
        close = difflib.get_close_matches(rest[0], list(verbs), n=1, cutoff=0.6)
        if close:
            parser.error(f"unknown verb '{rest[0]}'; did you mean '{close[0]}'?")
        rest.insert(0, default_verb)
    args = parser.parse_args(rest)
    return args.verb, args, overrides
