"""The label taxonomy file: dimensions, classes with descriptions, example texts and cue patterns."""

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")


class TaxonomyError(ValueError):
    """The taxonomy file is malformed."""


@dataclass(frozen=True)
class LabelClass:
    name: str
    description: str
    examples: tuple[str, ...]
    cues: tuple[str, ...] = ()  # regular expressions, matched case-insensitively
    rolls_up_to: str | None = None  # the class of the dimension's `rolls_up_to` dimension it belongs to

    @property
    def training_texts(self) -> tuple[str, ...]:
        return (self.description, *self.examples)


STUDY_GATE = (("relevance", "relevant"),)  # what makes an item's own text part of the study


@dataclass(frozen=True)
class Dimension:
    name: str
    description: str
    classes: tuple[LabelClass, ...]
    # Labelled only where another dimension has one of these labels, e.g. {"relevance": "relevant"}.
    applies_when: tuple[tuple[str, str], ...] = ()
    # Also labelled on a reply in a stigma-related thread whose own text fails `applies_when` (the fact gates
    # it by the reply's stigma_scope; the label store keeps it for every text).
    thread_scope: bool = False
    rolls_up_to: str | None = None  # a coarser dimension each class belongs to a class of (source -> domain)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def cues(self) -> tuple[str, ...]:
        """Every class's cue patterns, in class order: one feature group each."""
        return tuple(cue for c in self.classes for cue in c.cues)


@dataclass(frozen=True)
class Taxonomy:
    version: str
    dimensions: tuple[Dimension, ...]
    source: str

    def dimension(self, name: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise KeyError(f"no dimension {name!r} in taxonomy {self.source} (has {self.dimension_names})")

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)


def load_taxonomy(path: Path = DEFAULT_TAXONOMY_PATH) -> Taxonomy:
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "version" not in document or "dimensions" not in document:
        raise TaxonomyError(f"{path}: needs top-level 'version' and 'dimensions'")
    applies_when = document.get("applies_when") or {}
    thread_scope = set(document.get("thread_scope") or ())
    dimensions = []
    for name, spec in document["dimensions"].items():
        classes = tuple(
            LabelClass(
                name=class_name,
                description=str(class_spec.get("description", "")).strip(),
                examples=tuple(str(e) for e in class_spec.get("examples") or ()),
                cues=tuple(str(c) for c in class_spec.get("cues") or ()),
                rolls_up_to=class_spec.get("rolls_up_to"),
            )
            for class_name, class_spec in (spec.get("classes") or {}).items()
        )
        if len(classes) < 2:
            raise TaxonomyError(f"{path}: dimension {name!r} needs at least two classes")
        for label_class in classes:
            if not label_class.description and not label_class.examples:
                raise TaxonomyError(f"{path}: class {name}.{label_class.name} has no description or examples")
            for cue in label_class.cues:
                try:
                    re.compile(cue)
                except re.error as error:
                    raise TaxonomyError(f"{path}: cue {cue!r} of {name}.{label_class.name}: {error}") from None
        dimensions.append(
            Dimension(
                name=name,
                description=str(spec.get("description", "")),
                classes=classes,
                applies_when=tuple((applies_when.get(name) or {}).items()),
                thread_scope=name in thread_scope,
                rolls_up_to=spec.get("rolls_up_to"),
            )
        )
    names = {d.name: d for d in dimensions}
    # The fact shows a thread-scope dimension where the item is in the study (stigma_scope: its own text or
    # its thread relevant), so it must be one the study's gate (relevance: relevant) applies to.
    for name in sorted(thread_scope):
        if name not in names or names[name].applies_when != STUDY_GATE:
            raise TaxonomyError(
                f"{path}: thread_scope names {name!r}, which is no dimension gated on relevance: relevant"
            )
    for dimension in dimensions:
        if len(dimension.applies_when) > 1:  # the marts count each dimension over one gated population
            raise TaxonomyError(f"{path}: applies_when of {dimension.name!r} has more than one condition")
        for other, label in dimension.applies_when:
            if other not in names or label not in names[other].class_names:
                raise TaxonomyError(f"{path}: applies_when of {dimension.name!r} names unknown {other}={label}")
        if dimension.rolls_up_to:
            coarse = names.get(dimension.rolls_up_to)
            wrong = [c.name for c in dimension.classes if coarse is None or c.rolls_up_to not in coarse.class_names]
            if wrong:
                raise TaxonomyError(
                    f"{path}: {dimension.name} rolls up to {dimension.rolls_up_to!r}, but classes {wrong} name no"
                    " class of it"
                )
    return Taxonomy(version=str(document["version"]), dimensions=tuple(dimensions), source=str(path))
