using System.Collections.Frozen;
using System.Text;

namespace Eval.Engine.IO;

/// <summary>
/// One storage of a PyTorch checkpoint, as its persistent id names it: <c>('storage', torch.FloatStorage, key,
/// location, numel)</c>. Its bytes are found by key (archive/data/KEY, or the legacy file's storage section).
/// </summary>
public sealed record TorchStorage(string Key, SafetensorsDType DType, string StorageType, string Location, long ElementCount);

/// <summary>A tensor: a view (element offset, shape, strides in elements) into a storage.</summary>
public sealed record TorchTensor(TorchStorage Storage, long StorageOffset, long[] Shape, long[] Stride)
{
    /// <summary>Checked: <see cref="TorchCheckpoint"/> refuses a view whose counts overflow (<see cref="Defect"/>), so this never throws for an opened file.</summary>
    public long ElementCount => Shape.Contains(0) ? 0 : Shape.Aggregate(1L, (a, b) => checked(a * b));

    /// <summary>The bytes of the tensor laid out densely (what converting it writes); checked as <see cref="ElementCount"/>.</summary>
    public long ByteCount => checked(ElementCount * SafetensorsFile.ElementSize(Storage.DType));

    /// <summary>
    /// Why the view cannot be read, or null: its element and dense byte counts must fit in 64 bits and be at most
    /// <paramref name="maxBytes"/> (a view may repeat stored elements — stride 0, as expand() makes — so its dense size is
    /// not bounded by the file), and the last element it reaches must lie inside its storage. Every count from the file is
    /// computed with checked arithmetic.
    /// </summary>
    public string? Defect(long maxBytes)
    {
        if (Shape.Contains(0)) return null;
        var dtype = Storage.DType;
        var view = $"size {Tensor.FormatShape(Shape)} (stride {Tensor.FormatShape(Stride)}, offset {StorageOffset})";
        long bytes;
        try { bytes = ByteCount; }
        catch (OverflowException) { return $"size {Tensor.FormatShape(Shape)} × {dtype} is more bytes than a file can hold"; }
        if (bytes > maxBytes)
            return $"{view} × {dtype} is {bytes} bytes as a dense tensor, more than the {maxBytes} bytes a tensor may have " +
                   $"(its storage '{Storage.Key}' holds {Storage.ElementCount} elements)";
        long last = StorageOffset;
        try
        {
            checked
            {
                for (int d = 0; d < Shape.Length; d++) last += (Shape[d] - 1) * Stride[d];
            }
        }
        catch (OverflowException)
        {
            last = long.MaxValue;
        }
        return last >= Storage.ElementCount
            ? $"{view} reaches element {last} of storage '{Storage.Key}', which holds {Storage.ElementCount} elements"
            : null;
    }

    /// <summary>Row-major with no gaps (dimensions of size 1 may have any stride).</summary>
    public bool IsContiguous
    {
        get
        {
            long expected = 1;
            for (int d = Shape.Length - 1; d >= 0; d--)
            {
                if (Shape[d] != 1 && Stride[d] != expected) return false;
                expected *= Shape[d];
            }
            return true;
        }
    }
}

/// <summary>
/// What a pickle's globals may be. No global is ever imported or called: a small allowlist is interpreted here
/// (PyTorch's tensor rebuild functions, OrderedDict, torch.Size, set/frozenset, codecs.encode, copyreg's
/// reconstructor), names whose only purpose is running code or reaching the system (os, subprocess, eval, exec,
/// getattr, torch.load, numpy.load, …) are refused where the pickle names them, and any other class becomes an
/// inert <see cref="PickleObject"/> holding its arguments and state.
/// </summary>
internal static class PickleGlobals
{
    private enum Interpretation
    {
        OrderedDict, DefaultDict, RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildFromTypeV2, TorchSize,
        CodecsEncode, Set, FrozenSet, Reconstructor,
    }

    private static readonly FrozenDictionary<string, Interpretation> Interpreted = new Dictionary<string, Interpretation>
    {
        ["collections.OrderedDict"] = Interpretation.OrderedDict,
        ["collections.defaultdict"] = Interpretation.DefaultDict,
        ["torch._utils._rebuild_tensor_v2"] = Interpretation.RebuildTensorV2,
        ["torch._utils._rebuild_tensor"] = Interpretation.RebuildTensor,
        ["torch._utils._rebuild_parameter"] = Interpretation.RebuildParameter,
        ["torch._utils._rebuild_parameter_with_state"] = Interpretation.RebuildParameter,
        ["torch._tensor._rebuild_from_type_v2"] = Interpretation.RebuildFromTypeV2,
        ["torch.Size"] = Interpretation.TorchSize,
        ["_codecs.encode"] = Interpretation.CodecsEncode,
        ["codecs.encode"] = Interpretation.CodecsEncode,
        ["builtins.set"] = Interpretation.Set,
        ["__builtin__.set"] = Interpretation.Set,
        ["builtins.frozenset"] = Interpretation.FrozenSet,
        ["__builtin__.frozenset"] = Interpretation.FrozenSet,
        ["copyreg._reconstructor"] = Interpretation.Reconstructor,
        ["copy_reg._reconstructor"] = Interpretation.Reconstructor,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>torch.*Storage classes by the element type of their data.</summary>
    public static readonly FrozenDictionary<string, SafetensorsDType> StorageTypes = new Dictionary<string, SafetensorsDType>
    {
        ["FloatStorage"] = SafetensorsDType.F32, ["HalfStorage"] = SafetensorsDType.F16, ["BFloat16Storage"] = SafetensorsDType.BF16,
        ["DoubleStorage"] = SafetensorsDType.F64, ["LongStorage"] = SafetensorsDType.I64, ["IntStorage"] = SafetensorsDType.I32,
        ["ShortStorage"] = SafetensorsDType.I16, ["CharStorage"] = SafetensorsDType.I8, ["ByteStorage"] = SafetensorsDType.U8,
        ["BoolStorage"] = SafetensorsDType.BOOL, ["UntypedStorage"] = SafetensorsDType.U8,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Modules (and their submodules) that exist to run code or reach the system: any name in them is refused.</summary>
    private static readonly FrozenSet<string> RefusedModules = new[]
    {
        "os", "posix", "nt", "posixpath", "ntpath", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pickle",
        "_pickle", "cPickle", "pickletools", "marshal", "ctypes", "code", "codeop", "types", "functools", "operator", "_operator",
        "webbrowser", "multiprocessing", "pty", "signal", "io", "_io", "pathlib", "tempfile", "pydoc", "inspect", "timeit",
        "platform", "commands", "popen2", "threading", "_thread", "asyncio", "urllib", "http", "ftplib", "smtplib",
        "telnetlib", "requests", "dill", "cloudpickle", "joblib", "shelve", "sqlite3", "zipimport", "pkgutil", "site",
        "ensurepip", "venv", "distutils", "setuptools", "pip", "gc", "imp", "bdb", "pdb", "trace",
        "cProfile", "profile", "sched", "selectors", "select", "mmap", "fcntl", "resource", "glob", "fileinput", "zipfile",
        "tarfile", "logging", "xmlrpc", "ssl", "uuid", "torch.hub", "torch.jit", "torch.package", "torch.serialization",
        "torch._C", "torch.ops", "torch.utils", "torch.cuda", "torch.distributed", "torch.multiprocessing", "torch.backends",
        "torch.compiler", "torch._dynamo", "torch._inductor", "torch.fx", "torch.library", "torch._ops", "numpy.lib.npyio",
        "numpy.testing", "numpy.distutils", "numpy.f2py", "numpy.ctypeslib",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The builtins a pickle may name: data types only (never eval, exec, getattr, open, __import__, …).</summary>
    private static readonly FrozenSet<string> DataBuiltins = new[]
    {
        "set", "frozenset", "slice", "bytearray", "complex", "list", "dict", "tuple", "int", "float", "str", "bytes",
        "bool", "object", "range",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>What the plain <c>torch</c> module may offer besides the interpreted names: types, dtypes and layouts.</summary>
    private static readonly FrozenSet<string> TorchNames = new[]
    {
        "Size", "Tensor", "device", "dtype", "float32", "float", "float16", "half", "bfloat16", "float64", "double",
        "int64", "long", "int32", "int", "int16", "short", "int8", "uint8", "bool", "complex64", "complex128",
        "strided", "sparse_coo", "contiguous_format", "preserve_format", "channels_last", "layout", "memory_format",
        "finfo", "iinfo", "qint8", "quint8", "qint32",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenSet<string> RefusedNumpyNames = new[]
    {
        "load", "loads", "loadtxt", "genfromtxt", "fromfile", "memmap", "fromregex", "save", "savez", "savetxt", "tofile",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Names a global, or throws (InvalidDataException, named by the reader with file, offset and opcode) when it is refused.</summary>
    public static PickleGlobal Resolve(string module, string name)
    {
        var global = new PickleGlobal(module, name);
        if (Refusal(module, name) is { } reason)
            throw new InvalidDataException($"refused global {global.FullName}: {reason}; only tensors, containers and inert data are loaded, nothing is run");
        return global;
    }

    private static string? Refusal(string module, string name)
    {
        if (module.Length == 0 || name.Length == 0 || name.Contains("__"))
            return "an empty or dunder name can reach interpreter internals";
        for (var prefix = module; prefix.Length > 0; prefix = prefix.Contains('.') ? prefix[..prefix.LastIndexOf('.')] : "")
            if (RefusedModules.Contains(prefix)) return $"module '{prefix}' runs code or reaches the system";
        if (Interpreted.ContainsKey($"{module}.{name}")) return null;
        switch (module)
        {
            case "builtins" or "__builtin__" or "exceptions":
                return DataBuiltins.Contains(name) ? null : $"builtin '{name}' is not a data type";
            case "torch":
                return TorchNames.Contains(name) || StorageTypes.ContainsKey(name) ? null : $"torch.{name} is not a tensor type, dtype or storage";
            case "torch._utils" or "torch._tensor":
                return $"{module}.{name} is not one of the tensor rebuild functions";
            case "torch.storage":
                return name is "UntypedStorage" or "TypedStorage" ? null : $"torch.storage.{name} is not a storage type";
            case "codecs" or "_codecs":
                return $"{module}.{name} is not codecs.encode";
            case "numpy" or "numpy.core" or "numpy.core.multiarray" or "numpy._core" or "numpy._core.multiarray":
                return RefusedNumpyNames.Contains(name) ? $"numpy's {name} reads or writes files" : null;
        }
        if (name.Contains('.')) return $"dotted name '{name}' reaches attributes of attributes";
        return null;
    }

    /// <summary>
    /// Calls (REDUCE, NEWOBJ, INST, OBJ) an allowlisted global by interpreting it, or records an inert object.
    /// Calling anything that is not a global is refused.
    /// </summary>
    public static object? Call(object? callable, PickleTuple arguments, PickleDict? keywordArguments = null)
    {
        if (callable is not PickleGlobal global)
            throw new InvalidDataException($"cannot call a {PickleText.TypeName(callable)} ({PickleText.Describe(callable, 1)}): only classes and functions named by GLOBAL are callable");
        if (!Interpreted.TryGetValue(global.FullName, out var interpretation))
            return new PickleObject(global, arguments, keywordArguments);
        var a = arguments.Items;
        switch (interpretation)
        {
            case Interpretation.OrderedDict:
            case Interpretation.DefaultDict:
            {
                var dict = new PickleDict();
                if (interpretation == Interpretation.OrderedDict && a.Count == 1)
                    foreach (var pair in Iterate(a[0], global))
                        dict.Set(Pair(pair, global).Key, Pair(pair, global).Value);
                else if (interpretation == Interpretation.OrderedDict && a.Count > 1)
                    throw new InvalidDataException($"{global.FullName} takes at most one argument, got {a.Count}");
                return dict;
            }
            case Interpretation.RebuildTensorV2:
            case Interpretation.RebuildTensor:
                return RebuildTensor(global, a);
            case Interpretation.RebuildParameter:
                return a.Count >= 1 && a[0] is TorchTensor parameterData
                    ? parameterData
                    : throw new InvalidDataException($"{global.FullName} expects a tensor first, got {PickleText.Describe(arguments)}");
            case Interpretation.RebuildFromTypeV2:
                if (a.Count < 3 || a[0] is not PickleGlobal inner || a[2] is not PickleTuple innerArguments
                    || !Interpreted.TryGetValue(inner.FullName, out var innerKind) || innerKind == Interpretation.RebuildFromTypeV2)
                    throw new InvalidDataException($"{global.FullName} expects (rebuild function, type, arguments, state), got {PickleText.Describe(arguments)}");
                return Call(inner, innerArguments);
            case Interpretation.TorchSize:
                return a.Count == 1 && a[0] is PickleTuple size ? size
                    : a.Count == 0 ? PickleTuple.Empty
                    : throw new InvalidDataException($"torch.Size expects a tuple, got {PickleText.Describe(arguments)}");
            case Interpretation.CodecsEncode:
                return Encode(global, a);
            case Interpretation.Set:
            case Interpretation.FrozenSet:
            {
                var set = new PickleSet(interpretation == Interpretation.FrozenSet);
                if (a.Count == 1) set.Items.AddRange(Iterate(a[0], global));
                return set;
            }
            case Interpretation.Reconstructor:
                return a.Count >= 1 && a[0] is PickleGlobal type
                    ? new PickleObject(type, PickleTuple.Empty)
                    : throw new InvalidDataException($"{global.FullName} expects a class first, got {PickleText.Describe(arguments)}");
            default:
                throw new InvalidOperationException(interpretation.ToString());
        }
    }

    private static IEnumerable<object?> Iterate(object? value, PickleGlobal global) => value switch
    {
        PickleList l => l.Items,
        PickleTuple t => t.Items,
        PickleSet s => s.Items,
        PickleDict d => d.Keys,
        _ => throw new InvalidDataException($"{global.FullName} expects an iterable, got {PickleText.Describe(value)}"),
    };

    private static (object? Key, object? Value) Pair(object? pair, PickleGlobal global) => pair switch
    {
        PickleTuple { Count: 2 } t => (t[0], t[1]),
        PickleList { Count: 2 } l => (l[0], l[1]),
        _ => throw new InvalidDataException($"{global.FullName} expects (key, value) pairs, got {PickleText.Describe(pair)}"),
    };

    private static byte[] Encode(PickleGlobal global, IReadOnlyList<object?> a)
    {
        if (a.Count is < 1 or > 2 || a[0] is not string text)
            throw new InvalidDataException($"{global.FullName} expects (str, encoding)");
        var encoding = a.Count == 2 ? a[1] as string : "utf-8";
        switch (encoding?.ToLowerInvariant())
        {
            case "latin1" or "latin-1" or "iso-8859-1":
                var bytes = new byte[text.Length];
                for (int i = 0; i < text.Length; i++)
                    bytes[i] = text[i] <= 0xFF ? (byte)text[i] : throw new InvalidDataException($"{global.FullName}: character U+{(int)text[i]:X4} is not latin-1");
                return bytes;
            case "utf-8" or "utf8":
                return Encoding.UTF8.GetBytes(text);
            default:
                throw new InvalidDataException($"{global.FullName}: encoding '{encoding}' is not supported (latin1, utf-8)");
        }
    }

    private static TorchTensor RebuildTensor(PickleGlobal global, IReadOnlyList<object?> a)
    {
        if (a.Count < 4 || a[0] is not TorchStorage storage || a[1] is not long offset || a[2] is not PickleTuple size || a[3] is not PickleTuple stride)
            throw new InvalidDataException($"{global.FullName} expects (storage, offset, size, stride, …), got {PickleText.Describe(new PickleTuple(a))}");
        var shape = Integers(size, "size", global);
        var strides = Integers(stride, "stride", global);
        if (shape.Length != strides.Length)
            throw new InvalidDataException($"{global.FullName}: size {Tensor.FormatShape(shape)} and stride {Tensor.FormatShape(strides)} differ in rank");
        if (offset < 0 || shape.Any(d => d < 0) || strides.Any(s => s < 0))
            throw new InvalidDataException($"{global.FullName}: negative offset, size or stride (offset {offset}, size {Tensor.FormatShape(shape)}, stride {Tensor.FormatShape(strides)})");
        // Whether the view's sizes hold (its counts fit, it stays inside its storage) is checked where its name is known:
        // TorchCheckpoint, for the tensors of the state dict (TorchTensor.Defect).
        return new TorchTensor(storage, offset, shape, strides);
    }

    private static long[] Integers(PickleTuple tuple, string what, PickleGlobal global) =>
        tuple.Items.Select(i => i is long l ? l : throw new InvalidDataException($"{global.FullName}: {what} {PickleText.Describe(tuple)} is not a tuple of integers")).ToArray();
}
