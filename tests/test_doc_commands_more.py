"""The commands of configs/rga/README.md and docs/*.md run at a tiny size (see
test_doc_commands.py, which runs README.md's; two files, so that two pytest-xdist workers share
them)."""
import pytest
from test_doc_commands import COMMANDS, in_readme, run_documented, sandbox, trainer  # noqa: F401

HERE = [(text, where) for text, where in COMMANDS if not in_readme(where)]


@pytest.mark.slow
@pytest.mark.parametrize('text,where', HERE, ids=[', '.join(w) for _, w in HERE])
def test_documented_command_runs(text, where, sandbox, trainer):  # noqa: F811
    run_documented(text, where, sandbox, trainer)
