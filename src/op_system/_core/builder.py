"""The builder's pieces: a spec's states, aliases and parameters, bound and validated.

`Builder` holds what `build_model` (`_core/build.py`) has read so far; its
`validate` binds every name of an expression to a `Target`.

Validation follows op-system 0.1.2 (same checks, same message fragments), with
extra checks that 0.1.2 lacked; every error names the spec path and the token.
Templates are kept as templates: nothing here loops over the cells of a model
except the computation of `state_names`, which the public API exposes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .._lang.ir import Call, Name, Node, Reduce, Ref, children_getter, prefix_text
from .._lang.parse import parse_expr
from .._spec.axes import Axis, normalize_axes
from .._spec.dialect import mixed_spelling, spec_dialect, time_axis_name, why_0_9
from .._spec.meta import normalize_kernels, normalize_operators, normalize_state_axes
from .._spec.numbers import expression_text
from .._support.errors import (
    ExpressionError,
    SpecError,
)
from .initial_state import expand_initial_state
from .model import (
    AliasDef,
    Block,
    Dim,
    Model,
    ParamDef,
    along,
    cell_of,
)
from .resolve import Resolver
from .templates import (
    _TEMPLATE_RE,
    _check_ident,
    _parse_template,
    reduce_dim,
)

__all__ = [
    "Builder",
    "normalize_key",
    "placeholders_in",
    "scoped_sites",
    "template_dims",
    "template_uses",
]


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
        v = expression_text(v)  # `N: 1000` is the expression `1000`
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


#: a site of an expression: a name, reference or `sum_prefix` call, with the
#: dimensions of the reductions around it inside the expression
Site = tuple[Node, tuple[Dim, ...]]


def scoped_sites(node: Node, axes: dict[str, Axis], path: str) -> list[Site]:
    """The names, references and `sum_prefix` calls of `node`, in reading order,
    each with the loop dimensions of the reductions that enclose it (iteratively:
    flat sums of any length are fine).

    The build reads these sites several times (placeholders, parameters,
    validation); `Builder.sites` walks each expression once.
    """
    out: list[Site] = []
    stack: list[tuple[Node, tuple[Dim, ...]]] = [(node, ())]
    pop, push, add = stack.pop, stack.append, out.append
    while stack:
        cur, sc = pop()
        if isinstance(cur, (Name, Ref)):
            add((cur, sc))
        elif isinstance(cur, Reduce):
            push((cur.body, (*sc, reduce_dim(cur, axes, path))))
        else:
            if isinstance(cur, Call) and cur.func == "sum_prefix":
                add((cur, sc))
            get = children_getter(cur.__class__)
            if get is not None:
                kids = get(cur)
                for i in range(len(kids) - 1, -1, -1):
                    push((kids[i], sc))
    return out


class Builder:
    def __init__(self, spec: Mapping[str, Any], kind: str) -> None:
        if not isinstance(spec, Mapping):
            raise SpecError(
                f"rhs specification must be a mapping, got {type(spec).__name__}",
                path="<spec>",
            )
        self.spec = spec
        self.kind = kind
        #: the spec's language, op-system 0.1.2's or 0.9.0's (`_spec/dialect.py`)
        self.dialect = spec_dialect(spec)
        #: why a spec without a `dialect` key is read as 0.9.0's (None otherwise)
        self.detected = (
            why_0_9(spec) if self.dialect == "0.9" and "dialect" not in spec else None
        )
        #: name resolution of each model being built (`resolver`), by its id
        self._resolvers: dict[int, Resolver] = {}
        #: the sites of each expression walked so far (`sites`), by its id
        self._sites: dict[int, tuple[Node, list[Site]]] = {}
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
        # 0.9.0's time axis may be a single point (a constant table)
        one_point = time_axis_name(spec) if self.dialect == "0.9" else None
        self.axes_meta, self.axes = normalize_axes(spec.get("axes"), one_point)
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
        if self.dialect == "0.9":
            from .._spec.operators09 import check_operators_09

            check_operators_09(
                spec.get("operators") or meta_get("operators"), spec.get("axes")
            )
        for key in ("sources", "couplings", "constraints"):
            if key in spec:
                meta[key] = spec.get(key)
        if spec.get("constraints") is not None:
            from .._spec.meta import normalize_constraints

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
            self.aliases[base] = AliasDef(base, axes, self.parse(text, path), path)

    def attach_initial_state(self, meta: dict[str, Any]) -> None:
        raw = self.spec.get("initial_state")
        if raw is None:
            return
        if not isinstance(raw, dict):
            raise SpecError(
                "initial_state must be a mapping of state -> parameter",
                path="initial_state",
            )
        result = expand_initial_state(raw, self.axes, self.dialect)
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
        bare: list[tuple[Name, str]] = []
        names = self.resolver(model)
        sites: list[tuple[Node, tuple[Dim, ...], str]] = []

        seen: set[str] = set()  # bare names met (a flat spec names each cell often)
        add = sites.append
        for expr, outer, path in exprs:
            for node, inner in self.sites(expr, path):
                scope = (*outer, *inner) if inner else outer
                add((node, scope, path))
                if isinstance(node, Name):
                    ident = node.id
                    if scope and any(
                        d.name == ident and d.name != d.axis.name for d in scope
                    ):
                        continue  # a loop variable used as a value (its coordinate)
                    if ident not in seen:
                        seen.add(ident)
                        bare.append((node, path))
                elif isinstance(node, Ref):
                    base = node.base
                    if base in model.kernels:
                        continue
                    if (
                        model.block(base) is None
                        and base not in model.aliases
                        and base not in model.flow_blocks
                    ):
                        refs.append((node, scope, path))
        scalar_names = {a.base for a in model.aliases.values() if not a.axes}
        scalar_names |= {blk.base for blk in model.blocks if not blk.axes}
        indexed: dict[str, list[ParamDef]] = {}
        for ref, scope, path in refs:
            _check_ident(ref.base, path, "parameter")
            sig, tpos = names.param_signature(ref, scope, path)
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
                        pos=ref.pos,
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
        for name, path in bare:
            ident = name.id
            if (
                model.block(ident) is not None
                or ident in model.aliases
                or ident in model.flow_blocks
                or ident in scalars
                or ident == "t"
                or ident in model.kernels
                or names.lookup_cell(ident) is not None
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
                if shared:
                    key = f"{base}[{','.join(a.name for a in v.axes)}]"
                    v = replace(v, key=key, array_ok=False)
                    # resolved afresh: no target may name the parameter replaced
                    self._resolvers.pop(id(model), None)
                self.params[v.key] = v
        self.params.update(scalars)
        return sites

    def parse(self, text: object, path: str) -> Node:
        """An expression of this spec, parsed in its language (`dialect`)."""
        try:
            return parse_expr(text, path=path, dialect=self.dialect)
        except ExpressionError as exc:
            if self.detected is not None:
                mixed_spelling(text, path, self.detected, exc)
            raise

    def sites(self, expr: Node, path: str) -> list[Site]:
        """`scoped_sites` of `expr`, walked once however often the build asks."""
        got = self._sites.get(id(expr))
        if got is None or got[0] is not expr:
            got = self._sites[id(expr)] = (expr, scoped_sites(expr, self.axes, path))
        return got[1]

    def resolver(self, model: Model) -> Resolver:
        """The resolver of a model this builder builds (one per model)."""
        got = self._resolvers.get(id(model))
        if got is None or got.m is not model:
            got = self._resolvers[id(model)] = Resolver(model)
        return got

    def validate(
        self, model: Model, sites: list[tuple[Node, tuple[Dim, ...], str]]
    ) -> None:
        """Resolve every name now, so that bad references fail at normalize time.

        `sites` are the names, references and `sum_prefix` calls `collect_params`
        found. Also records which cells of each indexed parameter the model reads.
        """
        names = self.resolver(model)
        # cells read so far, by parameter key (None: all of them)
        used: dict[str, set[tuple[int, ...]] | None] = {
            k: set() for k, p in model.params.items() if p.axes
        }
        resolve = names.settled()  # parameters are collected: the model is complete
        counted = {id(c.block) for c in model.counters}
        new_language = self.dialect == "0.9"
        for node, sc, path in sites:
            if node.__class__ is Call:
                model.prefix_groups(prefix_text(node), sc, path)
                continue
            tgt = resolve(node, sc, path)  # type: ignore[arg-type]
            if (
                new_language
                and tgt.kind == "state"
                and node.__class__ is Name
                and tgt.obj.axes
            ):  # 0.9.0 refuses 0.1.2's implicit read of a templated state
                axes_txt = ",".join(ax.name for ax in tgt.obj.axes)
                raise SpecError(
                    f"{path} references templated state {node.id!r} without its "
                    f"axes; write {node.id}[{axes_txt}]",
                    path=path,
                    token=node.id,
                )
            if tgt.kind == "param" and tgt.obj.axes:
                _mark_used(used, tgt, sc)
            elif (
                counted
                and tgt.kind == "state"
                and id(tgt.obj) in counted
                and not path.startswith("observables[")  # observables may read them
            ):
                name = tgt.obj.base
                raise SpecError(
                    f"{name!r} is an incidence counter: it counts flows, and the model "
                    "cannot read it",
                    path=path,
                    token=name,
                )
        # the resolver's targets name the parameters replaced here: binding names
        # the model's own (`_core/bind.py`)
        for k, cells in used.items():
            p = model.params[k]
            model.params[k] = replace(
                p, used=None if cells is None else frozenset(cells)
            )


def _mark_used(
    used: dict[str, set[tuple[int, ...]] | None], tgt: Any, scope: tuple[Dim, ...]
) -> None:
    key = tgt.obj.key
    cells = used[key]
    if cells is None:
        return
    dims = {d.name: d for d in scope}
    names = along(tgt.sels)
    full = (
        len(set(names)) == len(names)
        and all(dims[n].size == dims[n].axis.size for n in names)
        and len(names) == len(tgt.sels)
    )
    if full:
        used[key] = None
        return
    uniq = list(dict.fromkeys(names))
    for combo in itertools.product(*(dims[n].coord_indices() for n in uniq)):
        a = dict(zip(uniq, combo))
        cells.add(cell_of(tgt.sels, a))


def placeholders_in(
    sites: list[Site], axes: dict[str, Axis], *, by_variable: bool = False
) -> list[str]:
    """Axis placeholders used in a transition's rate (outside reduction variables),
    from the rate's `sites`.

    With `by_variable` (0.9.0's language) only a reduction's variable is bound in
    its body: there `C[age, age:j]` inside a reduction over `age` still reads the
    placeholder `age` of the enclosing template."""
    found: list[str] = []
    for n, scope in sites:
        if not isinstance(n, Ref):
            continue
        bound = {d.name for d in scope}
        if not by_variable:
            bound |= {d.axis.name for d in scope}
        for item in n.items:
            free = item.axis is None and item.is_name and item.value not in bound
            if free and item.value in axes and item.value not in found:
                found.append(item.value)
    return found


def template_uses(
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


def template_dims(axes_names: list[str], axes: dict[str, Axis]) -> tuple[Dim, ...]:
    return tuple(Dim(a, axes[a]) for a in axes_names)
