"""Run a torch module once on tensors without data and report each module call and torch call it makes.

The model runs as it would (Python control flow, loops over tensors, shape arithmetic, asserts and
containers all just run, and `isinstance` checks see real tensors), on meta tensors when its weights
are on the meta device and under a FakeTensorMode otherwise: neither computes nor allocates. Module
forward hooks give each call its path (torch's module names, `_1` for a second call) and a
TorchFunctionMode sees each torch function, Tensor method and operator inside, with concrete shapes.
A module a kind reads as a whole (a leaf) is one call: what runs inside it is not reported.

Under a FakeTensorMode, a call that reads no fake tensor (arithmetic on real weights, `torch.arange`
anchors) runs on real data, so that code which needs a value (a stride read with `float()`) runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from convprof.importing.calls import CallSite, call_name, model_frame, outside_model, reflected, site_of
from convprof.importing.quiet import quiet
from convprof.spec import Shape

if TYPE_CHECKING:
    import torch

__all__ = [
    "TRACE_BATCH",
    "BatchSize",
    "FunctionCall",
    "Listener",
    "ModuleCall",
    "Run",
    "Scope",
    "forward_names",
    "run_model",
    "tensors_in",
]

#: Samples in the tensors the model runs on: 2, not 1, so that an op that mixes the batch into
#: another dimension (x.view(-1)) shows as a changed batch instead of passing unnoticed.
TRACE_BATCH = 2
#: Tensor methods that read metadata only: they cost nothing and make no node.
_QUERIES = frozenset(
    {
        "dim",
        "ndimension",
        "numel",
        "nelement",
        "stride",
        "storage_offset",
        "is_contiguous",
        "element_size",
        "is_floating_point",
        "is_complex",
        "get_device",
        "data_ptr",
        "__format__",
        "__repr__",
        "__hash__",
        "has_names",
        "is_nonzero",
    }
)


#: Normalizations whose output has the shape and layout of their input: on tensors without data,
#: torch runs them through Python decompositions, the most time of running a ResNet; the output is
#: made as torch would make it instead. A wrong setting (a weight of another size) is still found:
#: the layer the call is read as is built from its tensors' shapes and checked.
_NORMALIZATIONS = frozenset(
    {
        "torch.nn.functional.batch_norm",
        "torch.nn.functional.layer_norm",
        "torch.nn.functional.group_norm",
        "torch.nn.functional.instance_norm",
    }
)
#: Calls that take a value to fill a new tensor with: a real one-element tensor given there is read
#: as its number, which a tensor without data cannot give.
_FILLS = frozenset({"new_full", "full", "full_like", "fill_", "new_tensor", "fill"})


def _numbers(value: Any) -> Any:
    """Return `value` with each real (not fake) one-element tensor in it as its Python number."""
    import torch
    from torch._subclasses.fake_tensor import is_fake

    if (
        isinstance(value, torch.Tensor)
        and not is_fake(value)
        and value.numel() == 1
        and value.device.type != "meta"
    ):
        return value.item()
    if isinstance(value, list | tuple):
        return type(value)(_numbers(item) for item in value)
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    return value


class BatchSize(int):
    """The batch size as a running model reads it from an activation (`x.size(0)`, `x.shape[0]`):
    a reader tells it from a literal 2 (a view that takes its batch from the input keeps any batch)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Scope:
    """The module whose forward is running."""

    name: str
    """Its qualified name in the model (`layer1.0`), empty for the model itself."""
    path: str
    """The path it runs at: its name, `_1` after it for a second call."""


@dataclass(frozen=True, slots=True)
class ModuleCall:
    """A call of a module a kind reads as a whole."""

    module: torch.nn.Module
    """The module."""
    path: str
    """Its path in this call."""
    args: tuple[Any, ...]
    """Its positional arguments."""
    kwargs: dict[str, Any]
    """Its keyword arguments."""
    output: Any
    """What it returned."""
    site: CallSite | None
    """Where the model's code called it."""


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A torch function, Tensor method or operator call inside a module's forward."""

    op: str
    """Its name as kinds name it: `torch.nn.functional.relu`, `Tensor.view`, `operator.add`."""
    args: tuple[Any, ...]
    """Its positional arguments, in the order the code wrote them (`1 - x`: 1, then x)."""
    kwargs: dict[str, Any]
    """Its keyword arguments."""
    output: Any
    """What it returned."""
    scope: Scope
    """The module whose forward made it."""
    site: CallSite | None
    """Where the model's code made it."""


class Listener(Protocol):
    """What reads the calls of a running model."""

    def claim(self, path: str) -> str:
        """Return the path a module call runs at: `path`, or `path_1` when it ran there before."""

    def is_leaf(self, module: torch.nn.Module) -> bool:
        """Return True when the module is read as one call, without what runs inside it."""

    def batched(self, tensor: torch.Tensor) -> bool:
        """Return True when the tensor's first dimension is the batch (an activation)."""

    def module(self, call: ModuleCall) -> None:
        """Read a leaf module's call."""

    def function(self, call: FunctionCall) -> None:
        """Read a torch call."""

    def input(self, tensor: torch.Tensor, index: int) -> None:
        """Take the tensor the model's `index`-th input is."""

    def same_shape(self, module: torch.nn.Module) -> Callable[[Shape], bool] | None:
        """Return, for a leaf module that torch lays out like its input (an activation, a batch norm),
        a test of whether its output has the shape of an input of a given per-sample shape; None for
        any other module."""


@dataclass(frozen=True, slots=True)
class Run:
    """What running the model gave besides the calls."""

    output: Any
    """What the model's forward returned."""
    called: frozenset[int]
    """Identities of the modules whose forward ran (inside a leaf too)."""


def tensors_in(value: Any) -> Iterator[Any]:
    """Yield each tensor in a nested list, tuple or dict."""
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)


def _marked(size: Any) -> Any:
    """Return a shape with its first size a BatchSize."""
    import torch

    if isinstance(size, torch.Size) and len(size):
        return torch.Size([BatchSize(size[0]), *size[1:]])
    return size


@contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """Run in eval mode (what convprof counts) and give the module back in its own modes."""
    modes = {sub: sub.training for sub in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for sub, training in modes.items():
            sub.training = training


class _Calls:
    """The module stack of a running model, its hooks and its torch function mode."""

    def __init__(self, root: torch.nn.Module, listener: Listener, fake: Any) -> None:
        self.root = root
        self.listener = listener
        self.fake = fake
        self.names: dict[int, list[str]] = {}
        for name, module in root.named_modules(remove_duplicate=False):
            self.names.setdefault(id(module), []).append(name)
        self.stack: list[tuple[Scope, bool]] = [(Scope("", ""), False)]
        self.quiet = 0
        """Depth inside a leaf module: what runs there is not reported."""
        self.called: set[int] = set()
        self.site: CallSite | None = None
        """Where the model called the leaf module now running."""

    def child_name(self, module: torch.nn.Module) -> tuple[str, str]:
        """Return the module's qualified name and its path relative to the running scope's."""
        parent = self.stack[-1][0]
        names = self.names.get(id(module), [type(module).__name__.lower()])
        if not parent.name:
            inside = [name for name in names if name]
            name = min(inside, key=lambda n: n.count("."), default=names[0])
            return name, f"{parent.path}.{name}" if parent.path else name
        prefix = parent.name + "."
        inside = [name for name in names if name.startswith(prefix)]
        if not inside:
            return names[0], names[0]
        name = min(inside, key=lambda n: n.count("."))
        return name, f"{parent.path}.{name[len(prefix) :]}"

    def before(self, module: torch.nn.Module, args: Any, kwargs: Any) -> None:
        self.called.add(id(module))
        if self.quiet:
            self.quiet += 1
            return
        name, base = self.child_name(module)
        leaf = self.listener.is_leaf(module)
        self.stack.append((Scope(name, self.listener.claim(base)), leaf))
        if leaf:
            self.quiet = 1
            self.site = site_of(model_frame())

    def after(self, module: torch.nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        if self.quiet > 1:
            self.quiet -= 1
            return
        scope, leaf = self.stack.pop()
        if leaf:
            self.quiet = 0
            self.listener.module(ModuleCall(module, scope.path, tuple(args), dict(kwargs), output, self.site))

    def mode(self) -> Any:
        from torch.overrides import TorchFunctionMode

        calls = self

        class Recorder(TorchFunctionMode):
            """Report each torch call made outside a leaf module, with its scope and call site."""

            def __torch_function__(
                self,
                func: Callable[..., Any],
                types: Any,
                args: Sequence[Any] = (),
                kwargs: dict[str, Any] | None = None,
            ) -> Any:
                kwargs = kwargs or {}
                if calls.quiet:
                    return func(*args, **kwargs)
                return calls.call(func, tuple(args), kwargs)

        return Recorder()

    def run(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Call `func`; under a FakeTensorMode, on real data when it reads no fake tensor, and with
        a fill value given as a real one-element tensor read as its number (YOLO's anchors:
        `feats[0].new_full((h * w, 1), stride)`, a stride taken from the model's real strides)."""
        if self.fake is not None:
            from torch._subclasses.fake_tensor import is_fake, unset_fake_temporarily

            if not any(is_fake(t) for t in tensors_in((args, kwargs))):
                with unset_fake_temporarily():
                    return func(*args, **kwargs)
            if getattr(func, "__name__", "") in _FILLS:
                with unset_fake_temporarily():
                    args, kwargs = _numbers((args, kwargs))
        return func(*args, **kwargs)

    def call(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name = getattr(func, "__name__", "")
        if name == "__get__":  # a property: x.shape, x.dtype; x.T and x.data are tensors
            import torch

            result = func(*args, **kwargs)
            owner = getattr(getattr(func, "__self__", None), "__name__", "")
            if owner == "shape" and args and self.listener.batched(args[0]):
                return _marked(result)
            if isinstance(result, torch.Tensor):
                frame = model_frame()
                call = FunctionCall(
                    f"Tensor.{owner}", tuple(args), {}, result, self.stack[-1][0], site_of(frame)
                )
                self.listener.function(call)
            return result
        if name in _QUERIES:
            return func(*args, **kwargs)
        if name in ("size", "__len__") and args and self.listener.batched(args[0]):
            result = func(*args, **kwargs)
            if name == "__len__" or not (args[1:] or kwargs):
                return BatchSize(result) if isinstance(result, int) else _marked(result)
            dim = args[1] if len(args) > 1 else kwargs.get("dim")
            return BatchSize(result) if isinstance(dim, int) and dim % max(args[0].dim(), 1) == 0 else result
        if name == "size":
            return func(*args, **kwargs)
        frame = model_frame()
        op = call_name(func, frame)
        if op in _NORMALIZATIONS and args and self.listener.batched(args[0]):
            import torch

            result = torch.empty_like(args[0])  # what torch makes, without its decomposition's work
        else:
            result = self.run(func, args, kwargs)
        written = (args[1], args[0], *args[2:]) if reflected(func) and len(args) >= 2 else args
        self.listener.function(FunctionCall(op, written, kwargs, result, self.stack[-1][0], site_of(frame)))
        return result


def forward_names(module: torch.nn.Module, count: int) -> tuple[str, ...]:
    """Return the names of the forward's first `count` arguments, the tensors an import feeds it;
    raise ModelImportError when it needs more or takes fewer (an argument with a default,
    `attn_mask=None`, is not an input unless given one)."""
    import inspect

    from convprof.importing.problems import ModelImportError

    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):  # a forward Python cannot inspect: take what is given
        return tuple(f"input{position}" for position in range(count))
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    name = type(module).__name__
    if count < len(required) or (count > len(positional) and not variadic):
        wanted = len(required) if count < len(required) else len(positional)
        listed = ", ".join(p.name for p in (required if count < len(required) else positional))
        raise ModelImportError(
            f"{name}'s forward takes {wanted} tensor{'s' if wanted != 1 else ''} ({listed}) where "
            f"{count} {'is' if count == 1 else 'are'} given: give --input once per argument, in order"
        )
    names = [p.name for p in positional[:count]]
    names += [f"input{position}" for position in range(len(names), count)]
    return tuple(names)


@contextmanager
def _shortcut(module: torch.nn.Module, same_shape: Callable[[Shape], bool]) -> Iterator[None]:
    """Give a leaf layer that computes each output element from its input's and lays its output out
    like its input (a batch norm, an activation) a forward that makes that output without running
    torch's kernels: a batch norm on meta tensors runs torch's Python decomposition, most of the
    time of running a ResNet. Called otherwise (other arguments, another shape), it runs as it is."""
    import torch

    own = module.__dict__.get("forward")
    original = module.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor) and args[0].dim() > 1:
            x = args[0]
            if same_shape(tuple(int(size) for size in x.shape[1:])):
                return torch.empty_like(x)
        return original(*args, **kwargs)

    module.forward = forward
    try:
        yield
    finally:
        if own is None:
            del module.forward
        else:
            module.forward = own


def _error_site(error: BaseException) -> CallSite | None:
    """Return the innermost line of the model's own code in an exception's traceback."""
    site = None
    trace = error.__traceback__
    while trace is not None:
        code = trace.tb_frame.f_code
        if not outside_model(code.co_filename):
            site = CallSite(code.co_filename, trace.tb_lineno)
        trace = trace.tb_next
    return site


def run_model(module: torch.nn.Module, input_shapes: Sequence[Shape], listener: Listener) -> Run:
    """Run `module` once on a batch of TRACE_BATCH samples of each input shape, telling `listener`
    each call; return what it returned. Exceptions of the model's code propagate, with
    `convprof_site` set to the model's line that raised, where there is one."""
    import torch

    tensors = [*module.parameters(), *module.buffers()]
    on_meta = bool(tensors) and all(t.device.type == "meta" for t in tensors)
    with ExitStack() as stack:
        stack.enter_context(quiet())
        stack.enter_context(_eval_mode(module))
        stack.enter_context(torch.no_grad())
        fake = None
        if on_meta:
            stack.enter_context(torch.device("meta"))
            inputs = [torch.empty((TRACE_BATCH, *shape), device="meta") for shape in input_shapes]
        else:
            from torch._subclasses.fake_tensor import FakeTensorMode

            fake = stack.enter_context(FakeTensorMode(allow_non_fake_inputs=True))
            inputs = [fake.from_tensor(torch.empty((TRACE_BATCH, *shape))) for shape in input_shapes]
        calls = _Calls(module, listener, fake)
        for index, tensor in enumerate(inputs):
            listener.input(tensor, index)
        hooked = [m for name, m in module.named_modules() if name]
        if listener.is_leaf(module):  # a model that is one layer: a call of it, named by its class
            calls.names[id(module)] = [type(module).__name__.lower()]
            hooked.append(module)
        for sub in hooked:
            stack.enter_context(sub.register_forward_pre_hook(calls.before, with_kwargs=True))
            stack.enter_context(sub.register_forward_hook(calls.after, with_kwargs=True))
            test = listener.same_shape(sub)
            if test is not None:
                stack.enter_context(_shortcut(sub, test))
        stack.enter_context(calls.mode())
        try:
            output = module(*inputs)
        except Exception as exc:
            exc.convprof_site = _error_site(exc)  # type: ignore[attr-defined]
            raise
    return Run(output, frozenset(calls.called))
