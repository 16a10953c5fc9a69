"""The tag cache: persistent, refreshed incrementally, parallel when cold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.codeintel import repo_map as repo_map_module
from tools.codeintel.cache import TagCache
from tools.codeintel.discover import list_files
from tools.codeintel.repo_map import find_symbol, repo_map

from .conftest import age


def _cache(repo: Path, cache_dir: Path) -> TagCache:
    return TagCache(repo, cache_dir)


def test_warm_run_reuses_every_entry_from_disk(project: Path, tmp_path: Path) -> None:
    cold = repo_map(project, 500, cache_dir=tmp_path / "cache")
    assert cold.stats["parsed"] == 8 and cold.stats["reused"] == 0
    repo_map_module._caches.clear()  # as a new process would
    warm = repo_map(project, 500, cache_dir=tmp_path / "cache")
    assert warm.stats["parsed"] == 0 and warm.stats["reused"] == 8
    assert warm.stats["tokenizer_misses"] == 0  # counts of the map's lines were kept too
    assert warm.text == cold.text


def test_only_the_changed_file_is_parsed_again(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = _cache(project, cache_dir)
    first.refresh(list_files(project))
    first.save()

    (project / "leaf_3.py").write_text("def changed():\n    return 3\n")
    age(project / "leaf_3.py")
    second = _cache(project, cache_dir)
    tags = second.refresh(list_files(project))
    assert (second.stats.parsed, second.stats.reused) == (1, 7)
    assert [d[0] for d in tags["leaf_3.py"].definitions] == ["changed"]
    second.save()

    # A touch changes the mtime but not the content: hashed, not parsed.
    stat = (project / "core.py").stat()
    os.utime(project / "core.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    third = _cache(project, cache_dir)
    third.refresh(list_files(project))
    assert (third.stats.parsed, third.stats.hashed, third.stats.reused) == (0, 1, 7)
    third.save()

    (project / "lonely.py").unlink()
    fourth = _cache(project, cache_dir)
    tags = fourth.refresh(list_files(project))
    assert fourth.stats.removed == 1 and "lonely.py" not in tags


def test_worker_pool_gives_the_same_tags_as_one_process(tmp_path: Path) -> None:
    repo = tmp_path / "many"
    repo.mkdir()
    for i in range(80):
        source = f"class C{i}:\n    def m(self):\n        return f{i - 1}()\n"
        (repo / f"m{i}.py").write_text(source)
    serial = TagCache(repo, None, workers=1)
    pooled = TagCache(repo, None, workers=2)
    files = list_files(repo)
    started: list[bool] = []
    pooled_tags = pooled.refresh(files, while_parsing=lambda: started.append(True))
    assert serial.refresh(files) == pooled_tags
    assert started == [True]  # the pool ran (80 files is over the threshold)
    assert pooled.stats.parsed == 80


def test_pool_started_beside_other_threads_gives_the_same_tags(tmp_path: Path) -> None:
    import threading

    repo = tmp_path / "many"
    repo.mkdir()
    for i in range(70):
        (repo / f"m{i}.py").write_text(f"def f{i}():\n    return f{i + 1}()\n")
    files = list_files(repo)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # as the agent's UI would be
    other.start()
    try:
        pooled = TagCache(repo, None, workers=2).refresh(files)
    finally:
        stop.set()
        other.join()
    assert pooled == TagCache(repo, None, workers=1).refresh(files)


def test_a_change_right_after_caching_is_not_missed(tmp_path: Path) -> None:
    repo = tmp_path / "racy"
    repo.mkdir()
    target = repo / "a.py"
    target.write_text("def first():\n    pass\n")
    cache = TagCache(repo, None)
    cache.refresh(["a.py"])
    stat = target.stat()
    # Same size, same mtime: what a second edit within one clock tick can look like.
    target.write_text("def other():\n    pass\n")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    tags = cache.refresh(["a.py"])
    assert [d[0] for d in tags["a.py"].definitions] == ["other"]


def test_damaged_cache_file_is_rebuilt(project: Path, tmp_path: Path) -> None:
    cache = _cache(project, tmp_path / "cache")
    cache.refresh(list_files(project))
    cache.save()
    assert cache.file is not None
    cache.file.write_bytes(b"not a pickle")
    again = _cache(project, tmp_path / "cache")
    again.refresh(list_files(project))
    assert again.stats.parsed == 8 and not again.stats.loaded_from_disk


def test_progress_follows_the_parse_and_an_interrupted_parse_keeps_its_files(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "many"
    repo.mkdir()
    for i in range(100):
        (repo / f"m{i}.py").write_text(f"def f{i}():\n    return f{i + 1}()\n")
    age(*repo.iterdir())
    files = list_files(repo)
    seen: list[tuple[int, int]] = []
    TagCache(repo, None, workers=1).refresh(files, progress=lambda *p: seen.append(p))
    assert seen[-1] == (100, 100) and len(seen) > 1
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    def interrupt(done: int, total: int) -> None:
        if done >= 64:
            raise KeyboardInterrupt

    cache_dir = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        TagCache(repo, cache_dir, workers=1).refresh(files, progress=interrupt)
    resumed = TagCache(repo, cache_dir, workers=1)
    tags = resumed.refresh(files)
    assert resumed.stats.reused == 64 and resumed.stats.parsed == 36
    assert [d[0] for d in tags["m7.py"].definitions] == ["f7"]


def test_tags_are_read_only_when_needed(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    _cache(project, cache_dir).refresh(list_files(project))
    TagCache(project, cache_dir).save()
    assert not (cache_dir / "tags").exists()  # nothing changed, nothing written
    second = _cache(project, cache_dir)
    (project / "leaf_2.py").write_text("def edited():\n    return 2\n")
    age(project / "leaf_2.py")
    tags = second.refresh(list_files(project))
    second.save()
    third = _cache(project, cache_dir)
    view = third.refresh(list_files(project))
    assert third.stats.reused == 8 and third._tags is None  # nothing read yet
    assert view["core.py"] == tags["core.py"]
    assert [d[0] for d in view["leaf_2.py"].definitions] == ["edited"]
    # Only the newest tags file is left beside the index.
    assert len(list((cache_dir / "tags").glob("*.tags.pickle"))) == 1


def test_a_lost_tags_file_is_parsed_again(project: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = _cache(project, cache_dir)
    first.refresh(list_files(project))
    first.save()
    for tags_file in (cache_dir / "tags").glob("*.tags.pickle"):
        tags_file.unlink()
    again = _cache(project, cache_dir)
    view = again.refresh(list_files(project))
    assert [d[0] for d in view["lonely.py"].definitions] == ["Lonely", "alone", "lonely_helper"]


def test_warm_map_reuses_the_kept_map_until_something_changes(
    project: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    old = 10**9 * 100
    os.utime(project, ns=(old, old))  # a directory mtime the listing memo may trust
    cold = repo_map(project, 500, cache_dir=cache_dir)
    assert cold.stats["ranking"] == "computed" and cold.stats["edges"] > 0
    repo_map_module._caches.clear()
    warm = repo_map(project, 500, cache_dir=cache_dir)
    assert warm.stats["ranking"] == "kept map" and warm.text == cold.text
    assert warm.files == cold.files and warm.tokens == cold.tokens
    focused = repo_map(project, 500, focus=["lonely.py"], cache_dir=cache_dir)
    assert focused.stats["ranking"] == "computed" and focused.text.startswith("lonely.py:")
    other_budget = repo_map(project, 80, focus=["lonely.py"], cache_dir=cache_dir)
    assert other_budget.stats["ranking"] == "kept"  # the ranking, not the map
    # An edit: parsed again, ranked again, and the map shows it.
    (project / "lonely.py").write_text("def renamed_helper():\n    return 1\n")
    age(project / "lonely.py")
    edited = repo_map(project, 500, focus=["lonely.py"], cache_dir=cache_dir)
    assert edited.stats["parsed"] == 1 and edited.stats["ranking"] == "computed"
    assert "def renamed_helper():" in edited.text
    # A new file the map lists by name: the listing changed, so the map is made again.
    (project / "NOTES.md").write_text("notes\n")
    age(project / "NOTES.md")
    os.utime(project, ns=(old + 10**9, old + 10**9))
    listed = repo_map(project, 4096, focus=["lonely.py"], cache_dir=cache_dir)
    again = repo_map(project, 4096, focus=["lonely.py"], cache_dir=cache_dir)
    assert "NOTES.md" in listed.text.splitlines() and again.stats["ranking"] == "kept map"


def test_an_edit_seen_first_by_find_symbol_still_changes_the_map(
    project: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    os.utime(project, ns=(10**11, 10**11))  # a listing the memo may trust
    repo_map(project, 500, cache_dir=cache_dir)
    (project / "lonely.py").write_text("def renamed_helper():\n    return 1\n")
    age(project / "lonely.py")
    assert find_symbol(project, "renamed_helper", cache_dir=cache_dir).definitions
    repo_map_module._caches.clear()
    assert "renamed_helper" in repo_map(project, 500, cache_dir=cache_dir).text
