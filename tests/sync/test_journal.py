"""The state journal (issue 8 point 3: a killed run resumes without duplicates): entries
from concurrent workers all reach the file, and a deferred block writes its entries once,
at its end; a torn last line is ignored on reopening."""

from __future__ import annotations

import threading
from pathlib import Path

from ostiary.sync.journal import Journal

URL = "https://scim.example/v2"


def _lines(j: Journal) -> list[str]:
    return j.path.read_text().splitlines()


def test_concurrent_appends_all_reach_the_file(tmp_path: Path):
    journal = Journal.open(tmp_path, URL)

    def worker(n: int) -> None:
        for i in range(50):
            journal.append({"t": "user", "key": f"k{n}-{i}", "id": f"id{n}-{i}"})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_lines(journal)) == 200
    again = Journal.open(tmp_path, URL)
    assert len(again.users) == 200 and again.users["k3-49"] == "id3-49"


def test_deferred_entries_are_written_once_at_the_end(tmp_path: Path):
    journal = Journal.open(tmp_path, URL)
    journal.append({"t": "intent", "key": "a"}, {"t": "intent", "key": "b"})
    with journal.deferred():
        journal.append({"t": "user", "key": "a", "id": "1"})
        journal.append({"t": "user", "key": "b", "id": "2"})
        assert len(_lines(journal)) == 2  # nothing more on disk inside the block
        assert journal.users == {}
    assert len(_lines(journal)) == 4
    assert Journal.open(tmp_path, URL).users == {"a": "1", "b": "2"}


def test_deferred_entries_survive_an_error_in_the_block(tmp_path: Path):
    journal = Journal.open(tmp_path, URL)
    try:
        with journal.deferred():
            journal.append({"t": "user", "key": "a", "id": "1"})
            raise RuntimeError("a later operation failed")
    except RuntimeError:
        pass
    assert Journal.open(tmp_path, URL).users == {"a": "1"}


def test_a_torn_last_line_is_ignored(tmp_path: Path):
    journal = Journal.open(tmp_path, URL)
    journal.append({"t": "user", "key": "a", "id": "1"})
    with journal.path.open("a") as f:
        f.write('{"t":"user","key":"b","id"')
    assert Journal.open(tmp_path, URL).users == {"a": "1"}


def test_lazy_entries_are_known_at_once_and_written_a_batch_at_a_time(tmp_path: Path):
    """Create outcomes are batched (no fsync per create): in memory at once, on disk with
    the LAZY_BATCH-th entry or at flush; what a kill loses, matching finds again."""
    from ostiary.sync import journal as module

    journal = Journal.open(tmp_path, URL)
    journal.append({"t": "begin"})
    for i in range(module.LAZY_BATCH - 1):
        journal.append_lazy({"t": "user", "key": f"k{i}", "id": f"id{i}"})
    assert journal.users["k0"] == "id0"
    assert len(_lines(journal)) == 1  # only the durable "begin"
    journal.append_lazy({"t": "user", "key": "last", "id": "idlast"})
    assert len(_lines(journal)) == 1 + module.LAZY_BATCH
    journal.append_lazy({"t": "user", "key": "tail", "id": "idtail"})
    journal.flush()
    again = Journal.open(tmp_path, URL)
    assert again.users == journal.users
    assert len(again.users) == module.LAZY_BATCH + 1


def test_the_outbound_memory_journal_writes_no_file(tmp_path: Path, monkeypatch):
    """Outbound pushes keep their record in the outbox: lazy entries stay in memory."""
    from ostiary.sync.outbound import MemoryJournal

    monkeypatch.chdir(tmp_path)
    journal = MemoryJournal.empty()
    journal.append({"t": "begin"})
    journal.append_lazy({"t": "user", "key": "k", "id": "i"})
    journal.flush()
    assert journal.users == {"k": "i"}
    assert list(tmp_path.iterdir()) == []
