"""Check named producer/consumer pairs on the model's traced graph (the paper, as we read it, section 2:
FPE splits a hidden unit's incoming weights and copies its outgoing ones, which is right only if the
consumers are the only readers of the hidden units and nothing but elementwise operations lies between).

:func:`verify_pairs` traces, with ``torch.fx``, the smallest module that holds a pair's layers (and,
where the hidden units leave it, the modules above it, up to the model) and follows every producer's
output: it may pass only through elementwise modules and functions (activations, dropout, dtype
casts, a product of two producers of the same pair as in SwiGLU, a product with a Python number) and
must reach every named consumer, as the consumer's input. A reversed pair, a residual or norm that
reads the hidden units, or a consumer that reads something else is a ``ValueError`` naming the layer
and the operation. Where no module can be traced (data-dependent control flow, as in many Hugging
Face models) it returns the reason; with an example input, :func:`verify_by_running` then follows the
producers' outputs through the operations of a real forward pass instead, and without one
:func:`fpe.expand_layers` warns (:class:`UnverifiedPairsWarning`).
"""
from __future__ import annotations

import operator
import warnings

import torch
from torch import fx, nn
from torch.nn import functional as F

from .mlp import _why_not_elementwise

__all__ = ["UnverifiedPairsWarning", "verify_pairs", "verify_by_running"]


class UnverifiedPairsWarning(UserWarning):
    """:func:`fpe.expand_layers` could not check its pairs on the model's graph."""


_FUNCS = {F.relu, torch.relu, F.relu6, F.gelu, F.silu, F.mish, F.elu, F.selu, F.celu, F.leaky_relu, F.hardtanh,
          F.hardswish, F.hardsigmoid, F.softplus, F.softsign, F.tanhshrink, F.hardshrink, F.softshrink, F.logsigmoid,
          F.sigmoid, torch.sigmoid, torch.tanh, F.tanh, F.dropout, F.alpha_dropout, F.threshold, torch.nn.functional.relu_}
_METHODS = {"relu", "relu_", "sigmoid", "tanh", "contiguous", "clone", "float", "double", "half", "bfloat16", "to"}
_PRODUCTS = {operator.mul, torch.mul, "mul"}


class _Tracer(fx.Tracer):
    def __init__(self, leaves: set[str]):
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.leaves or super().is_leaf_module(m, qualname)


def _scopes(names) -> list[str]:
    """The smallest module holding all ``names``, then each module above it, up to the model (``""``)."""
    parts = [n.split(".")[:-1] for n in names]
    common = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return [".".join(common[:k]) for k in range(len(common), -1, -1)]


def verify_pairs(model: nn.Module, pairs, norms: dict | None = None) -> str | None:
    """Check ``pairs`` (``(producers, consumers)`` name tuples) on ``model``'s graph; ``None`` when all
    are verified, else the reason why some could not be checked. Raises ``ValueError`` for a pair that
    the graph shows to be wrong.

    For a pair of ``Conv2d`` layers (channel FPE) the hidden channels may also pass through per-channel
    modules: ``BatchNorm2d`` (whose entries the children must copy: their names are added to
    ``norms[producer]``), pooling and ``Dropout2d``."""
    norms = {} if norms is None else norms
    leaves = {n for p, c in pairs for n in (*p, *c)}
    graphs: dict[str, tuple[fx.Graph, nn.Module] | str] = {}
    reasons = []
    for prods, cons in pairs:
        for scope in _scopes([*prods, *cons]):
            if scope not in graphs:
                root = model.get_submodule(scope) if scope else model
                local = {n[len(scope) + 1:] if scope else n for n in leaves if not scope or n.startswith(scope + ".")}
                try:
                    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # tracing draws and says nothing
                        warnings.simplefilter("ignore")
                        graphs[scope] = (_Tracer(local).trace(root), root)
                except Exception as exc:  # noqa: BLE001 - any tracing failure means: cannot verify here
                    graphs[scope] = f"torch.fx cannot trace {scope or 'the model'} ({type(exc).__name__}: {str(exc)[:160]})"
            if isinstance(graphs[scope], str):
                continue
            graph, root = graphs[scope]
            found: list[str] = []
            if _check(graph, root, scope, prods, cons, found, model):
                norms[prods[0]] = [f"{scope}.{n}" if scope else n for n in found]
                break
        else:
            traced = [s for s in _scopes([*prods, *cons]) if isinstance(graphs.get(s), str)]
            reasons.append((f"pair {list(prods)} -> {list(cons)}", graphs[traced[0]] if traced else "not traced"))
    if not reasons:
        return None
    more = f"; {len(reasons) - 1} more pair(s) not verified: {[r[0][5:] for r in reasons[1:]]}" if len(reasons) > 1 else ""
    return f"{reasons[0][0]}: {reasons[0][1]}{more}"


def _check(graph: fx.Graph, root: nn.Module, scope: str, prods, cons, found: list, model: nn.Module) -> bool:
    """``True`` if the pair is verified in this graph, ``False`` if its hidden units leave it (look
    higher); ``ValueError`` if the graph shows the pair to be wrong."""
    rel = (lambda n: n[len(scope) + 1:]) if scope else (lambda n: n)
    where = f"the traced graph of {scope!r}" if scope else "the model's traced graph"
    calls = {n: [node for node in graph.nodes if node.op == "call_module" and node.target == rel(n)] for n in (*prods, *cons)}
    missing = [n for n in prods if not calls[n]]
    if missing:
        return False  # called elsewhere (or not at all): look higher
    hidden = {node for p in prods for node in calls[p]}
    channels = isinstance(model.get_submodule(prods[0]), nn.Conv2d)
    consumer_nodes = {node: n for n in cons for node in calls[n]}
    reached: set[str] = set()
    escaped = False
    todo, pending = list(hidden), {}
    while todo:
        node = todo.pop()
        for user in list(node.users):
            if user in consumer_nodes:
                if not user.args or user.args[0] is not node or any(a is node for a in user.args[1:]) or user.kwargs:
                    raise ValueError(f"pair {list(prods)} -> {list(cons)}: consumer {consumer_nodes[user]!r} is called with "
                                     f"more than the hidden units in {where}")
                reached.add(consumer_nodes[user])
            elif user.op == "output":
                escaped = True
            elif user not in hidden and channels and _per_channel(user, root):
                if isinstance(root.get_submodule(user.target), nn.BatchNorm2d):
                    found.append(user.target)
                hidden.add(user)
                todo.append(user)
            elif user not in hidden and _elementwise(user, hidden, root):
                hidden.add(user)
                pending.pop(user, None)
                todo.append(user)
            elif user not in hidden:
                pending[user] = None  # a product may wait for its other factor
        if not todo:
            todo = [u for u in pending if _elementwise(u, hidden, root)]
            for u in todo:
                hidden.add(u)
                pending.pop(u)
    for target in found:
        if any(node.op == "call_module" and node.target == target and node not in hidden for node in graph.nodes):
            raise ValueError(f"pair {list(prods)} -> {list(cons)}: the BatchNorm2d {target!r} between them is also called on "
                             f"other tensors in {where}; FPE would widen it for the children")
    if pending:
        user = next(iter(pending))
        lost = [c for c in cons if c not in reached]
        if lost:
            raise ValueError(f"pair {list(prods)} -> {list(cons)}: consumer {lost[0]!r} does not read the output of producer "
                             f"{prods[0]!r} through elementwise operations only in {where}: the producer's output goes to "
                             f"{user.format_node()}, which is neither elementwise nor a named consumer (a norm or a "
                             "residual in between, or a reversed or wrong pair?)")
        raise ValueError(f"pair {list(prods)} -> {list(cons)}: the output of producer {prods[0]!r} is read by "
                         f"{user.format_node()} in {where}, which is neither elementwise nor a named consumer "
                         "(a residual, a norm, attention or a reshape reading the hidden units?); FPE would change "
                         "what it reads. Name only producer -> elementwise -> consumer pairs")
    for n in cons:
        for node in calls[n]:
            if node.args and node.args[0] not in hidden:
                if not reached and not escaped:
                    raise ValueError(f"pair {list(prods)} -> {list(cons)}: consumer {n!r} does not read the output of "
                                     f"producer {prods[0]!r} in {where} (a reversed or wrong pair?); a pair is "
                                     "(producer, consumer) with only elementwise operations between them")
                if not escaped:
                    raise ValueError(f"pair {list(prods)} -> {list(cons)}: consumer {n!r} is also called on something else "
                                     f"than the output of producer {prods[0]!r} in {where}")
    if escaped:
        if not scope:
            if not reached:
                raise ValueError(f"pair {list(prods)} -> {list(cons)}: consumer {cons[0]!r} does not read the output of "
                                 f"producer {prods[0]!r} (a reversed or wrong pair?); in the model's traced graph the "
                                 "producer's output is returned by the model")
            raise ValueError(f"pair {list(prods)} -> {list(cons)}: the hidden units of producer {prods[0]!r} are also "
                             "returned by the model itself; FPE would change that output")
        return False
    if len(reached) < len(cons) or not all(calls[n] for n in cons):
        n = next(c for c in cons if c not in reached)
        raise ValueError(f"pair {list(prods)} -> {list(cons)}: consumer {n!r} does not read the output of producer "
                         f"{prods[0]!r} in {where} (a reversed or wrong pair?); a pair is (producer, consumer) with only "
                         "elementwise operations between them")
    return True


_PER_CHANNEL = (nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout2d)


def _per_channel(node: fx.Node, root: nn.Module) -> bool:
    """A module that acts on every channel on its own (a ``BatchNorm2d``: with per-channel entries)."""
    return (node.op == "call_module" and isinstance(root.get_submodule(node.target), _PER_CHANNEL)
            and len(node.args) == 1 and not node.kwargs)


def _elementwise(node: fx.Node, hidden: set, root: nn.Module) -> bool:
    """Whether ``node`` acts on the hidden units one by one (and reads no other tensor)."""
    others = [a for a in (*node.args[1:], *node.kwargs.values())]
    if node.op == "call_module":
        return _why_not_elementwise(root.get_submodule(node.target)) is None and len(node.args) == 1 and not node.kwargs
    if node.op == "call_function" and node.target in _PRODUCTS or node.op == "call_method" and node.target in _PRODUCTS:
        a, b = (node.args + (None, None))[:2]
        return len(node.args) == 2 and all(x in hidden or isinstance(x, (int, float)) for x in (a, b))
    if node.op == "call_function" and node.target in _FUNCS or node.op == "call_method" and node.target in _METHODS:
        return node.args[0] in hidden and not any(isinstance(a, fx.Node) for a in others)
    return False


_RUN_ELEMENTWISE = {"relu", "relu_", "gelu", "silu", "silu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "dropout", "dropout_",
                    "alpha_dropout", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "mish", "hardtanh",
                    "hardtanh_", "hardswish", "hardsigmoid", "softplus", "softsign", "relu6", "logsigmoid", "threshold",
                    "tanhshrink", "hardshrink", "softshrink", "contiguous", "clone", "float", "double", "half",
                    "bfloat16", "to", "detach"}
_RUN_PRODUCTS = {"mul", "mul_", "__mul__", "__rmul__", "__imul__"}
_RUN_METADATA = {"size", "dim", "__get__", "numel", "is_floating_point", "is_contiguous", "stride", "element_size",
                 "get_device", "__len__", "ndimension", "nelement"}


def verify_by_running(model: nn.Module, example, pairs) -> None:
    """Check ``pairs`` by running ``model`` on ``example`` (a tensor, a tuple of positional arguments or a
    dict of keyword arguments; eval mode, no gradients, modes and the CPU generator restored) and following
    every producer's output through the torch operations on it (a ``TorchFunctionMode``): the rules of
    :func:`verify_pairs` on the real data flow, for models that ``torch.fx`` cannot trace. Raises
    ``ValueError`` naming the layer and the operation."""
    from torch.overrides import TorchFunctionMode

    modules = dict(model.named_modules())
    tags: dict[int, int] = {}  # id(tensor) -> pair index
    alive: list[torch.Tensor] = []  # keep tagged tensors alive, so that their ids stay theirs
    inside: list[str] = []  # the consumers whose forward is running
    reached: set[tuple[int, str]] = set()
    problems: list[str] = []

    def tag(t, k):
        if isinstance(t, torch.Tensor):
            tags[id(t)] = k
            alive.append(t)

    def label(k):
        return f"pair {list(pairs[k][0])} -> {list(pairs[k][1])}"

    class Follow(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            flat = [a for a in (*args, *kwargs.values())]
            flat += [x for a in flat if isinstance(a, (list, tuple)) for x in a]
            found = {tags[id(a)] for a in flat if isinstance(a, torch.Tensor) and id(a) in tags}
            if not found or inside:
                return out
            name = getattr(func, "__name__", str(func))
            k = next(iter(found))
            if name in _RUN_METADATA:
                return out
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            if name in _RUN_PRODUCTS and len(found) == 1 and all(id(a) in tags for a in tensors) and not kwargs:
                tag(out, k)
            elif name in _RUN_ELEMENTWISE and len(found) == 1 and len(tensors) == 1 and id(args[0]) in tags:
                tag(out, k)
            elif not problems:
                problems.append(f"{label(k)}: the output of producer {pairs[k][0][0]!r} is read by {name} on the example "
                                "input, which is neither elementwise nor a named consumer (a residual, a norm, attention or "
                                "a reshape reading the hidden units?); FPE would change what it reads")
            return out

    hooks = []
    for k, (prods, cons) in enumerate(pairs):
        for p in prods:
            hooks.append(modules[p].register_forward_hook(lambda mod, a, out, k=k: tag(out, k)))
        for c in cons:
            def pre(mod, a, c=c, k=k):
                if a and isinstance(a[0], torch.Tensor) and tags.get(id(a[0])) == k:
                    reached.add((k, c))
                elif not problems:
                    problems.append(f"{label(k)}: consumer {c!r} is called on something else than the output of producer "
                                    f"{pairs[k][0][0]!r} (through elementwise operations) on the example input (a reversed "
                                    "or wrong pair?)")
                inside.append(c)

            hooks.append(modules[c].register_forward_pre_hook(pre))
            hooks.append(modules[c].register_forward_hook(lambda mod, a, out: inside.pop() and None))
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]), Follow():
            model(*example) if isinstance(example, tuple) else model(**example) if isinstance(example, dict) else model(example)
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    if problems:
        raise ValueError(problems[0])
    for k, (prods, cons) in enumerate(pairs):
        for c in cons:
            if (k, c) not in reached:
                raise ValueError(f"{label(k)}: consumer {c!r} does not read the output of producer {prods[0]!r} on the "
                                 "example input (a reversed or wrong pair, or a layer that does not run?)")
