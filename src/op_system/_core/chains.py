"""Chains of stages (`chain:` in the spec): the one module that knows what a chain is.

A chain becomes a `Run` (its stages, a block of their own when their names allow,
and their rates) and, in a transitions model, ordinary `Flow`s: one per stage
move, all naming the run, plus its entry and exit. Everything after the build
reads flows and runs; nothing else desugars a chain.

`_parse_chain` validates one entry (name, length, forward rates, entry, exit);
`_expr_chains` fills in the stage and exit equations 0.1.2 generates for an
expr model; `_transition_chains` turns a transitions model's chain into its
entry, stage and exit flows. (`b` is the builder of `_core/builder.py`, typed
`Any`: that module imports this one.)
"""

from __future__ import annotations

from typing import Any

from .._lang.ir import Name
from .._spec.axes import Axis
from .._spec.keys import check_chain_keys
from .._support.errors import SpecError, UnsupportedFeatureError, did_you_mean
from .defs import Block, Flow, Run
from .templates import _check_ident

__all__ = ["_expr_chains", "_parse_chain", "_transition_chains", "chain_name"]

#: A chain's block is named `<chain>#chain<n>` (never a spec name: `#` is not
#: an identifier character), its cells by the stage names.
_MARK = "#chain"


def chain_name(block: Block) -> str | None:
    """The name of the chain whose stages `block` holds, or None."""
    if block.custom is None or _MARK not in block.base:
        return None
    return block.base.split(_MARK, 1)[0]


def _chain_block(b: Any, name: str, stages: list[str], path: str) -> Block | None:
    """One vectorized block for the stages `I1..Ik`; None if some stage already
    exists (then each new stage is a plain state of its own)."""
    names_now = set(b.state_names())
    if any(s in names_now for s in stages):
        for s in stages:
            if s not in names_now:
                b.add_stage_block(s, path)
        return None
    for s in stages:
        _check_ident(s, path, "chain stage")
    axis = Axis(
        f"_stage_{name}",
        "categorical",
        tuple(str(i) for i in range(1, len(stages) + 1)),
    )
    last = b.blocks[-1] if b.blocks else None
    offset = last.offset + last.size if last else 0
    blk = Block(f"{name}{_MARK}{len(b.blocks)}", (axis,), offset, path, tuple(stages))
    b.blocks.append(blk)
    return blk


def _chain_rate(value: object, path: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(float(value))
    raise SpecError(
        f"{path} must be a non-empty string or number", path=path, token=repr(value)
    )


def _parse_chain(
    chain: object, idx: int, state_set: set[str]
) -> tuple[list[str], list[str], tuple[str, str] | None, tuple[str, str | None] | None]:
    path = f"chain[{idx}]"
    if not isinstance(chain, dict):
        raise SpecError(f"{path} must be a mapping", path=path)
    check_chain_keys(chain, path)
    name = chain.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError(f"{path}.name must be a string", path=f"{path}.name")
    name = name.strip()
    length = chain.get("length")
    if not isinstance(length, (int, float)) or isinstance(length, bool):
        raise SpecError(
            f"{path}.length must be an integer >= 2",
            path=f"{path}.length",
            token=repr(length),
        )
    n = int(length)
    if n < 2:
        raise SpecError(
            f"{path}.length must be >= 2", path=f"{path}.length", token=str(n)
        )
    fwd = chain.get("forward")
    if isinstance(fwd, (str, int, float)) and not isinstance(fwd, bool):
        rates = [_chain_rate(fwd, f"{path}.forward")] * (n - 1)
    elif isinstance(fwd, (list, tuple)):
        rates = [_chain_rate(v, f"{path}.forward[{i}]") for i, v in enumerate(fwd)]
        if len(rates) != n - 1:
            raise SpecError(
                f"{path}.forward list length must be {n - 1} for chain length {n}",
                path=f"{path}.forward",
            )
    else:
        raise SpecError(
            f"{path}.forward must be a string/number or a list of {n - 1} rates",
            path=f"{path}.forward",
        )
    stages = [f"{name}{i}" for i in range(1, n + 1)]
    entry = None
    if chain.get("entry") is not None:
        e = chain["entry"]
        if not isinstance(e, dict):
            raise SpecError(f"{path}.entry must be a mapping", path=f"{path}.entry")
        frm = e.get("from")
        if not isinstance(frm, str) or not frm.strip():
            raise SpecError(
                f"{path}.entry.from must be a non-empty string",
                path=f"{path}.entry.from",
            )
        entry = (frm.strip(), _chain_rate(e.get("rate"), f"{path}.entry.rate"))
        if entry[0] not in state_set:
            raise SpecError(
                f"{path}.entry.from={entry[0]!r} not in state{did_you_mean(entry[0], state_set)}",
                path=f"{path}.entry.from",
                token=entry[0],
            )
    exit_cfg = None
    if chain.get("exit") is not None:
        x = chain["exit"]
        if not isinstance(x, dict):
            raise SpecError(f"{path}.exit must be a mapping", path=f"{path}.exit")
        to = x.get("to")
        if not isinstance(to, str) or not to.strip():
            raise SpecError(
                f"{path}.exit.to must be a non-empty string", path=f"{path}.exit.to"
            )
        rate = (
            _chain_rate(x["rate"], f"{path}.exit.rate")
            if x.get("rate") is not None
            else None
        )
        exit_cfg = (to.strip(), rate)
    elif chain.get("to") is not None:
        to = chain["to"]
        if not isinstance(to, str) or not to.strip():
            raise SpecError(f"{path}.to must be a non-empty string", path=f"{path}.to")
        exit_cfg = (to.strip(), None)
    if exit_cfg is not None and exit_cfg[0] not in state_set:
        raise SpecError(
            f"{path} exit.to={exit_cfg[0]!r} not in state{did_you_mean(exit_cfg[0], state_set)}",
            path=f"{path}.exit.to",
            token=exit_cfg[0],
        )
    return stages, rates, entry, exit_cfg


def _expr_chains(
    b: Any,
    chains: list[Any],
    equations_map: dict[str, tuple[object, str]],
) -> tuple[set[str], set[str], dict[int, Run]]:
    """The chains of an expr model: their stage blocks, and the equations 0.1.2
    fills in for the stages and exit targets not written in `equations_map`
    (updated in place). Returns the state names so far, the chains' base names
    and the run of each chain that has a block (by the block's `id`)."""
    names_now = set(b.state_names())
    chain_bases: set[str] = set()
    chain_eqs: dict[int, Run] = {}
    # Stages of chains already processed have their equations filled (0.1.2 fills
    # them in list order, first writer wins): a later chain's exit into one of them
    # adds nothing, an earlier one's replaces the stage's own equation.
    filled: set[str] = set()
    for c_idx, chain in enumerate(chains):
        name = chain.get("name") if isinstance(chain, dict) else None
        if isinstance(name, str) and "[" in name:
            raise UnsupportedFeatureError(
                "a templated chain in an expr model is not supported; declare its "
                "stages as templated states with their equations, or write the model "
                "as transitions",
                path=f"chain[{c_idx}].name",
                token=name,
            )
        stages, rates, _entry, exit_cfg = _parse_chain(chain, c_idx, names_now)
        chain_bases.add(chain["name"].strip())
        final_out = (exit_cfg[1] if exit_cfg else None) or rates[-1]
        gen = f"chain[{c_idx}]"
        blk = _chain_block(b, chain["name"].strip(), stages, gen)
        names_now.update(stages)
        if blk is not None:
            fwd = (b.parse(r, f"{gen}.forward") for r in rates)
            last = b.parse(final_out, f"{gen}.exit.rate")
            chain_eqs[id(blk)] = Run(blk, (*fwd, last), gen)
            filled.update(stages)
            if (
                exit_cfg is not None
                and exit_cfg[0] not in equations_map
                and exit_cfg[0] not in filled
            ):
                equations_map[exit_cfg[0]] = (
                    f"({exit_cfg[1] or rates[-1]})*{stages[-1]}",
                    gen,
                )
            continue
        if stages[0] not in equations_map:
            equations_map[stages[0]] = (f"-({rates[0]})*{stages[0]}", gen)
        for i in range(1, len(stages)):
            if stages[i] not in equations_map:
                out = rates[i] if i < len(stages) - 1 else final_out
                equations_map[stages[i]] = (
                    f"({rates[i - 1]})*{stages[i - 1]} - ({out})*{stages[i]}",
                    gen,
                )
        if exit_cfg is not None and exit_cfg[0] not in equations_map:
            equations_map[exit_cfg[0]] = (
                f"({exit_cfg[1] or rates[-1]})*{stages[-1]}",
                gen,
            )
    return names_now, chain_bases, chain_eqs


def _raws(stages: list[str], rates: list[str]) -> list[dict[str, str]]:
    """The transitions a chain's stage moves stand for (as 0.1.2 lists them)."""
    return [
        {"from": a, "to": z, "rate": r} for a, z, r in zip(stages, stages[1:], rates)
    ]


def _templated(b: Any, chain: object, idx: int) -> tuple[str, str] | None:
    """A templated chain's base and axes text (`I[age,vax]`: `I`, `age,vax`), its
    stages made state blocks over those axes (`I1[age,vax]`, ..., after the
    declared states, as op-system 0.9.0 lays them out); None for a plain name."""
    from .templates import _parse_template

    name = chain.get("name") if isinstance(chain, dict) else None
    if not isinstance(name, str) or "[" not in name:
        return None
    path = f"chain[{idx}].name"
    base, axes = _parse_template(name.strip(), b.axes, path, "chain")
    length = chain.get("length") if isinstance(chain, dict) else None
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise SpecError(
            f"chain[{idx}].length must be an integer >= 2",
            path=f"chain[{idx}].length",
            token=repr(length),
        )
    names_now = set(b.state_names())
    for i in range(1, length + 1):
        stage = f"{base}{i}"
        _check_ident(stage, path, "chain stage")
        if any(blk.base == stage for blk in b.blocks) or stage in names_now:
            raise SpecError(
                f"chain stage {stage!r} is already a state", path=path, token=stage
            )
        last = b.blocks[-1]
        b.blocks.append(Block(stage, axes, last.offset + last.size, path))
    return base, ",".join(ax.name for ax in axes)


def _templated_flows(
    b: Any, chain: dict[str, Any], idx: int, base: str, axes: str
) -> list[tuple[Any, str]]:
    """A templated chain's entry, stage and exit moves, as templated transitions."""
    p = f"chain[{idx}]"
    n = int(chain["length"])
    stages = [f"{base}{i}[{axes}]" for i in range(1, n + 1)]
    check_chain_keys(chain, p)
    flat = {**chain, "name": base}
    # the stage names of `_parse_chain` are not states here: validate the rest
    _, rates, _, _ = _parse_chain({**flat, "entry": None, "exit": None}, idx, set())
    out: list[tuple[Any, str]] = []
    entry = chain.get("entry")
    if entry is not None:
        if not isinstance(entry, dict) or not isinstance(entry.get("from"), str):
            raise SpecError(
                f"{p}.entry must be a mapping with a 'from' state",
                path=f"{p}.entry",
            )
        rate = _chain_rate(entry.get("rate"), f"{p}.entry.rate")
        out.append(
            ({"from": entry["from"], "to": stages[0], "rate": rate}, f"{p}.entry")
        )
    out.extend(
        ({"from": a, "to": z, "rate": r}, f"{p}.forward[{i}]")
        for i, (a, z, r) in enumerate(zip(stages, stages[1:], rates))
    )
    exit_cfg = chain.get("exit")
    to = exit_cfg.get("to") if isinstance(exit_cfg, dict) else chain.get("to")
    if to is not None:
        rate = rates[-1]
        if isinstance(exit_cfg, dict) and exit_cfg.get("rate") is not None:
            rate = _chain_rate(exit_cfg["rate"], f"{p}.exit.rate")
        out.append(({"from": stages[-1], "to": to, "rate": rate}, f"{p}.exit"))
    return out


def _transition_chains(
    b: Any, chains: list[Any], entries: list[tuple[Any, str]]
) -> set[str]:
    """The chains of a transitions model as transitions appended to `entries`:
    entry, forward (`Flow`s of one `Run` when the stages form a block) and exit.
    Returns the state names so far."""
    names_now = set(b.state_names())
    for c_idx, chain in enumerate(chains):
        templated = _templated(b, chain, c_idx)
        if templated is not None:
            entries.extend(_templated_flows(b, chain, c_idx, *templated))
            names_now = set(b.state_names())
            continue
        stages, rates, entry, exit_cfg = _parse_chain(chain, c_idx, names_now)
        p = f"chain[{c_idx}]"
        blk = _chain_block(b, chain["name"].strip(), stages, p)
        names_now.update(stages)
        if entry is not None:
            entries.append(
                ({"from": entry[0], "to": stages[0], "rate": entry[1]}, f"{p}.entry")
            )
        if blk is not None:
            path = f"{p}.forward"
            nodes = tuple(b.parse(r, path) for r in rates)
            run = Run(blk, nodes, path)
            entries.extend(
                (Flow((), Name(a), Name(z), node, path, raw, None, run), path)
                for a, z, node, raw in zip(
                    stages, stages[1:], nodes, _raws(stages, rates)
                )
            )
        else:
            entries.extend(
                (
                    {"from": stages[i], "to": stages[i + 1], "rate": rates[i]},
                    f"{p}.forward[{i}]",
                )
                for i in range(len(stages) - 1)
            )
        if exit_cfg is not None:
            entries.append(
                (
                    {
                        "from": stages[-1],
                        "to": exit_cfg[0],
                        "rate": exit_cfg[1] or rates[-1],
                    },
                    f"{p}.exit",
                )
            )
    return names_now
