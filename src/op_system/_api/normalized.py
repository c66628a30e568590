"""Spec validation and normalization: `normalize_rhs` and `NormalizedRhs`.

`normalize_rhs(spec)` validates a spec mapping and returns a `NormalizedRhs`.
The normalized object keeps the validated model (templates, IR) for the
compiler; its 0.1.2-compatible string views (`equations`, `aliases`,
`all_symbols`, the expanded `meta["transitions"]`) are rendered on first access.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .._core.build import build_model
from .._core.model import Model, transition_base
from .._core.timevarying import full_axes, table_shape
from .._spec.io import SpecDict, annotate, locate
from .._spec.meta import ConstraintRule
from .._spec.meta import normalize_constraints as _normalize_constraints_impl
from .._support.errors import (
    OpSystemError,
    SpecError,
    UnsupportedFeatureError,
    did_you_mean,
)

__all__ = [
    "ConstraintRule",
    "NormalizedRhs",
    "normalize_expr_rhs",
    "normalize_rhs",
    "normalize_transitions_rhs",
]

_UNSET: Any = object()


class NormalizedRhs:
    """A validated, normalized right-hand-side specification.

    Attributes:
        kind: `"expr"` or `"transitions"`.
        state_names: Expanded state names, in state-vector order
            (`S[age]` over `age: [y, o]` gives `S__age_y`, `S__age_o`).
        equations: One expression string per state (rendered on first access).
        aliases: Expanded alias name → expression string (rendered on first access).
        param_names: Sorted expanded parameter names (`beta__age_y` for `beta[age]`).
        all_symbols: Every name the expressions use, plus alias names.
        meta: Axes, kernels, operators, reserved blocks, `initial_state`, and for
            transitions models the expanded transitions.

    Objects built by `normalize_rhs` carry the validated model used by
    `compile_rhs`. A `NormalizedRhs` can also be constructed directly from
    expanded strings, as in 0.1.2; `compile_rhs` then parses those strings.

    !!! example
        ```python
        >>> rhs = normalize_rhs({
        ...     "kind": "transitions",
        ...     "state": ["S", "I", "R"],
        ...     "transitions": [
        ...         {"from": "S", "to": "I", "rate": "beta * I / sum_state()"},
        ...         {"from": "I", "to": "R", "rate": "gamma"},
        ...     ],
        ... })
        >>> rhs
        NormalizedRhs(kind='transitions', n_state=3, states=['S', 'I', 'R'], params=['beta', 'gamma'])
        >>> rhs.equations[1]
        '((beta * I / sum_state())*(S)) -((gamma)*(I))'

        ```
    """

    __slots__ = (
        "_aliases",
        "_all_symbols",
        "_equations",
        "_meta",
        "_meta_base",
        "_model",
        "_param_names",
        "_spec",
        "kind",
        "state_names",
    )

    # Set once in __init__ (via object.__setattr__); the lazily rendered views
    # hold the `_UNSET` sentinel until first access.
    kind: str
    state_names: tuple[str, ...]
    _param_names: tuple[str, ...]
    _equations: tuple[str, ...]
    _aliases: dict[str, str]
    _all_symbols: frozenset[str]
    _meta: dict[str, Any]
    _meta_base: Mapping[str, Any]
    _model: Model | None
    _spec: Any

    def __init__(
        self,
        kind: str,
        state_names: tuple[str, ...],
        equations: tuple[str, ...] | None = None,
        aliases: Mapping[str, str] | None = None,
        param_names: tuple[str, ...] | None = None,
        all_symbols: frozenset[str] | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        _model: Model | None = None,
    ) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "state_names", tuple(state_names))
        object.__setattr__(
            self,
            "_param_names",
            tuple(param_names) if param_names is not None else _UNSET,
        )
        object.__setattr__(
            self, "_equations", tuple(equations) if equations is not None else _UNSET
        )
        object.__setattr__(
            self, "_aliases", dict(aliases) if aliases is not None else _UNSET
        )
        object.__setattr__(
            self,
            "_all_symbols",
            frozenset(all_symbols) if all_symbols is not None else _UNSET,
        )
        object.__setattr__(self, "_meta", dict(meta) if meta is not None else _UNSET)
        object.__setattr__(
            self, "_meta_base", _model.meta if _model is not None else {}
        )
        object.__setattr__(self, "_model", _model)
        object.__setattr__(
            self, "_spec", None
        )  # the spec normalize_rhs validated (a copy), for pickling
        if _model is None and equations is None:
            raise TypeError(
                "NormalizedRhs needs equations (or be built by normalize_rhs)"
            )

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"NormalizedRhs is immutable (cannot set {key!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the spec it was normalized from (normalized again on load).

        A `NormalizedRhs` constructed by hand pickles as its constructor arguments.
        """
        if self._spec is not None:
            return (_unpickle_normalized, (self._spec, self.kind))
        if self._model is not None:
            raise TypeError(
                "cannot pickle a NormalizedRhs whose spec is unknown; build it with normalize_rhs"
            )

        def given(value: Any) -> Any:
            return None if value is _UNSET else value

        args = (
            self.kind,
            self.state_names,
            given(self._equations),
            given(self._aliases),
            given(self._param_names),
            given(self._all_symbols),
            given(self._meta),
        )
        return (NormalizedRhs, args)

    @property
    def param_names(self) -> tuple[str, ...]:
        if self._param_names is _UNSET:
            names: set[str] = set()
            if self._model is not None:
                for p in self._model.params.values():
                    names.update(p.used_names())
            object.__setattr__(self, "_param_names", tuple(sorted(names)))
        return self._param_names

    @property
    def equations(self) -> tuple[str, ...]:
        if self._equations is _UNSET:
            from .._views.render import render_equations

            object.__setattr__(self, "_equations", render_equations(self._model))  # type: ignore[arg-type]
        return self._equations

    @property
    def aliases(self) -> dict[str, str]:
        if self._aliases is _UNSET:
            from .._views.render import render_aliases

            object.__setattr__(
                self,
                "_aliases",
                render_aliases(self._model) if self._model is not None else {},
            )
        return self._aliases

    @property
    def all_symbols(self) -> frozenset[str]:
        if self._all_symbols is _UNSET:
            from .._views.render import render_symbols

            object.__setattr__(
                self, "_all_symbols", render_symbols(self.equations, self.aliases)
            )
        return self._all_symbols

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is _UNSET:
            meta = dict(self._meta_base)
            if self.kind == "transitions" and self._model is not None:
                from .._views.render import render_transitions_meta

                meta["transitions"] = render_transitions_meta(self._model)
            object.__setattr__(self, "_meta", meta)
        return self._meta

    @property
    def fingerprint(self) -> str:
        """A stable SHA-256 of the normalized model, for caching compiled functions.

        Equal for equal specs (in any process, any Python hash seed); it changes
        when anything that affects the right-hand side changes.
        """
        import hashlib
        import json

        from .._lang.ir import to_source

        m = self._model
        if m is None:
            payload: Any = [
                self.kind,
                self.state_names,
                self.equations,
                sorted(self.aliases.items()),
            ]
        else:

            def src(node: Any) -> str | None:
                return None if node is None else to_source(node)

            payload = {
                "kind": m.kind,
                "states": m.state_names,
                "axes": [(a.name, a.kind, a.coords, a.values) for a in m.axes.values()],
                "aliases": [
                    (
                        a.base,
                        [x.name for x in a.axes],
                        src(a.expr),
                        [to_source(c) for c in a.cells or ()],
                    )
                    for a in m.aliases.values()
                ],
                "params": [
                    (p.base, [x.name for x in p.axes]) for p in m.params.values()
                ],
                "equations": [
                    (
                        e.block.base,
                        src(e.expr),
                        sorted((k, src(v[0])) for k, v in e.overrides.items()),
                        None if e.run is None else [src(r) for r in e.run.rates],
                    )
                    for e in m.equations
                ],
                "transitions": [
                    [
                        [(d.name, d.subset) for d in t.dims],
                        src(t.src),
                        src(t.dst),
                        src(t.rate),
                        None if t.run is None else t.run.block.base,
                        # (only a reaction has this entry: other models' prints stay)
                        *([] if t.reaction is None else [t.reaction.text]),
                    ]
                    for t in m.transitions
                ],
                "kernels": sorted(
                    (k, json.dumps(v, sort_keys=True, default=str))
                    for k, v in m.kernels.items()
                ),
            }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> str:
        """A readable summary: states by axis, parameters with shapes, aliases, flows.

        !!! example
            ```python
            >>> rhs = normalize_rhs({
            ...     "kind": "transitions",
            ...     "axes": [{"name": "age", "coords": ["young", "old"]}],
            ...     "state": ["S[age]", "I[age]"],
            ...     "transitions": [{"from": "S[age]", "to": "I[age]", "rate": "beta[age] * I[age]"}],
            ... })
            >>> print(rhs.describe())
            transitions model: 4 states, 2 parameter values
            axes:
              age (categorical, 2): young, old
            states:
              S[age]  (2 cells, y[0:2])
              I[age]  (2 cells, y[2:4])
            parameters:
              beta[age]  shape (2,)
            transitions:
              S[age] -> I[age]  at  beta[age] * I[age]

            ```
        """
        from .._lang.ir import to_source

        m = self._model
        lines = [
            f"{self.kind} model: {len(self.state_names)} states, {len(self.param_names)} parameter values"
        ]
        if m is None:
            lines.append("states: " + ", ".join(self.state_names))
            return "\n".join(lines)
        if m.axes:
            lines.append("axes:")
            for ax in m.axes.values():
                coords = ", ".join(ax.coords[:8]) + (", ..." if ax.size > 8 else "")
                lines.append(f"  {ax.name} ({ax.kind}, {ax.size}): {coords}")
        lines.append("states:")
        for b in m.blocks:
            if b.custom is not None:
                label = f"{b.custom[0]}..{b.custom[-1]}  (chain of {b.size}"
            elif b.axes:
                label = f"{b.base}[{','.join(a.name for a in b.axes)}]  ({b.size} cells"
            else:
                label = f"{b.base}  (1 cell"
            counts = next((c for c in m.counters if c.block is b), None)
            what = (
                ""
                if counts is None
                else f"; counts {', '.join(sorted({transition_base(t.name_text or '') for t in counts.transitions}))}"
            )
            lines.append(f"  {label}, y[{b.offset}:{b.offset + b.size}]{what})")
        if m.params:
            lines.append("parameters:")
            for p in m.params.values():
                if p.time_varying and m.time_axis is not None:
                    # the shape to pass: the table over the time axis's own grid
                    ax = m.time_axis
                    shape = table_shape(p.shape, p.time_pos or 0, ax.size)
                    lines.append(
                        f"  {p.base}[{','.join(full_axes(p, ax.name))}]  shape {shape}"
                        f" (a table over {ax.name}, {p.interpolation})"
                    )
                elif p.axes:
                    lines.append(
                        f"  {p.base}[{','.join(a.name for a in p.axes)}]  shape {p.shape}"
                    )
                else:
                    lines.append(f"  {p.base}")
        if m.aliases:
            lines.append("aliases:")
            for a in m.aliases.values():
                key = (
                    f"{a.base}[{','.join(x.name for x in a.axes)}]"
                    if a.axes
                    else a.base
                )
                body = to_source(a.expr) if a.expr is not None else "(cell by cell)"
                lines.append(f"  {key} = {body}")
        if m.kind == "transitions":
            lines.append("transitions:")
            runs: set[int] = set()
            for t in m.transitions:
                if t.run is not None:  # a chain's stages: one line for them all
                    if id(t.run) not in runs:
                        runs.add(id(t.run))
                        names = t.run.block.names()
                        lines.append(
                            f"  {names[0]} -> ... -> {names[-1]}  (chain forward flows)"
                        )
                elif t.reaction is not None:
                    lines.append(
                        f"  {t.reaction.text}  at  {to_source(t.rate)} (mass action)"
                    )
                else:
                    lines.append(
                        f"  {'∅' if t.src is None else to_source(t.src)} -> "
                        f"{'∅' if t.dst is None else to_source(t.dst)}  at  {to_source(t.rate)}"
                    )
        else:
            lines.append("equations:")
            for e in m.equations:
                b = e.block
                if e.run is not None:
                    stages = b.names()  # a chain block's stage names
                    lines.append(f"  {stages[0]}..{stages[-1]}: chain (auto-filled)")
                    continue
                key = (
                    f"{b.base}[{','.join(a.name for a in b.axes)}]"
                    if b.axes
                    else b.base
                )
                if e.expr is not None:
                    lines.append(f"  d{key}/dt = {to_source(e.expr)}")
                if e.overrides:
                    lines.append(f"    ({len(e.overrides)} cell(s) overridden)")
        return "\n".join(lines)

    @property
    def n_state(self) -> int:
        """Number of (expanded) states."""
        return len(self.state_names)

    def __repr__(self) -> str:
        states = list(self.state_names[:6]) + (
            ["..."] if len(self.state_names) > 6 else []
        )
        params = list(self.param_names[:6]) + (
            ["..."] if len(self.param_names) > 6 else []
        )
        return (
            f"NormalizedRhs(kind={self.kind!r}, n_state={len(self.state_names)}, "
            f"states={states}, params={params})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalizedRhs):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.state_names == other.state_names
            and self.param_names == other.param_names
            and self.equations == other.equations
            and dict(self.aliases) == dict(other.aliases)
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.state_names, self.param_names))


def _from_model(model: Model) -> NormalizedRhs:
    return NormalizedRhs(model.kind, model.state_names, _model=model)


def normalize_rhs(spec: Mapping[str, Any] | None) -> NormalizedRhs:
    """Validate and normalize a spec mapping (`kind: expr` by default, or `transitions`).

    Raises `SpecError`/`ExpressionError` (both `ValueError`) naming the spec
    path and token, or `UnsupportedFeatureError` (`NotImplementedError`) for an
    unknown `kind`.
    """
    if spec is None:
        raise SpecError("rhs specification is required", path="<spec>")
    if not isinstance(spec, Mapping):
        raise SpecError(
            f"rhs specification must be a mapping, got {type(spec).__name__}",
            path="<spec>",
        )
    kind = str(spec.get("kind", "expr")).strip().lower()
    if kind == "expr":
        return normalize_expr_rhs(spec)
    if kind == "transitions":
        return normalize_transitions_rhs(spec)
    raise UnsupportedFeatureError(
        f"Feature 'rhs.kind={kind}' is not supported. Detail: Only 'expr' and 'transitions' are supported in v1."
        f"{did_you_mean(kind, ('expr', 'transitions'))}",
        path="kind",
        token=kind,
    )


def _build(spec: Mapping[str, Any], kind: str) -> NormalizedRhs:
    from .._support.errors import SPEC_LOCATOR

    # loaded from a file: warnings say where
    token = SPEC_LOCATOR.set(
        (lambda path: locate(spec, path)) if isinstance(spec, SpecDict) else None
    )
    try:
        rhs = _from_model(build_model(spec, kind))
    except OpSystemError as exc:
        if isinstance(spec, SpecDict):  # loaded from a file: say where
            raise annotate(exc, spec) from None
        raise
    finally:
        SPEC_LOCATOR.reset(token)
    try:  # a copy: later changes to the caller's dict must not change what pickles
        spec_copy: Any = copy.deepcopy(dict(spec))
    except Exception:  # an uncopyable value: keep the mapping itself
        spec_copy = spec
    object.__setattr__(rhs, "_spec", spec_copy)
    return rhs


def _unpickle_normalized(spec: Mapping[str, Any], kind: str) -> NormalizedRhs:
    import warnings

    from .._support.errors import SpecWarning

    with warnings.catch_warnings():  # said when the spec was first normalized
        warnings.simplefilter("ignore", SpecWarning)
        return _build(spec, kind)


def normalize_expr_rhs(spec: Mapping[str, Any]) -> NormalizedRhs:
    """Normalize an expression-style spec: one equation per (templated) state."""
    return _build(spec, "expr")


def normalize_transitions_rhs(spec: Mapping[str, Any]) -> NormalizedRhs:
    """Normalize a transitions-style spec: flows `from → to` at `rate * from`."""
    return _build(spec, "transitions")


def _normalize_constraints(
    raw_constraints: object, *, axes: list[dict[str, Any]]
) -> list[ConstraintRule]:
    """Validate a `constraints` block (kept under its 0.1.2 name)."""
    return _normalize_constraints_impl(raw_constraints, axes=axes)
