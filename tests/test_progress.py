"""Progress output: a bar only on a terminal, a handful of plain lines elsewhere."""

from __future__ import annotations

import io

from orbnode.progress import Progress


def test_not_a_terminal_gets_lines_without_carriage_returns():
    out = io.StringIO()
    with Progress(1000, "orbnode test", "step", stream=out) as p:
        for _ in range(1000):
            p.update(1)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 9 <= len(lines) <= 11  # every 10 % and one at the end
    assert lines[-1].startswith("orbnode test: 1,000/1,000 step (100 %")


def test_disabled_progress_is_silent_and_resume_starts_where_it_was():
    out = io.StringIO()
    with Progress(10, "x", stream=out, enabled=False) as p:
        p.update(10)
    assert out.getvalue() == ""
    out = io.StringIO()
    with Progress(100, "x", stream=out, initial=95) as p:
        p.update(5)
    assert len(out.getvalue().splitlines()) == 1  # only the final line


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar():
    out = _Tty()
    with Progress(50, "bar", stream=out) as p:
        p.update(50)
    assert "\r" in out.getvalue() and "50/50" in out.getvalue()


def test_campaign_progress_on_a_non_terminal_is_plain_lines(tmp_path, capsys):
    from orbnode.cli import main

    assert main(["campaign", "--db", str(tmp_path / "c.db"), "--faults", "300", "--json",
                 "--progress", "--chunk", "16"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("orbnode campaign: ")]
    assert lines and lines[-1].startswith("orbnode campaign: 300/300 fault (100 %")


def test_envelope_progress_on_a_non_terminal_is_plain_lines(capsys):
    from orbnode.cli import main

    assert main(["envelope", "--hours", "96", "--step-s", "60", "--json"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("orbnode envelope: ")]
    assert 2 <= len(lines) <= 11 and "(100 %" in lines[-1]
