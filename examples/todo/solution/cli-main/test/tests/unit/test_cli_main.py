import pytest

from todo.cli.__main__ import main


def test_add_then_list(tmp_db, capsys) -> None:
    assert main(["--db", str(tmp_db), "add", "Buy milk"]) == 0
    assert main(["--db", str(tmp_db), "list", "--open"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "   1 [ ] Buy milk"


def test_unknown_command_exits_2(tmp_db) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--db", str(tmp_db), "fly"])
    assert info.value.code == 2
