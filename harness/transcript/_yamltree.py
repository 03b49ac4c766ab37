"""YAML to plain data, remembering the line of every value (pyyaml's composer keeps marks).

``load_documents`` returns, per YAML document, the constructed value and a map from a
path (tuple of keys and indices, as jsonschema reports it) to the 1-based line where that
value starts, plus the style of every scalar (the loader checks that raw bytes are written
double-quoted). Duplicate keys, which pyyaml silently accepts, are errors here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class YamlTreeError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Document:
    value: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    styles: dict[Path_, str | None] = field(default_factory=dict)
    line: int = 1

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.line


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. In YAML 1.1 a bare ``NO`` (an IMAP status!),
    ``no``, ``on`` or ``off`` would silently become a boolean."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_documents(text: str) -> list[Document]:
    loader = _Loader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said a document follows
            document = Document(None, line=node.start_mark.line + 1)
            document.value = _build(loader, node, (), document)
            documents.append(document)
        return documents
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlTreeError(str(exc.problem or exc), (mark.line + 1) if mark else 1) from None
    except yaml.YAMLError as exc:
        raise YamlTreeError(str(exc), 1) from None
    finally:
        loader.dispose()


def _build(loader: _Loader, node: yaml.Node, path: Path_, doc: Document) -> Any:
    doc.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves "<<" merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | bool | float):
                line = key_node.start_mark.line + 1
                raise YamlTreeError("mapping keys must be plain scalars", line)
            key = str(key) if not isinstance(key, str) else key
            if key in result:
                raise YamlTreeError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            result[key] = _build(loader, value_node, (*path, key), doc)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, index), doc) for index, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)  # the only other kind of node
    doc.styles[path] = node.style
    return loader.construct_object(node, deep=True)
