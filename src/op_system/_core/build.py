"""Build a validated `Model` from a raw spec mapping (the work behind `normalize_rhs`):
the entry point, equations (expr models), transitions and incidence counters.

Validation follows op-system 0.1.2 (same checks, same message fragments), with
extra checks that 0.1.2 lacked; every error names the spec path and the token.
Templates are kept as templates: nothing here loops over the cells of a model
except the computation of `state_names`, which the public API exposes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._lang.ir import IndexItem, Invalid, Name, Node, Ref
from .._lang.parse import parse_expr
from .._spec.dialect import is_axis_shift, rule_warning
from .._spec.keys import TRANSITION_KEYS, check_keys
from .._spec.labels import unquote
from .._spec.numbers import expression_text
from .._support.errors import (
    SpecError,
    UnsupportedFeatureError,
    did_you_mean,
    name_hint,
)
from .._support.gcpause import paused_gc
from .bind import bind_model
from .builder import (
    Builder,
    normalize_key,
    placeholders_in,
    template_dims,
    template_uses,
)
from .chains import _expr_chains, _transition_chains
from .events import bind_events
from .model import (
    INLINE_RE,
    Block,
    Counter,
    Dim,
    EquationDef,
    Flow,
    Model,
    subst_text,
    transition_base,
)
from .routing import pinned_by_selector, routed_dims
from .shifts import applied_to, axis_shift, read_at
from .templates import RESERVED_NAMES, _check_ident, equation_keys
from .timevarying import time_axis, time_varying
from .typos import warn_self_move

__all__ = ["RESERVED_NAMES", "build_model", "subst_text"]


# -- chains -----------------------------------------------------------------------


# -- entry points -----------------------------------------------------------------

#: Top-level keys a spec may have; 0.1.2 ignores any other key silently.
SPEC_KEYS = frozenset(
    {
        "kind",
        "dialect",
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
        "events",
        "sources",
        "couplings",
        "constraints",
        "meta",
        # declarations (`_core/declared.py`): data about the model, kept
        "parameters",
        "state_metadata",
        "gauges",
        "factorize_axes",
        # refused with op-system 0.9.0's message (`_core/timevarying.py`)
        "time_varying",
    }
)
#: Descriptive keys people write next to a model; never warned about.
_DESCRIPTIVE_KEYS = frozenset(
    {"name", "description", "notes", "title", "version", "author", "authors", "units"}
)


@paused_gc
def build_model(spec: Mapping[str, Any], kind: str) -> Model:
    """Validate `spec` as an `expr` or `transitions` model."""
    from .typos import warn_unknown_keys

    warn_unknown_keys(spec, SPEC_KEYS, _DESCRIPTIVE_KEYS)
    b = Builder(spec, kind)
    aliases_raw, meta = b.common_meta(with_state_axes=(kind == "expr"))
    b.build_aliases(aliases_raw)
    chains = spec.get("chain")
    if chains and not isinstance(chains, list):
        raise SpecError("chain must be a list if provided", path="chain")
    if kind == "expr":
        model = _build_expr(b, meta, chains or [])
    else:
        model = _build_transitions(b, meta, chains or [])
    from .cells import template_cells  # the per-cell evaluator reads the bound model

    for m in (model, model.observed):
        if m is not None:
            bind_model(m, b.resolver(m))
            template_cells(m)
    return model


def _alias_exprs(b: Builder) -> list[tuple[Node, tuple[Dim, ...], str]]:
    # every alias has an expression here: virtual (cell-by-cell) ones come later
    return [
        (a.expr, tuple(Dim(ax.name, ax) for ax in a.axes), a.path)
        for a in b.aliases.values()
        if a.expr is not None
    ]


def _finish(
    b: Builder,
    kind: str,
    meta: dict[str, Any],
    equations: list[EquationDef],
    transitions: list[Flow],
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
        # in 0.9.0's language a kernel read in an expression is an array passed at
        # each call (`kernels:` entries are the defaults a caller may build, kept
        # in `meta`), as any shaped parameter
        kernels=(
            {}
            if b.dialect == "0.9"
            else {k["name"]: k for k in meta.get("kernels") or []}
        ),
        counters=counters or [],
        time_axis=time_axis(b.spec, b.axes),
    )
    all_exprs = _alias_exprs(b) + exprs
    b.validate(model, b.collect_params(model, all_exprs))
    time_varying(b.spec, model, meta)
    if b.spec.get("observables") is not None:
        from .observables import observed_model

        model.observed = observed_model(b, model, all_exprs)
    b.attach_initial_state(meta)
    model.events, model.event_params = bind_events(b.spec, model, b.resolver(model))
    from .declared import read_declarations

    model.declarations = read_declarations(
        b.spec, model, meta, all_exprs, strict=b.dialect != "0.9"
    )
    from .typos import check_parameter_names, unknown_top_level_keys

    check_parameter_names(
        model,
        unknown_top_level_keys(b.spec, SPEC_KEYS | _DESCRIPTIVE_KEYS),
        model.declarations.parameters,
    )
    return model


def _counters(b: Builder, transitions: list[Flow]) -> list[Counter]:
    """The `incidence:` counters: one state block each, appended after the states."""
    raw = b.spec.get("incidence")
    if raw is None:
        return []
    if not isinstance(raw, dict) or not raw:
        raise SpecError(
            "incidence must be a non-empty mapping of counter name -> transition names",
            path="incidence",
        )
    named: dict[str, list[Flow]] = {}
    for td in transitions:
        if isinstance(td, Flow) and td.name_text:
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
        tds: list[Flow] = []
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
        # The counter has the axes every counted transition has (others are summed,
        # as are a routing transition's selector dimensions, named apart from the axis)
        shared = [
            d.name
            for d in tds[0].dims
            if d.name == d.axis.name
            and all(any(e.name == d.name for e in t.dims) for t in tds)
        ]
        last = b.blocks[-1]
        blk = Block(
            key, tuple(b.axes[a] for a in shared), last.offset + last.size, path
        )
        b.blocks.append(blk)
        taken.add(key)
        counters.append(Counter(blk, tuple(tds), path))
    return counters


def _build_expr(b: Builder, meta: dict[str, Any], chains: list[Any]) -> Model:
    if b.spec.get("incidence") is not None:
        raise SpecError(
            "incidence counts the flows of transitions; an expr model has none "
            "(write the counter as a state with its own equation)",
            path="incidence",
        )
    eq_raw = b.spec.get("equations")
    if not isinstance(eq_raw, dict):
        raise SpecError("equations must be a mapping of state->expr", path="equations")
    equations_map = equation_keys(eq_raw, b.blocks, normalize_key)
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
        val = expression_text(val)  # `R: 0` is the expression `0`
        if not isinstance(val, str) or not val.strip():
            raise SpecError(
                f"equations[{key!r}] must be a non-empty string, got {type(val).__name__} {val!r:.40}",
                path=path,
                token=repr(val)[:40],
            )
        return b.parse(val, path), path

    equations: list[EquationDef] = []
    exprs: list[tuple[Node, tuple[Dim, ...], str]] = []
    for blk in b.blocks:
        if blk.custom is not None:
            run = chain_eqs[id(blk)]
            exprs.extend((node, (), run.path) for node in run.rates)
            overrides = _overrides(blk.custom, equations_map, parse_eq, exprs)
            equations.append(EquationDef(blk, None, run.path, overrides, run=run))
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
        scope = template_dims([a.name for a in blk.axes], b.axes)
        expr, path = parse_eq(key) if key in equations_map else (None, key)
        # Concrete per-cell keys win over the template, as in 0.1.2.
        cell_keys = [k for k in equations_map if k.startswith(blk.base + "__")]
        overrides = (
            _overrides(blk.names(), equations_map, parse_eq, exprs) if cell_keys else {}
        )
        if expr is not None:
            exprs.extend(template_uses(expr, scope, path, blk, set(overrides)))
            if len(overrides) == blk.size:
                expr = None  # every cell is overridden: the template is never evaluated
        if expr is None:
            missing = [n for f, n in enumerate(blk.names()) if f not in overrides]
            if missing:
                raise SpecError(
                    f"Missing equation for state {missing[0]!r}",
                    path="equations",
                    token=missing[0],
                )
        equations.append(EquationDef(blk, expr, path, overrides))
    return _finish(b, "expr", meta, equations, [], exprs)


def _overrides(
    cells: Iterable[str],
    equations_map: Mapping[str, object],
    parse_eq: Callable[[str], tuple[Node, str]],
    exprs: list[tuple[Node, tuple[Dim, ...], str]],
) -> dict[int, tuple[Node, str]]:
    """The per-cell equations of a block's cells (by flat index), added to `exprs`."""
    out: dict[int, tuple[Node, str]] = {}
    for flat, name in enumerate(cells):
        if name in equations_map:
            node, path = parse_eq(name)
            out[flat] = (node, path)
            exprs.append((node, (), path))
    return out


def _build_transitions(b: Builder, meta: dict[str, Any], chains: list[Any]) -> Model:
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
    transitions: list[Flow] = []
    exprs: list[tuple[Node, tuple[Dim, ...], str]] = []
    for tr, path in entries:
        if isinstance(tr, Flow):  # a chain's stage move (`_core/chains.py`)
            transitions.append(tr)
            exprs.append((tr.rate, (), path))
            continue
        if not isinstance(tr, dict):
            raise SpecError(f"{path} must be a mapping", path=path)
        check_keys(tr, TRANSITION_KEYS, path, "a transition's")
        if "name" in tr and (
            not isinstance(tr.get("name"), str) or not tr["name"].strip()
        ):
            raise SpecError(
                f"{path}.name must be a non-empty string",
                path=f"{path}.name",
                token=repr(tr.get("name")),
            )
        if "coord_shift" in tr:
            for td in _coord_shift(b, tr, path):
                transitions.append(td)
                exprs.append((td.rate, td.dims, f"{path}.rate"))
            continue
        if "reaction" in tr:
            td = _reaction(b, tr, path, names_now)
            transitions.append(td)
            exprs.extend(_reaction_exprs(td, path))
            continue
        fields = _transition_fields(tr, path, b.dialect)
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
        rate = b.parse(str(fields["rate"]), f"{path}.rate")
        # 0.9.0's routing, checked first as 0.9.0 checks it
        routed: tuple[Dim, ...] = ()
        if b.dialect == "0.9":
            for key in ("from", "to"):
                text = fields[key]
                if text is not None:
                    pinned_by_selector(b, text, f"{path}.{key}")
            routed = routed_dims(b, src, dst, rate, path)
        warn_self_move(fields, path)
        placeholders = _end_placeholders(b, (src, dst))
        now = time_axis(b.spec, b.axes)
        sites = b.sites(rate, f"{path}.rate")
        for ph in placeholders_in(sites, b.axes, by_variable=b.dialect == "0.9"):
            # the time axis in a rate, where from/to do not range over it, is the
            # current time (a time-varying parameter), not a template to expand
            if ph not in placeholders and (now is None or ph != now.name):
                if b.dialect == "0.9":
                    # 0.9.0 reads it at the cell an endpoint pins (`from` first)
                    k = _pinned(b, (src, dst), ph, path)
                    _no_state_at_pin(b, sites, ph, path)
                    rate = read_at(rate, b.axes[ph], k)
                    rule_warning(
                        b.detected,
                        f"the rate reads axis {ph!r} at the coordinate "
                        f"{b.axes[ph].coords[k]!r} an endpoint pins (0.1.2 sums the "
                        f"flow over {ph!r})",
                        f"{path}.rate",
                    )
                    continue
                placeholders.append(ph)
        name_text = tr.get("name") if isinstance(tr.get("name"), str) else None
        _name_placeholders(b, name_text, placeholders)
        dims = template_dims(placeholders, b.axes) + routed
        td = Flow(dims, src, dst, rate, path, tr, name_text)
        transitions.append(td)
        exprs.append((rate, dims, f"{path}.rate"))
        if src is not None:
            exprs.append((src, dims, f"{path}.from"))
        if dst is not None:
            exprs.append((dst, dims, f"{path}.to"))
    counters = _counters(b, transitions)
    model = _finish(b, "transitions", meta, [], transitions, exprs, counters)
    for flow in transitions:  # from/to must be states (not aliases or parameters)
        ends = [(flow.src, "from"), (flow.dst, "to")]
        if flow.reaction is not None:
            ends = [(node, "reaction") for node, _ in flow.ends()]
        for node, key in ends:
            if not isinstance(node, (Name, Ref)):  # None: a source or a sink
                continue
            tgt = b.resolver(model).resolve(node, flow.dims, f"{flow.path}.{key}")
            if tgt.kind != "state":
                text = node.id if isinstance(node, Name) else f"{node.base}[...]"
                base = node.id if isinstance(node, Name) else node.base
                raise SpecError(
                    f"{flow.path}.{key}={text!r} not in state"
                    f"{name_hint(base, [blk.base for blk in model.blocks])}",
                    path=f"{flow.path}.{key}",
                    token=text,
                )
    return model


def _end_placeholders(b: Builder, ends: Iterable[Name | Ref | None]) -> list[str]:
    """The axes a transition's or reaction's states range over (`S[age]`), in order."""
    found: list[str] = []
    for ref in ends:
        if isinstance(ref, Ref):
            for item in ref.items:
                if (
                    item.axis is None
                    and item.is_name
                    and item.value in b.axes
                    and item.value not in found
                ):
                    found.append(item.value)
    return found


def _name_placeholders(b: Builder, name_text: str | None, found: list[str]) -> None:
    """Add the axes a transition's templated name ranges over (`infection[age]`)."""
    for m in INLINE_RE.finditer(name_text or ""):
        for part in m.group(2).split(","):
            part = part.strip()
            if part in b.axes and part not in found:
                found.append(part)


def _no_state_at_pin(b: Builder, sites: list[Any], axis: str, path: str) -> None:
    """Refuse a state read at the placeholder an endpoint pins (`Q[loc]` in the
    rate of `to: Q[loc=TX]`): op-system 0.9.0 reads parameters there at the
    pinned cell but gives such a state 0, so no reading here would agree."""
    states = {blk.base for blk in b.blocks}
    for node, scope in sites:
        if not isinstance(node, Ref) or node.base not in states:
            continue
        if axis in {d.name for d in scope}:
            continue  # bound by a loop here
        for item in node.items:
            if item.axis is None and item.is_name and item.value == axis:
                raise UnsupportedFeatureError(
                    f"the rate reads state {node.base!r} at axis {axis!r}, which an "
                    "endpoint pins: op-system 0.9.0 reads a parameter there at the "
                    "pinned coordinate but gives a state 0; write the coordinate "
                    f"({node.base}[{axis}=...])",
                    path=f"{path}.rate",
                    token=node.base,
                )


def _reaction(
    b: Builder, tr: Mapping[str, Any], path: str, names_now: set[str]
) -> Flow:
    """A reaction (`reaction: "2 P -> P2"`, `rate:` per combination of reactants):
    one flow, its ends the written states with their coefficients (see
    `_core/reactions.py`)."""
    from .reactions import parse_reaction, reaction_laws

    clash = [k for k in ("from", "to", "coord_shift") if k in tr]
    if clash:
        raise SpecError(
            f"{path} has both reaction and {clash[0]}: a reaction names its states "
            "in its text ('2 P -> P2'); leave from/to out",
            path=f"{path}.{clash[0]}",
            token=clash[0],
        )
    rpath = f"{path}.reaction"
    text = tr["reaction"]
    reactants_t, products_t = parse_reaction(text, rpath)
    rate_s = expression_text(tr.get("rate"))
    if not isinstance(rate_s, str) or not rate_s.strip():
        raise SpecError(
            f"{path}.rate must be an expression, a string or a number (the rate of one combination of "
            f"reactants), got {rate_s!r:.40}",
            path=f"{path}.rate",
            token=repr(rate_s)[:40],
        )
    rate = b.parse(rate_s.strip(), f"{path}.rate")

    def state(x: str) -> Name | Ref:
        try:
            return _state_ref(b, x, rpath, "reaction", names_now)
        except SpecError as e:  # name the reaction and the states
            bases = sorted({blk.base for blk in b.blocks if blk.custom is None})
            raise SpecError(
                f"{rpath}={text!r}: {x!r} is not a state{did_you_mean(x, names_now)} "
                f"(states: {bases[:8]}{' ...' if len(bases) > 8 else ''})"
                + ("" if "not in state" in e.detail else f": {e.detail}"),
                path=rpath,
                token=x,
            ) from None

    reactants = [(state(x), c) for x, c in reactants_t]
    products = [(state(x), c) for x, c in products_t]
    placeholders = _end_placeholders(b, [ref for ref, _ in (*reactants, *products)])
    now = time_axis(b.spec, b.axes)
    sites = b.sites(rate, f"{path}.rate")
    for ph in placeholders_in(sites, b.axes, by_variable=b.dialect == "0.9"):
        # (as a transition's; a reaction has no endpoint pinning a free placeholder:
        # its flow is summed over it)
        if ph not in placeholders and (now is None or ph != now.name):
            placeholders.append(ph)
    name_text = tr.get("name") if isinstance(tr.get("name"), str) else None
    _name_placeholders(b, name_text, placeholders)
    dims = template_dims(placeholders, b.axes)
    reaction = reaction_laws(rate, reactants, products, lambda x, y: x == y, str(text))
    return Flow(dims, None, None, rate, path, tr, name_text, reaction=reaction)


def _reaction_exprs(td: Flow, path: str) -> list[tuple[Node, tuple[Dim, ...], str]]:
    """A reaction's expressions, for validation: its rate, laws and states."""
    r = td.reaction
    assert r is not None
    out: list[tuple[Node, tuple[Dim, ...], str]] = [
        (td.rate, td.dims, f"{path}.rate"),
        (r.flux, td.dims, f"{path}.rate"),
        (r.propensity, td.dims, f"{path}.rate"),
        (r.per_capita, td.dims, f"{path}.rate"),
    ]
    out.extend((node, td.dims, f"{path}.reaction") for node, _ in td.ends())
    return out


def _pinned(
    b: Builder, ends: tuple[Name | Ref | None, ...], axis: str, path: str
) -> int:
    """Where a 0.9.0 spec reads a rate placeholder its endpoints do not range
    over: the coordinate `from` pins on that axis, else the one `to` pins.

    0.1.2 (and this compiler, for its specs) sums the flow over such an axis.
    With no pin, 0.9.0 cannot compile the spec either: it must say which it means."""
    ax = b.axes[axis]
    for end in ends:
        if isinstance(end, Ref):
            for item in end.items:
                k = ax.lookup(item.value) if item.axis == axis else None
                if k is not None:
                    return k
    raise UnsupportedFeatureError(
        f"the rate reads axis {axis!r}, which neither from nor to ranges over or "
        "pins: op-system 0.9.0 reads such a rate at the cell an endpoint pins; "
        f"write the sum explicitly (sum_over(..., {axis}=k)) or template the "
        f"endpoints over {axis!r}",
        path=f"{path}.rate",
        token=axis,
    )


def _transition_fields(
    tr: Mapping[str, Any], path: str, dialect: str = "0.1"
) -> dict[str, str | None]:
    """A transition's `from`, `to` (None for a source or a sink) and `rate` texts.

    In 0.9.0's language a source may leave `from` out."""
    fields: dict[str, str | None] = {}
    for key in ("from", "to", "rate"):
        val = tr.get(key)
        if key == "rate":
            val = expression_text(val)  # `rate: 0.2` is the expression `0.2`
        if val is None and key != "rate" and key in tr:
            fields[key] = None  # a source (from: null) or a sink (to: null)
            continue
        if key == "from" and key not in tr and dialect == "0.9":
            fields[key] = None  # 0.9.0: a source leaves `from` out
            continue
        if not isinstance(val, str) or not val.strip():
            hint = ""
            if key in ("from", "to") and key not in tr:
                what = "a source (births)" if key == "from" else "a sink (deaths)"
                hint = f"; for {what} write `{key}: null`"
                if key == "from":
                    hint += ' (or leave it out in op-system 0.9\'s language, dialect: "0.9")'
            if key == "rate":  # `rate: 0.2` is read above
                hint = f" (a string or a number){'; it has none' * (key not in tr)}"
            raise SpecError(
                f"{path}.{key} must be {'an expression' if key == 'rate' else 'a string'}{hint}",
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
    b: Builder, text: str, path: str, key: str, names_now: set[str]
) -> Name | Ref:
    node = b.parse(text, path)
    if isinstance(node, Name):
        if node.id not in names_now and (
            not any(blk.base == node.id for blk in b.blocks)
        ):
            raise SpecError(
                f"{path.rsplit('.', 1)[0]}.{key}={text!r} not in state{name_hint(text, names_now)}",
                path=path,
                token=text,
            )
        return node
    if isinstance(node, Ref):
        if not any(blk.base == node.base and blk.axes for blk in b.blocks):
            bases = [blk.base for blk in b.blocks if blk.axes]
            raise SpecError(
                f"{path.rsplit('.', 1)[0]}.{key}={text!r} not in state"
                f"{name_hint(node.base, bases)}",
                path=path,
                token=text,
            )
        for item in node.items:
            if item.axis is None and item.is_name and item.value not in b.axes:
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


def _coord_shift(b: Builder, tr: dict[str, Any], path: str) -> list[Flow]:
    shift = tr["coord_shift"]
    if is_axis_shift(shift):  # 0.9.0's: every bin of the axis moves
        return axis_shift(b, tr, path)
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
    # a label may be quoted, `"'0-17' -> '18-64'"`
    parts = [unquote(p)[0] for p in arrow.split("->")] if isinstance(arrow, str) else []
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise SpecError(
            f"coord_shift[{axis_name}] must be 'from_coord -> to_coord'",
            path=f"{path}.coord_shift",
            token=repr(arrow),
        )
    for c in parts:
        if axis.lookup(c) is None:
            raise SpecError(
                f"coord_shift coordinate {c!r} not in axis {axis_name!r} coords "
                f"{list(axis.coords)}{axis.suggest(c)}",
                path=f"{path}.coord_shift",
                token=c,
            )
    apply_to = applied_to(tr, path)
    rate_s = expression_text(tr.get("rate"))
    if not isinstance(rate_s, str) or not rate_s.strip():
        raise SpecError("coord_shift requires a 'rate' string", path=f"{path}.rate")
    rate = b.parse(rate_s.strip(), f"{path}.rate")
    leaves = axis.lookup(parts[0])
    if b.dialect == "0.9" and leaves is not None:
        rate = read_at(rate, axis, leaves)  # 0.9.0 reads the axis at the bin left
    out = []
    for base in apply_to:
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
        out.append(Flow(template_dims(others, b.axes), src, dst, rate, path, raw, None))
    return out
