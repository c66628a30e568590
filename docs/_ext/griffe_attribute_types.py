"""Griffe extension used by the docs build (not part of op_system).

griffe's Google-style parser fills in the type of an `Attributes:` entry
without a type from the class member of that name; when there is no such
member it reuses the previous entry's type, so the API page would show wrong
types (e.g. `eval_fn (tuple[str, ...])`). This extension re-derives each
entry's type: the one written in the docstring, else the member's annotation,
else none.
"""

from __future__ import annotations

import re
from typing import Any

import griffe


class AttributeTypes(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            for member in obj.members.values():
                if not member.is_alias and (member.is_module or member.is_class):
                    stack.append(member)
            if obj.is_class and obj.docstring is not None:
                self._fix(obj)

    @staticmethod
    def _fix(cls: griffe.Object) -> None:
        text = cls.docstring.value  # type: ignore[union-attr]
        for section in cls.docstring.parsed:  # type: ignore[union-attr]
            if section.kind is not griffe.DocstringSectionKind.attributes:
                continue
            for attr in section.value:
                if re.search(rf"^\s*{re.escape(attr.name)}\s*\(", text, re.M):
                    continue  # type written in the docstring: keep it
                member = cls.members.get(attr.name)
                annotation = None
                if member is not None and not member.is_alias:
                    annotation = getattr(member, "annotation", None)
                attr.annotation = annotation
