"""main_guard: a closed output pipe ends a command quietly."""
import subprocess
import sys

import pytest

from common.cli import BROKEN_PIPE_EXIT_CODE, main_guard


def test_broken_pipe_exits_quietly(capsys):
    @main_guard
    def main(argv=None):
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == BROKEN_PIPE_EXIT_CODE
    assert "Traceback" not in capsys.readouterr().err


def test_a_command_piped_into_head_prints_no_traceback():
    # a command whose output is read for one line, then the pipe closed: no traceback on stderr
    code = ("import sys\nfrom common.cli import main_guard\n"
            "@main_guard\ndef main(argv=None):\n"
            "    for i in range(200000): print('line', i)\n"
            "main()\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert p.returncode == BROKEN_PIPE_EXIT_CODE
