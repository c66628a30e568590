"""Flow diagrams of a model whose transitions move between cells of one block.

Vaccination `S[age, vax=u] -> S[age, vax=v]` once drew a self-loop `S -> S`
(the diagram is collapsed over axes). The block is now drawn as one node per
coordinate of the axis the transition moves along, and every edge touching it
runs between those nodes. The diagrams are read back here by their edge lines.
"""

from __future__ import annotations

import re

from op_system import compile_spec

VAX = {
    "kind": "transitions",
    "axes": [
        {"name": "age", "coords": ["young", "old"]},
        {"name": "vax", "coords": ["u", "v"]},
    ],
    "state": ["S[age, vax]", "I[age, vax]", "R[age, vax]"],
    "transitions": [
        {"name": "birth", "from": None, "to": "S[age=young, vax=u]", "rate": "mu"},
        {
            "name": "infection",
            "from": "S[age, vax]",
            "to": "I[age, vax]",
            "rate": "beta * (1 - ve[vax]) * sum_over(vax=k, I[age, vax=k]) / sum_state()",
        },
        {"from": "I[age, vax]", "to": "R[age, vax]", "rate": "gamma"},
        {
            "name": "vaccination",
            "from": "S[age, vax=u]",
            "to": "S[age, vax=v]",
            "rate": "nu",
        },
        # ageing moves along age within each block: I and R are split by age
        {
            "name": "ageing",
            "from": "R[age=young, vax]",
            "to": "R[age=old, vax]",
            "rate": "a",
        },
    ],
}
MERMAID_EDGE = re.compile(
    r'^\s+(\w+)\["([^"]*)"\] -->\|"([^"]*)"\| (\w+)\["([^"]*)"\]$'
)
DOT_EDGE = re.compile(r'^\s+"([^"]*)" -> "([^"]*)" \[label="([^"]*)"\];$')


def _mermaid_edges(text: str) -> list[tuple[str, str, str]]:
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    edges = []
    for line in lines[1:]:
        m = MERMAID_EDGE.match(line)
        assert m is not None, line
        edges.append((m[2], m[5], m[3]))
    return edges


def _dot_edges(text: str) -> list[tuple[str, str, str]]:
    return [
        (m[1], m[2], m[3])
        for line in text.splitlines()
        if (m := DOT_EDGE.match(line)) is not None
    ]


def test_moves_within_a_block_are_edges_between_its_cells() -> None:
    rhs = compile_spec(VAX)
    for edges in (
        _mermaid_edges(rhs.flow_diagram("mermaid")),
        _dot_edges(rhs.flow_diagram("dot")),
    ):
        assert all(a != b for a, b, _ in edges), edges  # no self-loop
        assert ("S[vax=u]", "S[vax=v]", "nu") in edges
        assert ("R[age=young]", "R[age=old]", "a") in edges
        # the other flows touching a split block come from (or go to) its cells
        infection = {(a, b) for a, b, r in edges if r.startswith("beta")}
        assert infection == {("S[vax=u]", "I"), ("S[vax=v]", "I")}
        assert ("I", "R[age=young]", "gamma") in edges
        assert ("I", "R[age=old]", "gamma") in edges
        assert ("∅", "S[vax=u]", "mu") in edges
        # each node stands for cells: no edge is drawn twice
        assert len(edges) == len(set(edges))


def test_blocks_without_moves_inside_stay_one_node() -> None:
    spec = {**VAX, "transitions": VAX["transitions"][:3]}
    edges = _mermaid_edges(compile_spec(spec).flow_diagram())
    assert {(a, b) for a, b, _ in edges} == {("∅", "S"), ("S", "I"), ("I", "R")}
