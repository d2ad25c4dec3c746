import pytest

from vm.leveldb import LevelDB, StorageError, WriteOverlay


def test_atomic_batch_commits_whole_or_nothing(tmp_path):
    db = LevelDB(tmp_path / "db")
    with db.atomic_batch() as batch:
        batch[b"a"] = b"1"
        batch[b"b"] = b"2"
        assert batch[b"a"] == b"1"
    assert db[b"a"] == b"1" and db[b"b"] == b"2"
    with pytest.raises(RuntimeError):
        with db.atomic_batch() as batch:
            batch[b"c"] = b"3"
            del batch[b"a"]
            raise RuntimeError("abort")
    assert not db.exists(b"c") and db[b"a"] == b"1"
    db.close()


def test_overlay_reads_through_and_commits_in_one_write(tmp_path):
    db = LevelDB(tmp_path / "db")
    db[b"kept"] = b"old"
    db[b"gone"] = b"x"
    overlay = WriteOverlay(db)
    overlay[b"new"] = b"n"
    overlay[b"kept"] = b"newer"
    del overlay[b"gone"]
    assert overlay[b"kept"] == b"newer" and not overlay.exists(b"gone") and overlay[b"new"] == b"n"
    assert db[b"kept"] == b"old" and db.exists(b"gone") and not db.exists(b"new")
    db.write_many(overlay.pending())
    assert db[b"kept"] == b"newer" and not db.exists(b"gone") and db[b"new"] == b"n"
    db.close()
    reopened = LevelDB(tmp_path / "db")
    assert reopened[b"new"] == b"n"
    reopened.close()


def test_second_process_lock_is_a_clear_error(tmp_path):
    db = LevelDB(tmp_path / "db")
    with pytest.raises(StorageError, match="cannot open LevelDB"):
        LevelDB(tmp_path / "db")
    db.close()
