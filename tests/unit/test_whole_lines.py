"""The local stack's shared stdout keeps each thread's lines whole (local/runtime.py): `print`
writes a line and its newline apart, and many functions' threads print at once."""

from __future__ import annotations

import io
import threading

from local.runtime import WholeLines


def test_lines_printed_by_many_threads_at_once_come_out_whole() -> None:
    out = io.StringIO()
    stream = WholeLines(out)
    start = threading.Barrier(8)

    def printer(n: int) -> None:
        start.wait()
        for i in range(500):
            print(f'{{"thread":{n},"line":{i},"pad":"{"x" * (i % 50)}"}}', file=stream)
            stream.write(f"part-{n}-")  # a line written in pieces
            stream.write(f"{i}\n")

    threads = [threading.Thread(target=printer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 8 * 500 * 2
    assert sorted(line for line in lines if line.startswith("part-")) == sorted(
        f"part-{n}-{i}" for n in range(8) for i in range(500))
    assert all(line.startswith("{") and line.endswith("}") for line in lines if not line.startswith("part-"))


def test_text_without_its_newline_waits_for_it() -> None:
    out = io.StringIO()
    stream = WholeLines(out)
    stream.write("half")
    assert out.getvalue() == ""
    stream.write(" and the rest\nnext")
    assert out.getvalue() == "half and the rest\n"
