"""XMP sidecars with an image's confirmed tags, merged into what is already there.

Where: `NAME.xmp` next to the image (Lightroom's convention, and the one digiKam looks for first:
its `sidecarFilePathForFile` takes `NAME.xmp` when it exists, else `NAME.ext.xmp`), or under an
output folder, mirroring the image's path below `root`. When two images would share a sidecar
(photo.jpg and photo.cr2) the exporter gives each `NAME.ext.xmp` instead (digiKam's and
darktable's convention), so no image gets another's tags.

What: tags are hierarchical paths with "|" between levels (Lightroom's separator), "animal|dog".
- `dc:subject` (rdf:Bag) gets the last level, "dog": what every tool reads as keywords.
- `lr:hierarchicalSubject` (rdf:Bag) gets whole paths, "animal|dog", for every tag (flat ones
  too): digiKam reads the first tag property it finds, lr:hierarchicalSubject before dc:subject,
  so a partial list there would hide the flat tags. It is written when a tag has a parent or the
  sidecar already has it.
- `digiKam:TagsList` ("/" separator), `MicrosoftPhoto:LastKeywordXMP` and `mediapro:CatalogSets`
  are updated the same way when the sidecar already has them (they come before dc:subject in
  digiKam's reading order), never created.
- `tagsight:ManagedTags` (rdf:Bag) remembers which tags tagsight put there.

Merge rule: every other namespace, property, attribute and comment is kept as parsed. In the
tag properties, values tagsight wrote last time (ManagedTags) are replaced by the current confirmed
tags; values from anyone else are kept. A value that was already in the file before tagsight first
wrote it is not claimed, so tagsight never deletes a keyword it did not write. A sidecar that is
not well-formed XML is left untouched and reported (`XmpError`).

Writes are atomic (temporary file, fsync, rename). Only the standard library is used.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable
from xml.sax.saxutils import escape, quoteattr

from tagsight.engine.atomicfile import atomic_write_bytes

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
MSPHOTO = "http://ns.microsoft.com/photo/1.0/"
MEDIAPRO = "http://ns.iview-multimedia.com/mediapro/1.0/"
TAGSIGHT = "http://ns.tagsight.org/xmp/1.0/"  # an identifier, never fetched

PREFIXES = {
    X: "x",
    RDF: "rdf",
    DC: "dc",
    LR: "lr",
    DIGIKAM: "digiKam",
    MSPHOTO: "MicrosoftPhoto",
    MEDIAPRO: "mediapro",
    TAGSIGHT: "tagsight",
    "http://www.w3.org/XML/1998/namespace": "xml",
}

SEPARATOR = "|"
PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"  # the fixed id of every XMP packet (XMP spec part 1)


class XmpError(Exception):
    """An existing sidecar could not be merged; it was left untouched."""


@dataclass(frozen=True)
class _TagProperty:
    namespace: str
    name: str
    container: str  # "Bag" or "Seq"
    render: Callable[[str], str]  # hierarchical path -> the value stored in this property
    create: str  # "always", "hierarchy" (when a tag has a parent) or "existing"

    @property
    def qname(self) -> str:
        return f"{{{self.namespace}}}{self.name}"


_TAG_PROPERTIES = (
    _TagProperty(DC, "subject", "Bag", lambda t: t.split(SEPARATOR)[-1], "always"),
    _TagProperty(LR, "hierarchicalSubject", "Bag", lambda t: t, "hierarchy"),
    _TagProperty(DIGIKAM, "TagsList", "Seq", lambda t: t.replace("/", "\\").replace(SEPARATOR, "/"), "existing"),
    _TagProperty(MSPHOTO, "LastKeywordXMP", "Bag", lambda t: t.replace("/", "\\").replace(SEPARATOR, "/"), "existing"),
    _TagProperty(MEDIAPRO, "CatalogSets", "Bag", lambda t: t, "existing"),
)
_MANAGED = _TagProperty(TAGSIGHT, "ManagedTags", "Bag", lambda t: t, "always")


def sidecar_path(
    image_path: Path, *, out_dir: Path | None = None, root: Path | None = None, keep_extension: bool = False
) -> Path:
    """`NAME.xmp` (or `NAME.ext.xmp`) next to the image, or under `out_dir` at the image's
    path relative to `root` (just the file name when `root` is None)."""
    image_path = Path(image_path)
    name = image_path.name + ".xmp" if keep_extension else image_path.stem + ".xmp"
    if out_dir is None:
        return image_path.parent / name
    relative = image_path.parent.relative_to(root) if root is not None else Path()
    return Path(out_dir) / relative / name


def write_sidecar(
    image_path: Path,
    tags: Iterable[str],
    *,
    out_dir: Path | None = None,
    root: Path | None = None,
    keep_extension: bool = False,
) -> Path | None:
    """Write (or merge into) the sidecar of `image_path`; returns its path, or None when there
    was nothing to write (no tags and no sidecar yet). See the module docstring for the rules."""
    target = sidecar_path(image_path, out_dir=out_dir, root=root, keep_extension=keep_extension)
    ours = list(dict.fromkeys(t.strip() for t in tags if t and t.strip()))
    existing = target.read_bytes() if target.exists() else None
    if existing is None and not ours:
        return None
    data = merge_sidecar(existing, ours, name=str(target))
    if data == existing:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    return target


def read_tags(sidecar: Path) -> dict[str, list[str]]:
    """The tag properties of a sidecar ("dc:subject", "lr:hierarchicalSubject", ...) -> values."""
    root, _ = _parse(sidecar.read_bytes(), str(sidecar))
    found = {}
    for prop in (*_TAG_PROPERTIES, _MANAGED):
        values = _values(root, prop)
        if values is not None:
            found[f"{PREFIXES[prop.namespace]}:{prop.name}"] = values
    return found


def merge_sidecar(existing: bytes | None, tags: list[str], *, name: str = "sidecar") -> bytes:
    """The new sidecar bytes for `tags` merged into `existing` (None: a new sidecar)."""
    if existing is None:
        root, prefixes = _new_packet(), {}
    else:
        root, prefixes = _parse(existing, name)
    description = _description(root)
    previously = set(_values(root, _MANAGED) or [])
    old_subjects = set(_values(root, _TAG_PROPERTIES[0]) or [])
    # Claim only what we wrote before or what is not there yet: never delete another's keyword.
    managed = [t for t in tags if t in previously or _TAG_PROPERTIES[0].render(t) not in old_subjects]
    has_hierarchy = any(SEPARATOR in t for t in tags)
    for prop in _TAG_PROPERTIES:
        old = _values(root, prop)
        wanted = prop.create == "always" or (prop.create == "hierarchy" and has_hierarchy)
        if old is None and not wanted:
            continue
        drop = {prop.render(t) for t in previously} | {prop.render(t) for t in tags}
        values = [v for v in (old or []) if v not in drop] + [prop.render(t) for t in tags]
        _set_values(root, description, prop, list(dict.fromkeys(values)))
    _set_values(root, description, _MANAGED, managed)
    return _serialize(root, prefixes)


# -- parsing --------------------------------------------------------------------------------------


def _parse(data: bytes, name: str) -> tuple[ET.Element, dict[str, str]]:
    """The root element (comments kept) and the prefixes the file declared (uri -> prefix)."""
    prefixes: dict[str, str] = {}
    try:
        for _event, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
            if prefix and uri not in prefixes:
                prefixes[uri] = prefix
        parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as exc:
        raise XmpError(f"{name}: not well-formed XML ({exc}); left untouched") from exc
    if root.tag not in (f"{{{X}}}xmpmeta", f"{{{X}}}xapmeta", f"{{{RDF}}}RDF"):
        raise XmpError(f"{name}: not an XMP packet (root element {root.tag}); left untouched")
    if root.tag != f"{{{RDF}}}RDF" and root.find(f"{{{RDF}}}RDF") is None:
        raise XmpError(f"{name}: no rdf:RDF element; left untouched")
    return root, prefixes


_NEW_PACKET = f"""<x:xmpmeta xmlns:x="{X}" x:xmptk="tagsight">
 <rdf:RDF xmlns:rdf="{RDF}">
  <rdf:Description rdf:about="">
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"""


def _new_packet() -> ET.Element:
    return ET.fromstring(_NEW_PACKET)


def _rdf(root: ET.Element) -> ET.Element:
    return root if root.tag == f"{{{RDF}}}RDF" else root.find(f"{{{RDF}}}RDF")  # type: ignore[return-value]


def _description(root: ET.Element) -> ET.Element:
    rdf = _rdf(root)
    found = rdf.find(f"{{{RDF}}}Description")
    if found is None:
        found = ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    return found


def _values(root: ET.Element, prop: _TagProperty) -> list[str] | None:
    """All values of a property across every rdf:Description; None when it is absent."""
    found: list[str] | None = None
    for description in _rdf(root).iter(f"{{{RDF}}}Description"):
        if prop.qname in description.attrib:
            found = (found or []) + [description.attrib[prop.qname]]
        for element in description.findall(prop.qname):
            found = found or []
            items = [li for container in element for li in container.findall(f"{{{RDF}}}li")]
            if items:
                for li in items:
                    text = li.text if (li.text or "").strip() else li.findtext(f"{{{RDF}}}value", "")
                    if text and text.strip():
                        found.append(text.strip())
            elif (element.text or "").strip():
                found.append(element.text.strip())  # type: ignore[union-attr]
    return found


def _set_values(root: ET.Element, description: ET.Element, prop: _TagProperty, values: list[str]) -> None:
    """Replace every occurrence of the property by one container with `values` (none: removed).

    The new element takes the place of the first old one, so the file keeps its layout; a new
    property goes at the end of the main description."""
    home: ET.Element | None = None
    index = 0
    for desc in _rdf(root).iter(f"{{{RDF}}}Description"):
        if desc.attrib.pop(prop.qname, None) is not None and home is None:
            home, index = desc, len(desc)
        for element in desc.findall(prop.qname):
            if home is None:
                home, index = desc, list(desc).index(element)
            _remove(desc, element)
    if not values:
        return
    element = ET.Element(prop.qname)
    container = ET.SubElement(element, f"{{{RDF}}}{prop.container}")
    for value in values:
        ET.SubElement(container, f"{{{RDF}}}li").text = value
    parent = home if home is not None else description
    index = min(index, len(parent)) if home is not None else len(parent)
    parent.insert(index, element)
    _indent(parent, index)


def _blank(text: str | None) -> str | None:
    return text if text is not None and not text.strip() and "\n" in text else None


def _remove(parent: ET.Element, element: ET.Element) -> None:
    """Remove a child; when it was the last one, its tail (the closing indentation) moves up."""
    children = list(parent)
    last = children[-1] is element
    position = children.index(element)
    parent.remove(element)
    if last:
        if position > 0:
            children[position - 1].tail = element.tail
        else:
            parent.text = element.tail


def _indent(parent: ET.Element, index: int) -> None:
    """Indent the new child at `index` like its siblings, touching no other text."""

    def before(i: int) -> str | None:
        return parent.text if i == 0 else parent[i - 1].tail

    def set_before(i: int, value: str) -> None:
        if i == 0:
            parent.text = value
        else:
            parent[i - 1].tail = value

    element = parent[index]
    if len(parent) == 1:  # the only child: the parent's text was its closing indentation
        closing = _blank(parent.text) or "\n"
        pad = closing + " "
    elif index < len(parent) - 1:  # in the middle: indented like the next sibling
        pad = closing = _blank(before(index)) or "\n "
    else:  # after the last sibling, whose tail was the closing indentation
        closing = _blank(before(index)) or "\n"
        pad = _blank(before(index - 1)) or closing + " "
    set_before(index, pad)
    element.tail = closing
    container = element[0]
    element.text = pad + " "
    container.text = pad + "  "
    for li in container:
        li.tail = pad + "  "
    container[-1].tail = pad + " "
    container.tail = pad


# -- serializing ----------------------------------------------------------------------------------


def _serialize(root: ET.Element, declared: dict[str, str]) -> bytes:
    """The packet: xpacket wrapper, all namespaces declared on the root, UTF-8."""
    uris = _namespaces(root)
    names: dict[str, str] = {}
    taken: set[str] = set()
    for uri in sorted(uris, key=lambda u: (u not in PREFIXES, u not in declared, u)):
        prefix = PREFIXES.get(uri) or declared.get(uri) or "ns"
        base, n = prefix, 0
        while prefix in taken:
            n += 1
            prefix = f"{base}{n}"
        names[uri] = prefix
        taken.add(prefix)
    out = io.StringIO()
    out.write(f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>\n')
    _write_element(out, root, names, declare=True)
    out.write('\n<?xpacket end="w"?>\n')
    return out.getvalue().encode("utf-8")


def _namespaces(root: ET.Element) -> set[str]:
    uris = set()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            uris.add(element.tag[1:].split("}", 1)[0])
        for key in element.attrib:
            if key.startswith("{"):
                uris.add(key[1:].split("}", 1)[0])
    uris.discard("http://www.w3.org/XML/1998/namespace")
    return uris


def _qname(name: str, names: dict[str, str]) -> str:
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    if uri == "http://www.w3.org/XML/1998/namespace":
        return f"xml:{local}"
    return f"{names[uri]}:{local}"


def _write_element(out: io.StringIO, element: ET.Element, names: dict[str, str], declare: bool = False) -> None:
    if element.tag is ET.Comment:
        out.write(f"<!--{element.text or ''}-->")
    elif element.tag is ET.ProcessingInstruction:
        out.write(f"<?{element.text or ''}?>")
    else:
        out.write(f"<{_qname(element.tag, names)}")
        if declare:
            for uri, prefix in sorted(names.items(), key=lambda kv: kv[1]):
                out.write(f" xmlns:{prefix}={quoteattr(uri)}")
        for key, value in element.attrib.items():
            out.write(f" {_qname(key, names)}={quoteattr(value)}")
        if len(element) == 0 and not element.text:
            out.write("/>")
        else:
            out.write(">")
            if element.text:
                out.write(escape(element.text))
            for child in element:
                _write_element(out, child, names)
            out.write(f"</{_qname(element.tag, names)}>")
    if element.tail and not declare:
        out.write(escape(element.tail))
