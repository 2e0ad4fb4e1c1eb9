"""The command line's one error type, and what importing it costs."""

import subprocess
import sys

import pytest

from jaxdl import cli
from jaxdl.config import ConfigError
from jaxdl.errors import UserError


def test_importing_the_cli_imports_no_case_study():
    code = ("import sys, jaxdl.cli; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('jaxdl'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["jaxdl", "jaxdl.cli", "jaxdl.errors"]
    # nor the heavy libraries a case study brings
    code = ("import sys, jaxdl.cli; print(any(m.split('.')[0] in ('jax', 'flax', "
            "'tensorflow_datasets', 'orbax', 'espeakng_loader') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_every_user_fixable_error_is_a_user_error():
    from jaxdl.data.audio_files import AudioError
    from jaxdl.data.images import ImageError
    from jaxdl.data.sources import DataError, DatasetNotPreparedError
    from jaxdl.tasks.style.vgg_weights import WeightsError, WeightsFileNotFoundError
    from jaxdl.tasks.trigger_word.voices import SpeechError
    from jaxdl.train.checkpoint import CheckpointMismatchError, CheckpointNotFoundError
    from jaxdl.train.loop import NonFiniteLossError
    from jaxdl.workdir import RunNotFoundError, WorkdirError
    errors = {AudioError: ValueError, ImageError: ValueError, DataError: ValueError,
              DatasetNotPreparedError: FileNotFoundError, WeightsError: ValueError,
              WeightsFileNotFoundError: FileNotFoundError, SpeechError: RuntimeError,
              CheckpointMismatchError: ValueError,
              CheckpointNotFoundError: FileNotFoundError,
              NonFiniteLossError: FloatingPointError, WorkdirError: OSError,
              RunNotFoundError: FileNotFoundError, ConfigError: ValueError}
    for error, builtin in errors.items():
        assert issubclass(error, UserError) and issubclass(error, builtin), error
        assert error.exit_code == (2 if error is ConfigError else 1)


def _main_raising(error):
    def main(argv):
        raise error
    return main


@pytest.mark.parametrize("error,code", [
    (ConfigError("unknown config key 'a.b'\n(second line)"), 2),
    (RuntimeError("not reached"), None),
])
def test_run_prints_one_line_and_the_exit_code(error, code, capsys):
    if code is None:  # a bug keeps its traceback
        with pytest.raises(RuntimeError):
            cli.run(_main_raising(error))
        return
    assert cli.run(_main_raising(error)) == code
    err = capsys.readouterr().err
    assert err == "error: unknown config key 'a.b' (second line)\n"


def test_run_exit_code_1_for_a_user_error(capsys):
    from jaxdl.data.images import ImageError
    assert cli.run(_main_raising(ImageError("a.png: no such file"))) == 1
    assert capsys.readouterr().err == "error: a.png: no such file\n"
    assert cli.run(lambda argv: 0) == 0
