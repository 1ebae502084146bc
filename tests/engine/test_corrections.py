"""Corrections: the fold (every action, undo of each, rename chains, blocking), undo/redo of
batches, and import/export of the event log with bad rows reported by line."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tagsight.engine.store import CorrectionError, Store, TagState, fold


@dataclass
class E:
    id: int
    action: str
    label: str
    previous: str | None = None
    target_id: int | None = None


def state(*events: E) -> TagState:
    return fold(events)


# -- the fold -------------------------------------------------------------------------------------


def test_accept_add_reject_rename() -> None:
    assert state(E(1, "accept", "dog")).tags == ("dog",)
    assert state(E(1, "add", "dog"), E(2, "accept", "cat")).tags == ("dog", "cat")
    s = state(E(1, "accept", "dog"), E(2, "reject", "dog"))
    assert s.tags == () and s.rejected == {"dog"} and s.blocked == {"dog"}
    s = state(E(1, "accept", "dog"), E(2, "rename", "puppy", "dog"))
    assert s.tags == ("puppy",) and s.renamed_from == {"dog"} and s.rejected == set() and s.blocked == {"dog"}


def test_reject_blocks_until_accepted_again() -> None:
    s = state(E(1, "reject", "cat"))  # rejecting a suggestion that was never a tag
    assert s.tags == () and s.blocked == {"cat"}
    s = state(E(1, "reject", "cat"), E(2, "add", "cat"))
    assert s.tags == ("cat",) and s.blocked == set()


def test_rename_keeps_position_and_chains() -> None:
    s = state(E(1, "add", "x"), E(2, "add", "a"), E(3, "add", "y"), E(4, "rename", "b", "a"), E(5, "rename", "c", "b"))
    assert s.tags == ("x", "c", "y") and s.renamed_from == {"a", "b"}
    # Renaming onto a tag that is already there merges the two.
    assert state(E(1, "add", "a"), E(2, "add", "b"), E(3, "rename", "b", "a")).tags == ("b",)
    # Renaming a suggestion (never a tag) adds the new name and blocks the old one.
    s = state(E(1, "rename", "wolf", "husky"))
    assert s.tags == ("wolf",) and s.blocked == {"husky"}
    # Renaming back unblocks.
    s = state(E(1, "add", "a"), E(2, "rename", "b", "a"), E(3, "rename", "a", "b"))
    assert s.tags == ("a",) and s.renamed_from == {"b"}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([E(1, "accept", "dog")], TagState()),
        ([E(1, "add", "dog")], TagState()),
        ([E(1, "accept", "dog"), E(2, "reject", "dog")], TagState(("dog",))),
        ([E(1, "reject", "cat")], TagState()),
        ([E(1, "add", "dog"), E(2, "rename", "puppy", "dog")], TagState(("dog",))),
    ],
    ids=["accept", "add", "reject", "reject-suggestion", "rename"],
)
def test_undo_of_each_action_restores_the_state_before_it(events: list[E], expected: TagState) -> None:
    last = events[-1]
    assert fold([*events, E(last.id + 1, "undo", last.label, last.previous, last.id)]) == expected
    # and undoing the undo (redo) brings the action back
    redone = fold([*events, E(last.id + 1, "undo", "", None, last.id), E(last.id + 2, "undo", "", None, last.id + 1)])
    assert redone == fold(events)


def test_undo_is_as_if_the_event_never_happened_later_events_still_apply() -> None:
    s = state(E(1, "accept", "dog"), E(2, "reject", "dog"), E(3, "add", "cat"), E(4, "undo", "dog", None, 2))
    assert s.tags == ("dog", "cat") and s.blocked == set()
    # undo, redo, undo again
    events = [E(1, "add", "dog"), E(2, "undo", "dog", None, 1), E(3, "undo", "dog", None, 2), E(4, "undo", "dog", None, 1)]
    assert state(*events).tags == ()
    assert state(*events[:3]).tags == ("dog",)


# -- the store: corrections, undo and redo --------------------------------------------------------


def images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"photo{i:03d}.jpg"
        path.write_bytes(f"image {i} of {folder}".encode())
        paths.append(path)
    return paths


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(tmp_path / "t.db") as s:
        yield s


def test_a_correction_is_committed_when_add_returns(store: Store, tmp_path: Path) -> None:
    [img] = images(tmp_path / "imgs", 1)
    event = store.add_correction(img, "dog", "accept", source="gui")
    assert (event.path, event.label, event.action, event.source) == (img, "dog", "accept", "gui")
    with Store.open(store.path) as other:  # another connection, as another process would
        assert other.current_tags(img) == ["dog"]
        assert [e.uid for e in other.corrections(img)] == [event.uid]


def test_refused_corrections(store: Store, tmp_path: Path) -> None:
    [img] = images(tmp_path / "imgs", 1)
    with pytest.raises(CorrectionError, match="unknown action"):
        store.add_correction(img, "dog", "like")
    with pytest.raises(CorrectionError, match="Store.undo"):
        store.add_correction(img, "dog", "undo")
    with pytest.raises(CorrectionError, match="empty label"):
        store.add_correction(img, "  ", "add")
    with pytest.raises(CorrectionError, match="previous"):
        store.add_correction(img, "dog", "rename")
    with pytest.raises(CorrectionError, match="source"):
        store.add_correction(img, "dog", "add", source="web")
    with pytest.raises(CorrectionError, match="cannot be read"):
        store.add_correction(tmp_path / "missing.jpg", "dog", "add")
    assert store.corrections() == []


def test_bulk_action_is_one_undo_step(store: Store, tmp_path: Path) -> None:
    a, b, c = images(tmp_path / "imgs", 3)
    store.add_correction(a, "cat", "add")
    bulk = store.add_corrections([(p, "dog", "accept") for p in (a, b, c)], source="gui")
    assert len({e.batch for e in bulk}) == 1
    undone = store.undo(source="gui")
    assert sorted(e.undoes for e in undone) == sorted(e.uid for e in bulk)
    assert [store.current_tags(p) for p in (a, b, c)] == [["cat"], [], []]
    redone = store.redo(source="gui")
    assert len(redone) == 3
    assert [store.current_tags(p) for p in (a, b, c)] == [["cat", "dog"], ["dog"], ["dog"]]
    # Undo twice: the bulk, then the single add.
    store.undo()
    assert store.undo()[0].label == "cat"
    assert [store.current_tags(p) for p in (a, b, c)] == [[], [], []]
    assert store.undo() == []  # nothing left
    # Redo in reverse order of undoing, like an editor.
    assert [e.label for e in store.redo()] == ["cat"]
    assert [e.label for e in store.redo(2)] == ["dog", "dog", "dog"]
    assert store.redo() == []
    # The log kept everything: 4 originals; undo 3, redo 3, undo 3 + 1, redo 1 + 3 events.
    assert len(store.corrections()) == 4 + 3 + 3 + 4 + 4


def test_a_new_correction_clears_redo(store: Store, tmp_path: Path) -> None:
    [img] = images(tmp_path / "imgs", 1)
    store.add_correction(img, "dog", "add")
    store.undo()
    store.add_correction(img, "cat", "add")
    assert store.redo() == []
    assert store.current_tags(img) == ["cat"]


def test_undo_n_and_rename_reject_through_the_store(store: Store, tmp_path: Path) -> None:
    [img] = images(tmp_path / "imgs", 1)
    store.add_correction(img, "dog", "accept")
    store.add_correction(img, "puppy", "rename", "dog")
    store.add_correction(img, "cat", "reject")
    assert store.current_tags(img) == ["puppy"]
    assert store.rejected_labels(img) == {"dog", "cat"}
    assert store.tag_state(img).rejected == {"cat"}
    assert len(store.undo(2)) == 2
    assert store.current_tags(img) == ["dog"] and store.rejected_labels(img) == set()
    assert store.tag_states() == {img: TagState(("dog",))}
    assert store.tag_states([tmp_path / "other.jpg"]) == {}


def test_states_of_some_images_are_those_of_all(store: Store, tmp_path: Path) -> None:
    imgs = images(tmp_path / "imgs", 4)
    store.add_corrections([(imgs[0], "dog", "accept", None), (imgs[1], "cat", "reject", None)])
    store.add_correction(imgs[3], "owl", "accept")
    store.undo()  # imgs[3]: corrected, then undone: an empty state, still in the log
    everything = store.tag_states()
    assert set(everything) == {imgs[0], imgs[1], imgs[3]}
    asked = [imgs[0], tmp_path / "imgs" / ".." / "imgs" / imgs[1].name, imgs[2], tmp_path / "never-seen.jpg"]
    assert store.tag_states(asked) == {imgs[0]: everything[imgs[0]], imgs[1]: everything[imgs[1]]}
    assert store.tag_states([imgs[3]]) == {imgs[3]: everything[imgs[3]]}


# -- import and export ----------------------------------------------------------------------------


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path



def test_labels_given_as_tags_become_known_tags_and_rejected_ones_do_not(store: Store, tmp_path: Path) -> None:
    a, b, c = images(tmp_path / "imgs", 3)
    store.add_corrections([(a, "dog", "accept", None), (b, "dog", "accept", None), (c, "owl", "reject", None)])
    store.add_corrections([(a, "cat", "add", None), (b, "puppy", "rename", "dog")])
    store.import_corrections(write_csv(tmp_path / "in.csv", f"path,label,action\n{c},heron,add\n{c},crow,reject\n"))
    assert store.tag_names() == ["cat", "dog", "heron", "puppy"]
    store.set_tag_parent("dog", "animal")  # a known tag keeps its place when given again
    store.add_correction(c, "dog", "accept")
    assert store.tag_path("dog") == "animal|dog"

def test_import_reports_bad_rows_by_line_and_keeps_good_ones(store: Store, tmp_path: Path) -> None:
    a, b = images(tmp_path / "imgs", 2)
    src = write_csv(
        tmp_path / "labels.csv",
        "path,label,action,previous\n"  # line 1
        f"{a},dog,accept,\n"  # 2 good
        f"{a},cat,like,\n"  # 3 unknown action
        f'{b},"two\nlines",add,\n'  # 4-5 good (a quoted newline)
        f"{b},,add,\n"  # 6 empty label
        f"{tmp_path / 'nope.jpg'},dog,add,\n"  # 7 no such file
        f"{b},wolf,rename,\n"  # 8 rename without previous
        f"{b},wolf,accept\n"  # 9 too few fields
        "\n"  # 10 blank: ignored
        f"imgs/{b.name},Fox,ADD,\n",  # 11 good: relative to the CSV's folder, action case-insensitive
    )
    report = store.import_corrections(src)
    assert not report.ok
    assert [(e.line, e.message.split(" ")[0]) for e in report.errors] == [
        (3, "unknown"),
        (6, "empty"),
        (7, "no"),
        (8, "rename"),
        (9, "3"),
    ]
    assert "like" in report.errors[0].message and str(tmp_path / "nope.jpg") in report.errors[2].message
    assert report.imported == 3
    with Store.open(store.path) as other:  # committed
        assert other.current_tags(a) == ["dog"]
        assert other.current_tags(b) == ["two\nlines", "Fox"]
    # The whole import is one undo step.
    store.undo()
    assert store.current_tags(a) == [] and store.current_tags(b) == []


def test_import_with_missing_columns_imports_nothing(store: Store, tmp_path: Path) -> None:
    [a] = images(tmp_path / "imgs", 1)
    report = store.import_corrections(write_csv(tmp_path / "x.csv", f"path,label\n{a},dog\n"))
    assert [(e.line, "action" in e.message) for e in report.errors] == [(1, True)]
    assert report.imported == 0 and store.corrections() == []
    report = store.import_corrections(write_csv(tmp_path / "y.csv", f"{a},dog,accept\n"))  # no header
    assert report.errors[0].line == 1 and "header" in report.errors[0].message


def make_120(folder: Path) -> list[tuple[str, str, str]]:
    """120 corrections over 40 images: every image gets 3 events of mixed actions."""
    rows = []
    for i, img in enumerate(images(folder, 40)):
        rows += [
            (str(img), f"tag{i % 7}", "accept"),
            (str(img), f"extra{i % 5}", "add"),
            (str(img), f"wrong{i % 3}", "reject"),
        ]
    return rows


def test_120_corrections_imported_then_exported_unchanged(store: Store, tmp_path: Path) -> None:
    rows = make_120(tmp_path / "imgs")
    src = tmp_path / "team.csv"
    with open(src, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "action"])
        writer.writerows(rows)
    report = store.import_corrections(src)
    assert report.ok and report.imported == 120
    out = tmp_path / "export.csv"
    assert store.export_corrections(out) == 120
    with open(out, newline="") as f:
        exported = list(csv.DictReader(f))
    assert [(r["path"], r["label"], r["action"]) for r in exported] == rows
    assert {r["source"] for r in exported} == {"import"}
    # Import of the export into a fresh database reproduces the events exactly.
    with Store.open(tmp_path / "fresh.db") as fresh:
        assert fresh.import_corrections(out).imported == 120
        again = io.StringIO()
        fresh.export_corrections(again)
        assert again.getvalue() == out.read_text()
    # Importing the same file again adds nothing: events are known by id.
    report = store.import_corrections(out)
    assert (report.imported, report.duplicates, report.ok) == (0, 120, True)


def test_export_round_trip_with_undo_redo_rename_in_jsonl(store: Store, tmp_path: Path) -> None:
    a, b = images(tmp_path / "imgs", 2)
    store.add_correction(a, "dog", "accept")
    store.add_corrections([(a, "cat", "add"), (b, "cat", "add")], source="gui")
    store.add_correction(b, "kitten", "rename", "cat")
    store.undo(2)
    store.redo()
    store.add_correction(a, "fox", "reject", source="gui")
    out = tmp_path / "log.jsonl"
    store.export_corrections(out, "jsonl")
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["action"] for r in first} == {"accept", "add", "rename", "undo", "reject"}
    with Store.open(tmp_path / "fresh.db") as fresh:
        report = fresh.import_corrections(out)
        assert report.ok and report.imported == len(first)
        copy = tmp_path / "copy.jsonl"
        fresh.export_corrections(copy, "jsonl")
        assert copy.read_text() == out.read_text()
        for img in (a, b):
            assert fresh.tag_state(img) == store.tag_state(img)
        # Undo steps survive the trip: one undo reverts the same batch in both.
        assert [e.undoes for e in fresh.undo()] == [e.undoes for e in store.undo()]


def test_plain_undo_rows_revert_the_latest_matching_event(store: Store, tmp_path: Path) -> None:
    [a] = images(tmp_path / "imgs", 1)
    src = write_csv(
        tmp_path / "u.csv",
        "path,label,action\n"
        f"{a},dog,accept\n"
        f"{a},cat,add\n"
        f"{a},dog,undo\n"  # reverts the accept of dog
        f"{a},dog,undo\n"  # nothing left to undo for dog but the undo: redo
        f"{a},bird,undo\n",  # nothing to undo: an error, line 6
    )
    report = store.import_corrections(src)
    assert report.imported == 4 and [(e.line, "nothing to undo" in e.message) for e in report.errors] == [(6, True)]
    assert store.current_tags(a) == ["dog", "cat"]


# -- the command line -----------------------------------------------------------------------------


def test_cli_import_export_undo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tagsight.engine.cli import main

    a, b = images(tmp_path / "imgs", 2)
    db = tmp_path / "cli.db"
    src = write_csv(
        tmp_path / "c.csv",
        f"path,label,action\n{a},dog,accept\n{b},cat,meow\n{b},cat,add\n{tmp_path / 'gone.jpg'},x,add\n",
    )
    assert main(["corrections", "import", str(src), "--db", str(db)]) == 1
    out, err = capsys.readouterr()
    assert "imported 2 correction(s)" in out
    assert f"{src}:3: unknown action 'meow'" in err and f"{src}:5: no such file" in err
    assert main(["corrections", "export", "--db", str(db), "--format", "jsonl"]) == 0
    out, _ = capsys.readouterr()
    assert [(r["path"], r["label"], r["action"]) for r in map(json.loads, out.splitlines())] == [
        (str(a), "dog", "accept"),
        (str(b), "cat", "add"),
    ]
    assert main(["corrections", "undo", "--db", str(db)]) == 0  # the import was one step
    out, _ = capsys.readouterr()
    assert out.count("undo:") == 2
    assert main(["corrections", "undo", "--db", str(db)]) == 0
    assert "nothing to undo" in capsys.readouterr().out
    assert main(["corrections", "redo", "--db", str(db)]) == 0
    with Store.open(db) as store:
        assert store.current_tags(a) == ["dog"] and store.current_tags(b) == ["cat"]


def test_cli_refuses_a_file_that_is_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tagsight.engine.cli import main

    bad = tmp_path / "notes.txt"
    bad.write_text("my notes, not a database\n")
    assert main(["corrections", "export", "--db", str(bad)]) == 2
    assert f"{bad}: not an SQLite database" in capsys.readouterr().err
    assert bad.read_text() == "my notes, not a database\n"
