"""Build a validated `Model` from a raw spec mapping (the work behind `normalize_rhs`).

Validation follows op-system 0.1.2 (same checks, same message fragments), with
extra checks that 0.1.2 lacked; every error names the spec path and the token.
Templates are kept as templates: nothing here loops over the cells of a model
except the computation of `state_names`, which the public API exposes.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from ._axes import Axis, normalize_axes
from ._chains import _expr_chains, _transition_chains
from ._errors import (
    ExpressionError,
    SpecError,
    UnsupportedFeatureError,
    _outside_package,
    did_you_mean,
)
from ._gcpause import paused_gc
from ._ir import Call, IndexItem, Invalid, Name, Node, Reduce, Ref, children
from ._meta import normalize_kernels, normalize_operators, normalize_state_axes
from ._model import (
    INLINE_RE,
    AliasDef,
    Block,
    ChainFlow,
    Counter,
    Dim,
    EquationDef,
    Model,
    ParamDef,
    TransitionDef,
    subst_text,
    transition_base,
)
from ._parse import parse_expr
from ._templates import (
    _TEMPLATE_RE,
    RESERVED_NAMES,
    _check_ident,
    _parse_template,
    reduce_dim,
)
from ._timevarying import time_axis, time_varying

__all__ = ["RESERVED_NAMES", "build_model", "subst_text"]


def _str_list(x: object, name: str) -> list[str]:
    if not isinstance(x, (list, tuple)):
        raise SpecError(f"{name} must be a list of strings", path=name)
    out = []
    for i, v in enumerate(x):
        if not isinstance(v, str) or not v.strip():
            raise SpecError(
                f"{name}[{i}] must be a non-empty string, got {type(v).__name__} {v!r:.40}",
                path=f"{name}[{i}]",
                token=repr(v)[:40],
            )
        out.append(v.strip())
    return out


def _str_dict(x: object, name: str) -> dict[str, str]:
    if x is None:
        return {}
    if not isinstance(x, dict):
        raise SpecError(f"{name} must be a mapping of string->string", path=name)
    out: dict[str, str] = {}
    for k, v in x.items():
        if not isinstance(k, str) or not k.strip():
            raise SpecError(
                f"{name} keys must be non-empty strings", path=name, token=repr(k)
            )
        if not isinstance(v, str) or not v.strip():
            raise SpecError(
                f"{name}[{k!r}] must be a non-empty string",
                path=f"{name}[{k!r}]",
                token=repr(v),
            )
        out[k.strip()] = v.strip()
    return out


def normalize_key(key: str) -> str:
    """Canonical template key: `"u[x, y]"` → `"u[x,y]"`."""
    m = _TEMPLATE_RE.fullmatch(key) if "[" in key else None
    if not m:
        return key.strip()
    return f"{m.group(1)}[{','.join(p.strip() for p in m.group(2).split(','))}]"


def visit_scoped(
    node: Node,
    scope: tuple[Dim, ...],
    axes: dict[str, Axis],
    path: str,
    fn: Callable[[Node, tuple[Dim, ...]], None],
) -> None:
    """Call `fn(node, scope)` on every node, tracking reduction dimensions (iteratively)."""
    stack: list[tuple[Node, tuple[Dim, ...]]] = [(node, scope)]
    pop, push = stack.pop, stack.append
    while stack:
        cur, sc = pop()
        fn(cur, sc)
        if isinstance(cur, Reduce):
            push((cur.body, (*sc, reduce_dim(cur, axes, path))))
        else:
            kids = children(cur)
            for i in range(len(kids) - 1, -1, -1):
                push((kids[i], sc))


class _Builder:
    def __init__(self, spec: Mapping[str, Any], kind: str) -> None:
        if not isinstance(spec, Mapping):
            raise SpecError(
                f"rhs specification must be a mapping, got {type(spec).__name__}",
                path="<spec>",
            )
        self.spec = spec
        self.kind = kind
        state_raw = _str_list(spec.get("state"), "state")
        if not state_raw:
            raise SpecError(
                "state must be a non-empty list of state names", path="state"
            )
        if len(state_raw) != len(set(state_raw)):
            dup = next(s for s in state_raw if state_raw.count(s) > 1)
            raise SpecError(
                f"state contains duplicate names: {dup!r}", path="state", token=dup
            )
        self.state_raw = state_raw
        self.axes_meta, self.axes = normalize_axes(spec.get("axes"))
        self.blocks: list[Block] = []
        offset = 0
        for i, entry in enumerate(state_raw):
            base, axes = _parse_template(entry, self.axes, f"state[{i}]", "state")
            blk = Block(base, axes, offset, f"state[{i}]")
            self.blocks.append(blk)
            offset += blk.size
        self.aliases: dict[str, AliasDef] = {}
        self.params: dict[str, ParamDef] = {}

    # -- common ----------------------------------------------------------------
    def add_stage_block(self, name: str, path: str) -> None:
        _check_ident(name, path, "chain stage")
        last = self.blocks[-1] if self.blocks else None
        offset = last.offset + last.size if last else 0
        self.blocks.append(Block(name, (), offset, path))

    def add_chain_block(self, name: str, stages: list[str], path: str) -> Block | None:
        """One vectorized block for the stages `I1..Ik`; None if some stage already exists."""
        names_now = set(self.state_names())
        if any(s in names_now for s in stages):
            for s in stages:
                if s not in names_now:
                    self.add_stage_block(s, path)
            return None
        for s in stages:
            _check_ident(s, path, "chain stage")
        axis = Axis(
            f"_stage_{name}",
            "categorical",
            tuple(str(i) for i in range(1, len(stages) + 1)),
        )
        last = self.blocks[-1] if self.blocks else None
        offset = last.offset + last.size if last else 0
        blk = Block(
            f"{name}#chain{len(self.blocks)}", (axis,), offset, path, tuple(stages)
        )
        self.blocks.append(blk)
        return blk

    def state_names(self) -> list[str]:
        names: list[str] = []
        for b in self.blocks:
            names.extend(b.names())
        return names

    def check_unique_states(self, names: list[str]) -> None:
        if len(names) != len(set(names)):
            seen: set[str] = set()
            dup = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
            raise SpecError(
                "expanded state contains duplicates", path="state", token=dup
            )

    def common_meta(
        self, *, with_state_axes: bool
    ) -> tuple[dict[str, str], dict[str, Any]]:
        spec = self.spec
        aliases = _str_dict(spec.get("aliases"), "aliases")
        axis_names = {"subgroup"} | set(self.axes)
        meta_block = spec.get("meta")
        if meta_block is not None and not isinstance(meta_block, dict):
            raise SpecError("meta must be a mapping", path="meta")
        meta_get: Callable[[str], Any] = (
            (lambda k: meta_block.get(k)) if meta_block else (lambda k: None)
        )
        meta: dict[str, Any] = {}
        if self.kind == "transitions":
            meta["transitions"] = None  # placeholder: keeps 0.1.2's key order
        meta["axes"] = self.axes_meta
        if with_state_axes:
            state_set = set(self.state_raw) | {b.base for b in self.blocks}
            meta["state_axes"] = normalize_state_axes(
                spec.get("state_axes"), axis_names=axis_names, state_set=state_set
            )
        meta["kernels"] = normalize_kernels(
            spec.get("kernels") or meta_get("kernels"), axis_names=axis_names
        )
        operator_states = set(self.state_raw) | {
            n for b in self.blocks for n in (b.base, *b.names())
        }
        meta["operators"] = normalize_operators(
            spec.get("operators") or meta_get("operators"),
            axis_names=axis_names,
            state_set=operator_states,
        )
        for key in ("sources", "couplings", "constraints"):
            if key in spec:
                meta[key] = spec.get(key)
        if spec.get("constraints") is not None:
            from ._meta import normalize_constraints

            normalize_constraints(spec.get("constraints"), axes=self.axes_meta)
        return aliases, meta

    def build_aliases(self, raw: dict[str, str]) -> None:
        state_bases = {b.base for b in self.blocks}
        for key, text in raw.items():
            path = f"aliases[{key!r}]"
            base, axes = _parse_template(normalize_key(key), self.axes, path, "alias")
            if base in state_bases:
                raise SpecError(
                    f"alias {base!r} has the same name as a state",
                    path=path,
                    token=base,
                )
            if base in self.aliases:
                raise SpecError(
                    "expanded aliases contain duplicates", path=path, token=base
                )
            self.aliases[base] = AliasDef(base, axes, parse_expr(text, path=path), path)

    def attach_initial_state(self, meta: dict[str, Any]) -> None:
        raw = self.spec.get("initial_state")
        if raw is None:
            return
        if not isinstance(raw, dict):
            raise SpecError(
                "initial_state must be a mapping of state -> parameter",
                path="initial_state",
            )
        result: dict[str, str] = {}
        for key, val in raw.items():
            path = f"initial_state[{key!r}]"
            val_s = str(val).strip()
            if not val_s:
                raise SpecError(
                    f"initial_state[{key!r}] must be a non-empty string", path=path
                )
            base, axes = _parse_template(
                normalize_key(str(key)), self.axes, path, "initial_state"
            )
            if not axes:
                if base in result:
                    raise SpecError(
                        "expanded initial_state keys contain duplicates",
                        path=path,
                        token=base,
                    )
                result[base] = val_s
                continue
            blk = Block(base, axes, 0, path)
            for idx, name in zip(blk.cells(), blk.names(), strict=False):
                if name in result:
                    raise SpecError(
                        "expanded initial_state keys contain duplicates",
                        path=path,
                        token=name,
                    )
                assignment = {
                    ax.name: ax.coords[i] for ax, i in zip(axes, idx, strict=False)
                }
                result[name] = subst_text(val_s, assignment)
        meta["initial_state"] = result

    # -- parameters ---------------------------------------------------------------
    def collect_params(
        self, model: Model, exprs: list[tuple[Node, tuple[Dim, ...], str]]
    ) -> list[tuple[Node, tuple[Dim, ...], str]]:
        """Discover parameters: every name that is not a state, alias, cell or `t`.

        Returns every name, reference and `sum_prefix` call with its scope and
        path (one walk of the expressions, which `validate` reads).
        """
        refs: list[tuple[Ref, tuple[Dim, ...], str]] = []
        names: list[tuple[Name, str]] = []
        sites: list[tuple[Node, tuple[Dim, ...], str]] = []

        def fn(node: Node, scope: tuple[Dim, ...], path: str) -> None:
            cls = node.__class__
            if cls is Ref:
                sites.append((node, scope, path))
                base = node.base  # type: ignore[attr-defined]
                if base in model.kernels:
                    return
                if (
                    model.block(base) is None
                    and base not in model.aliases
                    and base not in model.flow_blocks
                ):
                    refs.append((node, scope, path))  # type: ignore[arg-type]
            elif cls is Name:
                sites.append((node, scope, path))
                ident = node.id  # type: ignore[attr-defined]
                if scope and any(
                    d.name == ident and d.name != d.axis.name for d in scope
                ):
                    return  # a loop variable used as a value (its coordinate)
                names.append((node, path))  # type: ignore[arg-type]
            elif cls is Call and node.func == "sum_prefix":  # type: ignore[attr-defined]
                sites.append((node, scope, path))

        for expr, scope, path in exprs:
            visit_scoped(expr, scope, self.axes, path, functools.partial(fn, path=path))
        scalar_names = {a.base for a in model.aliases.values() if not a.axes}
        scalar_names |= {blk.base for blk in model.blocks if not blk.axes}
        indexed: dict[str, list[ParamDef]] = {}
        for ref, scope, path in refs:
            _check_ident(ref.base, path, "parameter")
            sig, tpos = model.param_signature(ref, scope, path)
            if ref.base in model.aliases:
                continue
            prefix = ref.base + "__"
            if tpos is None and any(n.startswith(prefix) for n in scalar_names):
                cells = ParamDef(ref.base, sig, path).names()
                # A virtual template over aliases/states defined cell by cell (0.1.2 allows it).
                missing = [c for c in cells if c not in scalar_names]
                if missing and len(missing) < len(cells):
                    raise ExpressionError(
                        f"{ref.base}[...] refers to cells defined one by one, but {missing[0]!r} is not defined",
                        path=path,
                        token=missing[0],
                    )
                if not missing:
                    cell_refs = tuple(Name(c) for c in cells)
                    model.aliases[ref.base] = AliasDef(
                        ref.base, sig, None, path, cell_refs
                    )
                    sites.extend(
                        (c, (), path) for c in cell_refs
                    )  # bound with the rest
                    continue
            variants = indexed.setdefault(ref.base, [])
            if all(v.axes != sig or v.time_pos != tpos for v in variants):
                variants.append(ParamDef(ref.base, sig, path, time_pos=tpos))
        for variants in indexed.values():
            for v in variants:
                self.params[f"{v.base}[{','.join(a.name for a in v.axes)}]"] = v
        scalars: dict[str, ParamDef] = {}
        for name, path in names:
            ident = name.id
            if (
                model.block(ident) is not None
                or ident in model.aliases
                or ident in model.flow_blocks
                or ident in scalars
                or ident == "t"
                or ident in model.kernels
                or model.lookup_cell(ident) is not None
            ):
                continue
            _check_ident(ident, path, "parameter")
            scalars[ident] = ParamDef(ident, (), path)
        # Keys: the base name, unless the same base has several index signatures (0.1.2
        # treats `k`, `k[age]`, `k[vax]` as distinct parameters `k`, `k__age_*`, `k__vax_*`).
        self.params.clear()
        for base, variants in indexed.items():
            shared = len(variants) > 1 or base in scalars
            tv = [v for v in variants if v.time_varying]
            if tv and shared:
                other = next((v for v in variants if v is not tv[0]), scalars.get(base))
                assert other is not None
                raise SpecError(
                    f"{base!r} is time-varying (indexed by the time axis at "
                    f"{tv[0].first_path}) and is also used another way at "
                    f"{other.first_path}; a time-varying parameter has one index "
                    "signature, with the time axis",
                    path=other.first_path,
                    token=base,
                )
            for v in variants:
                v.key = (
                    f"{base}[{','.join(a.name for a in v.axes)}]" if shared else base
                )
                v.array_ok = not shared
                self.params[v.key] = v
        self.params.update(scalars)
        return sites

    @staticmethod
    def validate(model: Model, sites: list[tuple[Node, tuple[Dim, ...], str]]) -> None:
        """Resolve every name now, so that bad references fail at normalize time.

        `sites` are the names, references and `sum_prefix` calls `collect_params`
        found. Also records which cells of each indexed parameter the model reads.
        """
        for p in model.params.values():
            p.used = set() if p.axes else None
        for node, sc, path in sites:
            if node.__class__ is Call:
                model.prefix_groups(node.args[0].value, sc, path)  # type: ignore[attr-defined]
                continue
            tgt = model.resolve(node, sc, path)  # type: ignore[arg-type]
            if tgt.kind == "param" and tgt.obj.axes:
                _mark_used(tgt, sc)
            elif (
                tgt.kind == "state"
                and any(c.block is tgt.obj for c in model.counters)
                and not path.startswith("observables[")  # observables may read them
            ):
                name = tgt.obj.base
                raise SpecError(
                    f"{name!r} is an incidence counter: it counts flows, and the model "
                    "cannot read it",
                    path=path,
                    token=name,
                )


def _mark_used(tgt: Any, scope: tuple[Dim, ...]) -> None:
    param = tgt.obj
    if param.used is None:
        return
    dims = {d.name: d for d in scope}
    names = [v for k, v in tgt.sels if k == "dim"]
    full = (
        len(set(names)) == len(names)
        and all(dims[n].size == dims[n].axis.size for n in names)
        and not any(k == "lit" for k, _ in tgt.sels)
    )
    if full:
        param.used = None
        return
    uniq = list(dict.fromkeys(names))
    for combo in itertools.product(*(dims[n].coord_indices() for n in uniq)):
        a = dict(zip(uniq, combo))
        param.used.add(tuple(a[v] if k == "dim" else v for k, v in tgt.sels))


def _placeholders_in(node: Node, axes: dict[str, Axis], path: str) -> list[str]:
    """Axis placeholders used in a transition's rate (outside reduction variables)."""
    found: list[str] = []

    def fn(n: Node, scope: tuple[Dim, ...]) -> None:
        if isinstance(n, Ref):
            bound = {d.name for d in scope} | {d.axis.name for d in scope}
            for item in n.items:
                free = (
                    item.axis is None and not item.is_number and item.value not in bound
                )
                if free and item.value in axes and item.value not in found:
                    found.append(item.value)

    visit_scoped(node, (), axes, path, fn)
    return found


def _template_uses(
    expr: Node, scope: tuple[Dim, ...], path: str, blk: Block, overridden: set[int]
) -> list[tuple[Node, tuple[Dim, ...], str]]:
    """Where a template expression is evaluated: all of `scope`, or its cells not overridden.

    Parameters read only by overridden cells are not parameters of the model
    (0.1.2 never expands the template there), so they are not required.
    """
    if not overridden:
        return [(expr, scope, path)]
    return [
        (
            expr,
            tuple(Dim(d.name, d.axis, (i,)) for d, i in zip(scope, idx, strict=True)),
            path,
        )
        for flat, idx in enumerate(blk.cells())
        if flat not in overridden
    ]


def _template_dims(axes_names: list[str], axes: dict[str, Axis]) -> tuple[Dim, ...]:
    return tuple(Dim(a, axes[a]) for a in axes_names)


# -- chains -----------------------------------------------------------------------


# -- entry points -----------------------------------------------------------------

#: Top-level keys a spec may have; 0.1.2 ignores any other key silently.
SPEC_KEYS = frozenset(
    {
        "kind",
        "state",
        "equations",
        "aliases",
        "transitions",
        "chain",
        "axes",
        "state_axes",
        "kernels",
        "operators",
        "initial_state",
        "incidence",
        "time_axis",
        "time_interpolation",
        "observables",
        "sources",
        "couplings",
        "constraints",
        "meta",
    }
)
#: Descriptive keys people write next to a model; never warned about.
_DESCRIPTIVE_KEYS = frozenset(
    {"name", "description", "notes", "title", "version", "author", "authors", "units"}
)


def warn_unknown_keys(spec: Mapping[str, Any]) -> None:
    """A `SpecWarning` for each unknown top-level key (a typo like `equatons:`).

    A warning, not an error: 0.1.2 ignores such keys, so 0.1.2 specs keep loading.
    """
    import warnings

    from ._errors import SpecWarning

    for key in spec:
        if not isinstance(key, str) or key in SPEC_KEYS or key in _DESCRIPTIVE_KEYS:
            continue
        hint = did_you_mean(key, SPEC_KEYS)
        warnings.warn(
            f"unknown top-level spec key {key!r}{hint} is ignored (known keys: {sorted(SPEC_KEYS)})",
            SpecWarning,
            stacklevel=_outside_package(),
        )


@paused_gc
def build_model(spec: Mapping[str, Any], kind: str) -> Model:
    """Validate `spec` as an `expr` or `transitions` model."""
    warn_unknown_keys(spec)
    b = _Builder(spec, kind)
    aliases_raw, meta = b.common_meta(with_state_axes=(kind == "expr"))
    b.build_aliases(aliases_raw)
    chains = spec.get("chain")
    if chains and not isinstance(chains, list):
        raise SpecError("chain must be a list if provided", path="chain")
    if kind == "expr":
        return _build_expr(b, meta, chains or [])
    return _build_transitions(b, meta, chains or [])


def _alias_exprs(b: _Builder) -> list[tuple[Node, tuple[Dim, ...], str]]:
    # every alias has an expression here: virtual (cell-by-cell) ones come later
    return [
        (a.expr, tuple(Dim(ax.name, ax) for ax in a.axes), a.path)
        for a in b.aliases.values()
        if a.expr is not None
    ]


def _finish(
    b: _Builder,
    kind: str,
    meta: dict[str, Any],
    equations: list[EquationDef],
    transitions: list[TransitionDef | ChainFlow],
    exprs: list[tuple[Node, tuple[Dim, ...], str]],
    counters: list[Counter] | None = None,
) -> Model:
    names = b.state_names()
    b.check_unique_states(names)
    model = Model(
        kind=kind,
        axes=b.axes,
        blocks=b.blocks,
        aliases=b.aliases,
        params=b.params,
        equations=equations,
        transitions=transitions,
        n_state=len(names),
        state_names=tuple(names),
        meta=meta,
        kernels={k["name"]: k for k in meta.get("kernels") or []},
        counters=counters or [],
        time_axis=time_axis(b.spec, b.axes),
    )
    all_exprs = _alias_exprs(b) + exprs
    b.validate(model, b.collect_params(model, all_exprs))
    time_varying(b.spec, model, meta)
    if b.spec.get("observables") is not None:
        from ._observables import observed_model

        model.observed = observed_model(b, model, all_exprs)
    b.attach_initial_state(meta)
    from ._cells import template_cells  # the per-cell evaluator reads the built model

    template_cells(model)
    return model


def _counters(
    b: _Builder, transitions: list[TransitionDef | ChainFlow]
) -> list[Counter]:
    """The `incidence:` counters: one state block each, appended after the states."""
    raw = b.spec.get("incidence")
    if raw is None:
        return []
    if not isinstance(raw, dict) or not raw:
        raise SpecError(
            "incidence must be a non-empty mapping of counter name -> transition names",
            path="incidence",
        )
    named: dict[str, list[TransitionDef]] = {}
    for td in transitions:
        if isinstance(td, TransitionDef) and td.name_text:
            named.setdefault(transition_base(td.name_text), []).append(td)
    taken = set(b.state_names()) | {blk.base for blk in b.blocks} | set(b.aliases)
    counters: list[Counter] = []
    for key, val in raw.items():
        path = f"incidence[{key!r}]"
        if not isinstance(key, str):
            raise SpecError(
                "incidence keys must be strings", path="incidence", token=repr(key)
            )
        _check_ident(key, path, "incidence counter")
        if key in taken:
            raise SpecError(
                f"incidence counter {key!r} is already the name of a state or alias",
                path=path,
                token=key,
            )
        names = [val] if isinstance(val, str) else val
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n.strip() for n in names)
        ):
            raise SpecError(
                f"{path} must be a transition name or a non-empty list of them",
                path=path,
                token=repr(val),
            )
        tds: list[TransitionDef] = []
        for n in (n.strip() for n in names):
            got = named.get(n)
            if got is None:
                raise SpecError(
                    f"{path}: no transition is named {n!r}{did_you_mean(n, named)}"
                    f" (named transitions: {sorted(named) or 'none'})",
                    path=path,
                    token=n,
                )
            if any(t is g for t in tds for g in got):
                raise SpecError(f"{path} lists {n!r} twice", path=path, token=n)
            tds.extend(got)
        for td in tds:
            if any(d.subset is not None for d in td.dims):
                raise UnsupportedFeatureError(
                    f"{path}: counting the flows of {td.path} (a coord_shift transition) "
                    "is not supported",
                    path=path,
                    token=td.name_text or "",
                )
        # The counter has the axes every counted transition has (others are summed).
        shared = [
            d.name
            for d in tds[0].dims
            if all(any(e.name == d.name for e in t.dims) for t in tds)
        ]
        last = b.blocks[-1]
        blk = Block(
            key, tuple(b.axes[a] for a in shared), last.offset + last.size, path
        )
        b.blocks.append(blk)
        taken.add(key)
        counters.append(Counter(blk, tuple(tds), path))
    return counters


def _build_expr(b: _Builder, meta: dict[str, Any], chains: list[Any]) -> Model:
    if b.spec.get("incidence") is not None:
        raise SpecError(
            "incidence counts the flows of transitions; an expr model has none "
            "(write the counter as a state with its own equation)",
            path="incidence",
        )
    eq_raw = b.spec.get("equations")
    if not isinstance(eq_raw, dict):
        raise SpecError("equations must be a mapping of state->expr", path="equations")
    equations_map: dict[str, tuple[object, str]] = {}
    for k, v in eq_raw.items():
        if not isinstance(k, str):
            raise SpecError(
                "equations keys must be strings", path="equations", token=repr(k)
            )
        equations_map[normalize_key(k)] = (v, f"equations[{k!r}]")
    names_now, chain_bases, chain_eqs = _expr_chains(b, chains, equations_map)
    template_keys = {
        f"{blk.base}[{','.join(a.name for a in blk.axes)}]": blk
        for blk in b.blocks
        if blk.axes
    }
    alias_keys = {
        f"{a.base}[{','.join(x.name for x in a.axes)}]"
        for a in b.aliases.values()
        if a.axes
    }
    unknown = [
        k
        for k in equations_map
        if k not in names_now and k not in template_keys and k not in alias_keys
    ]
    if unknown:
        raise SpecError(
            f"unknown equation key(s): {sorted(unknown)}{did_you_mean(unknown[0], list(names_now) + list(template_keys))}",
            path="equations",
            token=unknown[0],
        )

    def parse_eq(key: str) -> tuple[Node, str]:
        val, path = equations_map[key]
        if not isinstance(val, str) or not val.strip():
            raise SpecError(
                f"equations[{key!r}] must be a non-empty string, got {type(val).__name__} {val!r:.40}",
                path=path,
                token=repr(val)[:40],
            )
        return parse_expr(val, path=path), path

    equations: list[EquationDef] = []
    exprs: list[tuple[Node, tuple[Dim, ...], str]] = []
    for blk in b.blocks:
        if blk.custom is not None:
            rates, final_out, gen = chain_eqs[id(blk)]
            rate_nodes = tuple(parse_expr(r, path=f"{gen}.forward") for r in rates)
            out_node = parse_expr(final_out, path=f"{gen}.exit.rate")
            eq = EquationDef(blk, None, gen, chain=(rate_nodes, out_node))
            for node in (*rate_nodes, out_node):
                exprs.append((node, (), gen))
            for flat, name in enumerate(blk.custom):
                if name in equations_map:
                    node, path = parse_eq(name)
                    eq.overrides[flat] = (node, path)
                    exprs.append((node, (), path))
            equations.append(eq)
            continue
        if not blk.axes:
            if blk.base in equations_map:
                node, path = parse_eq(blk.base)
            elif blk.base in chain_bases:
                node, path = parse_expr("0.0"), f"chain:{blk.base}"
            else:
                raise SpecError(
                    f"Missing equation for state {blk.base!r}",
                    path="equations",
                    token=blk.base,
                )
            equations.append(EquationDef(blk, node, path))
            exprs.append((node, (), path))
            continue
        key = f"{blk.base}[{','.join(a.name for a in blk.axes)}]"
        scope = _template_dims([a.name for a in blk.axes], b.axes)
        eq = EquationDef(blk, None, key)
        if key in equations_map:
            eq.expr, eq.path = parse_eq(key)
        # Concrete per-cell keys win over the template, as in 0.1.2.
        cell_keys = [k for k in equations_map if k.startswith(blk.base + "__")]
        if cell_keys:
            for flat, name in enumerate(blk.names()):
                if name in equations_map:
                    node, path = parse_eq(name)
                    eq.overrides[flat] = (node, path)
                    exprs.append((node, (), path))
        if eq.expr is not None:
            exprs.extend(
                _template_uses(eq.expr, scope, eq.path, blk, set(eq.overrides))
            )
            if len(eq.overrides) == blk.size:
                eq.expr = (
                    None  # every cell is overridden: the template is never evaluated
                )
        if eq.expr is None:
            missing = [n for f, n in enumerate(blk.names()) if f not in eq.overrides]
            if missing:
                raise SpecError(
                    f"Missing equation for state {missing[0]!r}",
                    path="equations",
                    token=missing[0],
                )
        equations.append(eq)
    return _finish(b, "expr", meta, equations, [], exprs)


def _build_transitions(b: _Builder, meta: dict[str, Any], chains: list[Any]) -> Model:
    raw = b.spec.get("transitions")
    if raw is None:
        raw = []
    elif not isinstance(raw, list):
        raise SpecError("transitions must be a list", path="transitions")
    entries: list[tuple[Any, str]] = [
        (tr, f"transitions[{i}]") for i, tr in enumerate(raw)
    ]
    names_now = _transition_chains(b, chains, entries)
    if not entries:
        raise SpecError(
            "transitions must be non-empty after applying chain expansion",
            path="transitions",
        )
    transitions: list[TransitionDef | ChainFlow] = []
    exprs: list[tuple[Node, tuple[Dim, ...], str]] = []
    for i, (tr, path) in enumerate(entries):
        if isinstance(tr, tuple):  # vectorized chain forward flows
            blk, rates = tr
            nodes = tuple(parse_expr(r, path=path) for r in rates)
            transitions.append(ChainFlow(i, blk, nodes, path))
            exprs.extend((n, (), path) for n in nodes)
            continue
        if not isinstance(tr, dict):
            raise SpecError(f"{path} must be a mapping", path=path)
        if "name" in tr and (
            not isinstance(tr.get("name"), str) or not tr["name"].strip()
        ):
            raise SpecError(
                f"{path}.name must be a non-empty string",
                path=f"{path}.name",
                token=repr(tr.get("name")),
            )
        if "coord_shift" in tr:
            for td in _coord_shift(b, tr, i, path):
                transitions.append(td)
                exprs.append((td.rate, td.dims, f"{path}.rate"))
            continue
        fields = _transition_fields(tr, path)
        src = (
            None
            if fields["from"] is None
            else _state_ref(b, fields["from"], f"{path}.from", "from", names_now)
        )
        dst = (
            None
            if fields["to"] is None
            else _state_ref(b, fields["to"], f"{path}.to", "to", names_now)
        )
        rate = parse_expr(str(fields["rate"]), path=f"{path}.rate")
        placeholders: list[str] = []
        for ref in (src, dst):
            if isinstance(ref, Ref):
                for item in ref.items:
                    if (
                        item.axis is None
                        and item.value in b.axes
                        and item.value not in placeholders
                    ):
                        placeholders.append(item.value)
        now = time_axis(b.spec, b.axes)
        for ph in _placeholders_in(rate, b.axes, f"{path}.rate"):
            # the time axis in a rate, where from/to do not range over it, is the
            # current time (a time-varying parameter), not a template to expand
            if ph not in placeholders and (now is None or ph != now.name):
                placeholders.append(ph)
        name_text = tr.get("name") if isinstance(tr.get("name"), str) else None
        if name_text:
            for m in INLINE_RE.finditer(name_text):
                for part in m.group(2).split(","):
                    part = part.strip()
                    if part in b.axes and part not in placeholders:
                        placeholders.append(part)
        dims = _template_dims(placeholders, b.axes)
        td = TransitionDef(i, dims, src, dst, rate, path, tr, name_text)
        transitions.append(td)
        exprs.append((rate, dims, f"{path}.rate"))
        if src is not None:
            exprs.append((src, dims, f"{path}.from"))
        if dst is not None:
            exprs.append((dst, dims, f"{path}.to"))
    counters = _counters(b, transitions)
    model = _finish(b, "transitions", meta, [], transitions, exprs, counters)
    for flow in transitions:  # from/to must be states (not aliases or parameters)
        if isinstance(flow, ChainFlow):
            continue
        for node, key in ((flow.src, "from"), (flow.dst, "to")):
            if node is None:
                continue
            tgt = model.resolve(node, flow.dims, f"{flow.path}.{key}")
            if tgt.kind != "state":
                text = node.id if isinstance(node, Name) else f"{node.base}[...]"
                raise SpecError(
                    f"{flow.path}.{key}={text!r} not in state",
                    path=f"{flow.path}.{key}",
                    token=text,
                )
    return model


def _transition_fields(tr: Mapping[str, Any], path: str) -> dict[str, str | None]:
    """A transition's `from`, `to` (None for a source or a sink) and `rate` texts."""
    fields: dict[str, str | None] = {}
    for key in ("from", "to", "rate"):
        val = tr.get(key)
        if val is None and key != "rate" and key in tr:
            fields[key] = None  # a source (from: null) or a sink (to: null)
            continue
        if not isinstance(val, str) or not val.strip():
            hint = ""
            if key in ("from", "to") and key not in tr:
                what = "a source (births)" if key == "from" else "a sink (deaths)"
                hint = f"; for {what} write `{key}: null`"
            raise SpecError(
                f"{path}.{key} must be a string{hint}",
                path=f"{path}.{key}",
                token=repr(val),
            )
        fields[key] = val.strip()
    if fields["from"] is None and fields["to"] is None:
        raise SpecError(
            f"{path} has neither from nor to: a transition needs at least one state",
            path=path,
        )
    return fields


def _state_ref(
    b: _Builder, text: str, path: str, key: str, names_now: set[str]
) -> Name | Ref:
    node = parse_expr(text, path=path)
    if isinstance(node, Name):
        if node.id not in names_now and (
            not any(blk.base == node.id for blk in b.blocks)
        ):
            raise SpecError(
                f"{path.rsplit('.', 1)[0]}.{key}={text!r} not in state{did_you_mean(text, names_now)}",
                path=path,
                token=text,
            )
        return node
    if isinstance(node, Ref):
        if not any(blk.base == node.base and blk.axes for blk in b.blocks):
            raise SpecError(
                f"{path.rsplit('.', 1)[0]}.{key}={text!r} not in state",
                path=path,
                token=text,
            )
        for item in node.items:
            if item.axis is None and not item.is_number and item.value not in b.axes:
                found = [
                    ax for ax in b.axes.values() if ax.lookup(item.value) is not None
                ]
                if not found:
                    raise SpecError(
                        f"transition placeholder {item.value!r} references unknown axis",
                        path=path,
                        token=item.value,
                    )
        return node
    if isinstance(node, Invalid):
        raise SpecError(
            f"{path} must name a state, got {text!r}", path=path, token=node.token
        )
    raise SpecError(f"{path} must name a state, got {text!r}", path=path, token=text)


def _coord_shift(
    b: _Builder, tr: dict[str, Any], i: int, path: str
) -> list[TransitionDef]:
    shift = tr["coord_shift"]
    if not isinstance(shift, dict) or len(shift) != 1:
        raise SpecError(
            "coord_shift must be a mapping with exactly one axis entry",
            path=f"{path}.coord_shift",
        )
    axis_name, arrow = next(iter(shift.items()))
    if axis_name not in b.axes:
        raise SpecError(
            f"coord_shift axis {axis_name!r} is not defined",
            path=f"{path}.coord_shift",
            token=str(axis_name),
        )
    axis = b.axes[axis_name]
    parts = [p.strip() for p in arrow.split("->")] if isinstance(arrow, str) else []
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise SpecError(
            f"coord_shift[{axis_name}] must be 'from_coord -> to_coord'",
            path=f"{path}.coord_shift",
            token=repr(arrow),
        )
    for c in parts:
        if axis.lookup(c) is None:
            raise SpecError(
                f"coord_shift coordinate {c!r} not in axis {axis_name!r} coords {list(axis.coords)}",
                path=f"{path}.coord_shift",
                token=c,
            )
    apply_to = tr.get("apply_to")
    if not isinstance(apply_to, list) or not apply_to:
        raise SpecError(
            "coord_shift requires a non-empty 'apply_to' list", path=f"{path}.apply_to"
        )
    rate_s = tr.get("rate")
    if not isinstance(rate_s, str) or not rate_s.strip():
        raise SpecError("coord_shift requires a 'rate' string", path=f"{path}.rate")
    rate = parse_expr(rate_s.strip(), path=f"{path}.rate")
    out = []
    for base in apply_to:
        base = str(base).strip()
        blk = next((x for x in b.blocks if x.base == base and x.axes), None)
        if blk is None:
            raise SpecError(
                f"coord_shift apply_to state {base!r} has no expanded states starting with '{base}__'",
                path=f"{path}.apply_to",
                token=base,
            )
        if axis not in blk.axes:
            raise SpecError(
                f"coord_shift apply_to state {base!r} has no expanded states with fragment '{axis_name}_...'",
                path=f"{path}.apply_to",
                token=base,
            )
        others = [ax.name for ax in blk.axes if ax is not axis]
        src = Ref(
            base,
            tuple(
                IndexItem(ax.name, parts[0]) if ax is axis else IndexItem(None, ax.name)
                for ax in blk.axes
            ),
        )
        dst = Ref(
            base,
            tuple(
                IndexItem(ax.name, parts[1]) if ax is axis else IndexItem(None, ax.name)
                for ax in blk.axes
            ),
        )
        raw = {"from": None, "to": None, "rate": rate_s.strip()}
        out.append(
            TransitionDef(
                i, _template_dims(others, b.axes), src, dst, rate, path, raw, None
            )
        )
    return out
