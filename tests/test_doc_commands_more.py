"""The commands of configs/**/README.md and docs/*.md but docs/train_test.md run at a tiny size
(see test_doc_commands.py, which runs README.md's and docs/train_test.md's; two files, so that two
pytest-xdist workers share them)."""
import pytest
from test_doc_commands import (  # noqa: F401
    COMMANDS,
    in_first_half,
    run_documented,
    sandbox,
    trainer,
)

HERE = [(text, where) for text, where in COMMANDS if not in_first_half(where)]


@pytest.mark.slow
@pytest.mark.parametrize('text,where', HERE, ids=[', '.join(w) for _, w in HERE])
def test_documented_command_runs(text, where, sandbox, trainer):  # noqa: F811
    run_documented(text, where, sandbox, trainer)
