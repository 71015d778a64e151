"""Nests: leaves inside lists, tuples and dicts. The one set of helpers every room uses to walk them.

A nest is a leaf (anything that is not a container) or a container of nests. The containers are lists, tuples
(named tuples included) and dicts, unless a caller narrows them: ``tp.data`` treats a list as one leaf (data
to convert into one array), as TensorFlow does, and passes ``containers=(tuple, dict)``. Dict leaves come in
insertion order. Walks are iterative, so nesting depth is not limited by Python's recursion limit.
"""

from __future__ import annotations

NESTS = (list, tuple, dict)


def flatten(nest, containers=NESTS) -> list:
    """The leaves of ``nest``, in order.

    Example:
        >>> flatten([1, (2, {"a": 3, "b": [4]})])
        [1, 2, 3, 4]
    """
    out, stack = [], [nest]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and dict in containers:
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, containers) and not isinstance(item, dict):
            stack.extend(reversed(item))
        else:
            out.append(item)
    return out


def map_structure(fn, *nests, containers=NESTS):
    """``fn`` applied to the leaves of one or more nests of the same structure, in that structure.

    Example:
        >>> map_structure(lambda a, b: a + b, (1, {"x": 2}), (10, {"x": 20}))
        (11, {'x': 22})
    """
    first = nests[0]
    if isinstance(first, dict) and dict in containers:
        return {k: map_structure(fn, *(n[k] for n in nests), containers=containers) for k in first}
    if isinstance(first, containers) and not isinstance(first, dict):
        parts = [map_structure(fn, *items, containers=containers) for items in zip(*nests)]
        return _rebuilt(first, parts)
    return fn(*nests)


def flatten_with_rebuild(nest, containers=NESTS):
    """``(leaves, rebuild)``: the leaves of ``nest`` and a function that puts new leaves in the same places.

    Example:
        >>> leaves, rebuild = flatten_with_rebuild({"a": [1, 2], "b": 3})
        >>> rebuild([x * 10 for x in leaves])
        {'a': [10, 20], 'b': 30}
    """
    leaves = flatten(nest, containers)
    return leaves, lambda new: _fill(nest, iter(new), containers)


def _fill(nest, it, containers):
    if isinstance(nest, dict) and dict in containers:
        return {k: _fill(v, it, containers) for k, v in nest.items()}
    if isinstance(nest, containers) and not isinstance(nest, dict):
        return _rebuilt(nest, [_fill(v, it, containers) for v in nest])
    return next(it)


def _rebuilt(container, parts):
    if hasattr(container, "_fields"):  # a named tuple
        return type(container)(*parts)
    return type(container)(parts)


def contains(nest, types) -> bool:
    """Whether ``nest`` holds an instance of ``types`` (itself, or anywhere inside its lists/tuples/dicts)."""
    stack = [nest]
    while stack:
        item = stack.pop()
        if isinstance(item, types):
            return True
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return False
