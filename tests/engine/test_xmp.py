"""XMP sidecars and the exporters, checked with the real exiftool where it matters.

CI installs exiftool with `apt-get install -y libimage-exiftool-perl`; without it the exiftool
checks skip and the XML-level checks still run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tagsight.engine.export import export_csv, export_jsonl, export_xmp
from tagsight.engine.store import ExportRecord, PredictionRow, Store
from tagsight.engine.xmp import XmpError, read_tags, sidecar_path, write_sidecar

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed (apt-get install libimage-exiftool-perl)")


def exiftool_json(*files: Path) -> list[dict]:
    out = subprocess.run(
        [EXIFTOOL, "-json", "-G1", "-struct", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", "-XMP:all", *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def image(folder: Path, name: str = "photo.jpg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"not really a jpeg " + name.encode())
    return path


FOREIGN = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
 <!-- written by another tool -->
 <rdf:Description rdf:about=''
  xmlns:xmp='http://ns.adobe.com/xap/1.0/'
  xmlns:photoshop='http://ns.adobe.com/photoshop/1.0/'
  xmlns:dc='http://purl.org/dc/elements/1.1/'
  xmlns:mine='http://example.com/my-ns/'
  xmp:Rating='4'
  photoshop:City='Lisbon'>
  <dc:title><rdf:Alt><rdf:li xml:lang='x-default'>Tram &amp; river</rdf:li></rdf:Alt></dc:title>
  <dc:subject><rdf:Bag><rdf:li>holiday</rdf:li><rdf:li>dog</rdf:li></rdf:Bag></dc:subject>
  <mine:Notes>keep me</mine:Notes>
 </rdf:Description>
 <rdf:Description rdf:about='' xmlns:digiKam='http://www.digikam.org/ns/1.0/'>
  <digiKam:TagsList><rdf:Seq><rdf:li>Places/Lisbon</rdf:li></rdf:Seq></digiKam:TagsList>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
"""


def test_sidecar_names(tmp_path: Path) -> None:
    img = tmp_path / "a" / "IMG_1.CR2"
    assert sidecar_path(img) == tmp_path / "a" / "IMG_1.xmp"
    assert sidecar_path(img, keep_extension=True) == tmp_path / "a" / "IMG_1.CR2.xmp"
    assert sidecar_path(img, out_dir=tmp_path / "out", root=tmp_path) == tmp_path / "out" / "a" / "IMG_1.xmp"


@needs_exiftool
def test_new_sidecar_is_read_by_exiftool(tmp_path: Path) -> None:
    img = image(tmp_path)
    written = write_sidecar(img, ["dog", "animal|cat", "Ünïcode & <xml>"])
    assert written == tmp_path / "photo.xmp"
    [info] = exiftool_json(written)
    assert as_list(info["XMP-dc:Subject"]) == ["dog", "cat", "Ünïcode & <xml>"]
    assert as_list(info["XMP-lr:HierarchicalSubject"]) == ["dog", "animal|cat", "Ünïcode & <xml>"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_nothing_to_write_creates_nothing(tmp_path: Path) -> None:
    img = image(tmp_path)
    assert write_sidecar(img, []) is None
    assert not sidecar_path(img).exists()


@needs_exiftool
def test_merge_keeps_other_namespaces_and_only_replaces_our_tags(tmp_path: Path) -> None:
    img = image(tmp_path)
    side = sidecar_path(img)
    side.write_text(FOREIGN, encoding="utf-8")
    os.chmod(side, 0o640)
    write_sidecar(img, ["dog", "animal|cat"])
    text = side.read_text(encoding="utf-8")
    assert "written by another tool" in text and "keep me" in text
    [info] = exiftool_json(side)
    assert info["XMP-xmp:Rating"] == 4 and info["XMP-photoshop:City"] == "Lisbon"
    assert info["XMP-dc:Title"] == "Tram & river"
    assert as_list(info["XMP-dc:Subject"]) == ["holiday", "dog", "cat"]
    assert as_list(info["XMP-lr:HierarchicalSubject"]) == ["dog", "animal|cat"]
    assert as_list(info["XMP-digiKam:TagsList"]) == ["Places/Lisbon", "dog", "animal/cat"]
    assert (side.stat().st_mode & 0o777) == 0o640  # the replaced file keeps its permissions
    # "dog" was there before tagsight: not claimed. Removing our tags keeps it and "holiday".
    assert read_tags(side)["tagsight:ManagedTags"] == ["animal|cat"]
    write_sidecar(img, ["fox"])
    [info] = exiftool_json(side)
    assert as_list(info["XMP-dc:Subject"]) == ["holiday", "dog", "fox"]
    # digiKam reads TagsList before dc:subject, so it carries the unclaimed "dog" as well.
    assert as_list(info["XMP-digiKam:TagsList"]) == ["Places/Lisbon", "dog", "fox"]
    assert info["XMP-mine:Notes"] == "keep me"
    write_sidecar(img, [])
    assert read_tags(side)["dc:subject"] == ["holiday", "dog"]
    assert "tagsight:ManagedTags" not in read_tags(side)


def test_broken_sidecar_is_left_untouched(tmp_path: Path) -> None:
    img = image(tmp_path)
    side = sidecar_path(img)
    side.write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>")
    with pytest.raises(XmpError, match=str(side)):
        write_sidecar(img, ["dog"])
    assert side.read_bytes() == b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed>"
    report = export_xmp([ExportRecord(img, ("dog",))])
    assert report.errors and report.errors[0][0] == img and report.written == []


def test_unchanged_sidecar_is_not_rewritten(tmp_path: Path) -> None:
    img = image(tmp_path)
    side = write_sidecar(img, ["dog"])
    stamp = side.stat().st_mtime_ns
    inode = side.stat().st_ino
    assert write_sidecar(img, ["dog"]) == side
    assert (side.stat().st_mtime_ns, side.stat().st_ino) == (stamp, inode)


def test_export_xmp_mirrors_under_out_and_separates_shared_names(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a = image(photos / "2024", "beach.jpg")
    raw = image(photos / "2024", "beach.cr2")  # would share beach.xmp with the JPEG
    b = image(photos / "2025" / "june", "cat.png")
    records = [ExportRecord(a, ("sea",)), ExportRecord(raw, ("sand",)), ExportRecord(b, ("cat",))]
    out = tmp_path / "out"
    report = export_xmp(records, out)
    assert sorted(p.relative_to(out).as_posix() for p in report.written) == [
        "2024/beach.cr2.xmp",
        "2024/beach.jpg.xmp",
        "2025/june/cat.xmp",
    ]
    assert report.full_names == sorted([a, raw])
    assert read_tags(out / "2024" / "beach.jpg.xmp")["dc:subject"] == ["sea"]
    assert not list(photos.rglob("*.xmp"))  # nothing written next to the images


def test_export_jsonl_and_csv(tmp_path: Path) -> None:
    records = [
        ExportRecord(tmp_path / "a.jpg", ("animal|dog",), (PredictionRow("ball", 0.61234567, 2),)),
        ExportRecord(tmp_path / "b.jpg", ("cat",), None),
    ]
    buf = io.StringIO()
    assert export_jsonl(records, buf) == 2
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert lines[0] == {
        "path": str(tmp_path / "a.jpg"),
        "tags": ["animal|dog"],
        "predictions": [{"label": "ball", "score": 0.61234567, "rank": 2}],
    }
    assert "predictions" not in lines[1]
    out = tmp_path / "tags.csv"
    assert export_csv(records, out) == 2
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["label"], r["kind"], r["score"]) for r in rows] == [
        ("animal|dog", "tag", ""),
        ("ball", "prediction", "0.612346"),
        ("cat", "tag", ""),
    ]


@needs_exiftool
def test_confirmed_tags_of_40_images_reach_exiftool(tmp_path: Path) -> None:
    """The issue's check: confirmed tags of 40 images in sidecars that exiftool reads."""
    folder = tmp_path / "photos"
    imgs = [image(folder, f"img{i:02d}.jpg") for i in range(40)]
    with Store.open(tmp_path / "t.db") as store:
        store.set_tag_parent("dog", "animal")
        for i, img in enumerate(imgs):
            store.add_corrections([(img, "dog", "accept"), (img, f"tag{i}", "add"), (img, "cat", "reject")])
        store.add_correction(imgs[0], "tag0", "rename", "tag0")  # a no-op rename stays harmless
        records = store.export_records()
    report = export_xmp(records)
    assert len(report.written) == 40 and not report.errors
    infos = {Path(info["SourceFile"]).name: info for info in exiftool_json(*report.written)}
    for i in range(40):
        info = infos[f"img{i:02d}.xmp"]
        assert as_list(info["XMP-dc:Subject"]) == ["dog", f"tag{i}"]
        assert as_list(info["XMP-lr:HierarchicalSubject"]) == ["animal|dog", f"tag{i}"]


@needs_exiftool
def test_cli_export_xmp_and_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tagsight.engine.cli import main

    folder = tmp_path / "photos"
    a, b = image(folder, "a.jpg"), image(folder / "sub", "b.jpg")
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        store.add_correction(a, "animal|dog", "accept")
        store.add_correction(b, "cat", "add")
        run = store.start_run("m", "glove", "default", "conse")
        store.add_predictions(run, store.image(b).id, [("kitten", 0.8, 1), ("tiger", 0.1, 2)])
    assert main(["export", "--format", "xmp", "--db", str(db), "--out", str(tmp_path / "out")]) == 0
    infos = {Path(i["SourceFile"]).relative_to(tmp_path / "out").as_posix(): i for i in exiftool_json(*(tmp_path / "out").rglob("*.xmp"))}
    assert as_list(infos["a.xmp"]["XMP-dc:Subject"]) == ["dog"]
    assert as_list(infos["a.xmp"]["XMP-lr:HierarchicalSubject"]) == ["animal|dog"]
    assert as_list(infos["sub/b.xmp"]["XMP-dc:Subject"]) == ["cat"]
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--with-predictions", "--min-score", "0.5"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[1]["predictions"] == [{"label": "kitten", "score": 0.8, "rank": 1}]
    assert main(["export", "--db", str(db), "--min-score", "0.5"]) == 2  # needs --with-predictions
