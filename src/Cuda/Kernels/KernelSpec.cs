namespace Ttt.Cuda.Kernels;

/// <summary>Kind of one kernel parameter, as the launcher passes it and as the PTX declares it.</summary>
internal enum KernelParamKind
{
    /// <summary>A device pointer (PTX <c>.u64</c>).</summary>
    Pointer,
    /// <summary>A 32-bit integer (PTX <c>.u32</c>/<c>.s32</c>).</summary>
    Int32,
    /// <summary>A 64-bit integer (PTX <c>.u64</c>/<c>.s64</c>).</summary>
    Int64,
    /// <summary>A float (PTX <c>.f32</c>).</summary>
    Float32,
    /// <summary>A double (PTX <c>.f64</c>).</summary>
    Float64,
    /// <summary>A <see cref="Shape8"/> by value (PTX <c>.align 8 .b8 [80]</c>).</summary>
    Shape,
    /// <summary>A <see cref="Strides8"/> by value (PTX <c>.align 8 .b8 [72]</c>).</summary>
    Strides,
}

/// <summary>
/// A kernel entry point: the family (the .cu file, one PTX module), the extern "C" name and the parameter list.
/// Launches are checked against it, and a CPU test checks every spec of <see cref="KernelCatalog"/> against the
/// <c>.entry</c> signatures of the embedded PTX.
/// </summary>
/// <param name="Family">The kernel family: ptx/&lt;family&gt;.cu and the embedded module ptx/&lt;family&gt;.ptx.</param>
/// <param name="Name">The entry point name, with its dtype suffix.</param>
/// <param name="Parameters">The parameter kinds in order.</param>
internal sealed record KernelSpec(string Family, string Name, IReadOnlyList<KernelParamKind> Parameters)
{
    /// <summary>Size in bytes of a parameter of kind <paramref name="kind"/>.</summary>
    public static int SizeOf(KernelParamKind kind) => kind switch
    {
        KernelParamKind.Int32 or KernelParamKind.Float32 => 4,
        KernelParamKind.Pointer or KernelParamKind.Int64 or KernelParamKind.Float64 => 8,
        KernelParamKind.Shape => 80,
        KernelParamKind.Strides => 72,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <inheritdoc/>
    public override string ToString() => $"{Family}/{Name}({string.Join(", ", Parameters)})";
}

/// <summary>The same kernel instantiated for several dtypes (entry names end in _f32, _f64, _i64).</summary>
internal sealed class DTypeKernels
{
    private readonly Dictionary<DType, KernelSpec> _byType;

    internal DTypeKernels(string family, string baseName, DType[] dtypes, KernelParamKind[] parameters)
    {
        _byType = dtypes.ToDictionary(d => d, d => new KernelSpec(family, $"{baseName}_{Suffix(d)}", parameters));
        BaseName = baseName;
    }

    /// <summary>The name without the dtype suffix.</summary>
    public string BaseName { get; }

    /// <summary>Every instantiation.</summary>
    public IEnumerable<KernelSpec> All => _byType.Values;

    /// <summary>The instantiation for <paramref name="dtype"/>.</summary>
    /// <exception cref="NotSupportedException">The kernel has no instantiation for that dtype.</exception>
    public KernelSpec this[DType dtype] => _byType.TryGetValue(dtype, out var s)
        ? s
        : throw new NotSupportedException($"the CUDA kernel {BaseName} has no {dtype.Name()} version (it has {string.Join(", ", _byType.Keys.Select(k => k.Name()))})");

    /// <summary>The dtype suffix of entry names: f32, f64, i64.</summary>
    public static string Suffix(DType dtype) => dtype switch
    {
        DType.Float32 => "f32",
        DType.Float64 => "f64",
        DType.Int64 => "i64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };
}
