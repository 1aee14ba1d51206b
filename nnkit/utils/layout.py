"""Layered (Sugiyama-style) placement of a DAG of boxes, in plain Python.

1. ranks: the longest path from a source, so every arrow points down;
2. arrows spanning several ranks get invisible waypoints in each rank between,
   so they run beside the boxes instead of through them;
3. the order inside a rank follows the mean position of the neighbours
   (barycentre sweeps), which removes most crossings;
4. positions along a rank move towards the neighbours' mean, keeping boxes
   apart.

Works in (rank, order) coordinates; the caller maps them to the page
(top-to-bottom: rank is y, order is x).
"""


def _ranks(nodes, edges):
    """Longest path from a source for every node (Kahn's topological order).

    A shared layer called on its own output makes a cycle in the box graph;
    when no node is free, the earliest waiting one is released, and the arrows
    into it then point upwards (the caller draws them as arcs).
    """
    preds = {n: [] for n in nodes}
    succs = {n: [] for n in nodes}
    for s, d in edges:
        preds[d].append(s)
        succs[s].append(d)
    waiting = {n: len(preds[n]) for n in nodes}
    rank, queue = {}, [n for n in nodes if not waiting[n]]
    while len(rank) < len(nodes):
        if not queue:
            queue.append(next(n for n in nodes if n not in rank and n not in queue))
        n = queue.pop(0)
        if n in rank:
            continue
        rank[n] = max((rank[p] + 1 for p in preds[n] if p in rank), default=0)
        for d in succs[n]:
            waiting[d] -= 1
            if not waiting[d] and d not in rank:
                queue.append(d)
    return rank


def layered_layout(nodes, extents, edges, rank_gap=0.4, order_gap=0.3, sweeps=8):
    """Place ``nodes`` (ids) of ``extents[id] = (along_rank, along_order)``.

    Returns ``(position, paths, back)``: ``position[id] = (rank_coord,
    order_coord)`` of each box centre, ``paths[(src, dst)]`` the waypoints of
    each downward edge, from the bottom of ``src`` to the top of ``dst``, and
    ``back``, the edges that point to the same or an earlier rank (cycles
    through shared layers), which the caller draws as arcs.
    """
    rank = _ranks(nodes, edges)
    size = dict(extents)
    chains, layer_edges = {}, []
    back = [(s, d) for s, d in edges if rank[s] >= rank[d]]
    for s, d in edges:
        if rank[s] >= rank[d]:
            continue
        chain = [s]
        for r in range(rank[s] + 1, rank[d]):
            dummy = ("dummy", s, d, r)
            rank[dummy], size[dummy] = r, (0.0, 0.0)
            chain.append(dummy)
        chain.append(d)
        chains[(s, d)] = chain
        layer_edges += list(zip(chain, chain[1:]))
    depth = max(rank.values(), default=-1) + 1
    rows = [[] for _ in range(depth)]
    for n in list(nodes) + [n for n in rank if isinstance(n, tuple)]:
        rows[rank[n]].append(n)
    up = {n: [] for n in rank}
    down = {n: [] for n in rank}
    for s, d in layer_edges:
        down[s].append(d)
        up[d].append(s)

    # order within ranks: barycentre sweeps
    for sweep in range(sweeps):
        index = {n: i for row in rows for i, n in enumerate(row)}
        neighbours, order = (up, range(1, depth)) if sweep % 2 == 0 else (down, range(depth - 2, -1, -1))
        for r in order:
            def key(n):
                ns = neighbours[n]
                return sum(index[m] for m in ns) / len(ns) if ns else index[n]
            rows[r].sort(key=key)
            index.update({n: i for i, n in enumerate(rows[r])})

    # coordinates along the order axis
    def gap(a, b):
        return (size[a][1] + size[b][1]) / 2 + (order_gap if not (isinstance(a, tuple) and isinstance(b, tuple))
                                                else order_gap / 2)

    pos = {}
    for row in rows:
        x = 0.0
        for i, n in enumerate(row):
            x = x + gap(row[i - 1], n) if i else 0.0
            pos[n] = x
        shift = (pos[row[0]] + pos[row[-1]]) / 2 if row else 0
        for n in row:
            pos[n] -= shift
    for sweep in range(2 * sweeps):
        neighbours, order = (up, range(1, depth)) if sweep % 2 == 0 else (down, range(depth - 2, -1, -1))
        for r in order:
            row = rows[r]
            want = [sum(pos[m] for m in neighbours[n]) / len(neighbours[n]) if neighbours[n] else pos[n]
                    for n in row]
            placed = []
            for i, n in enumerate(row):
                placed.append(want[i] if i == 0 else max(want[i], placed[-1] + gap(row[i - 1], n)))
            shift = sum(w - p for w, p in zip(want, placed)) / len(row)
            for n, p in zip(row, placed):
                pos[n] = p + shift

    # coordinates along the rank axis
    thickness = [max((size[n][0] for n in row), default=0.0) for row in rows]
    centre, y = [], 0.0
    for r, t in enumerate(thickness):
        y = y + (thickness[r - 1] + t) / 2 + rank_gap if r else t / 2
        centre.append(y)
    position = {n: (centre[rank[n]], pos[n]) for n in rank}
    paths = {}
    for edge, chain in chains.items():
        s, d = chain[0], chain[-1]
        points = [(position[s][0] + size[s][0] / 2, position[s][1])]
        points += [position[n] for n in chain[1:-1]]
        points.append((position[d][0] - size[d][0] / 2, position[d][1]))
        paths[edge] = points
    return {n: position[n] for n in nodes}, paths, back
