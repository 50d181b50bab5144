namespace Ttt.IO;

/// <summary>
/// Element types that this reader understands, named as in the safetensors header ("F32", "BF16", …).
/// F32, F64 and I64 load as they are; F16 and BF16 widen exactly to float32; the other integer types and BOOL
/// widen exactly to int64, because the engine computes only in <see cref="Ttt.DType"/>.
/// </summary>
public enum SafeTensorDType
{
    /// <summary>Boolean, one byte holding 0 or 1; loads as int64.</summary>
    Bool,
    /// <summary>Unsigned 8-bit integer; loads as int64.</summary>
    U8,
    /// <summary>Signed 8-bit integer; loads as int64.</summary>
    I8,
    /// <summary>Signed 16-bit integer; loads as int64.</summary>
    I16,
    /// <summary>Unsigned 16-bit integer; loads as int64.</summary>
    U16,
    /// <summary>IEEE 754 half precision; loads as float32 (exact).</summary>
    F16,
    /// <summary>bfloat16 (the upper half of a float32); loads as float32 (exact).</summary>
    BF16,
    /// <summary>Signed 32-bit integer; loads as int64.</summary>
    I32,
    /// <summary>Unsigned 32-bit integer; loads as int64.</summary>
    U32,
    /// <summary>IEEE 754 single precision; loads as float32.</summary>
    F32,
    /// <summary>IEEE 754 double precision; loads as float64.</summary>
    F64,
    /// <summary>Signed 64-bit integer; loads as int64.</summary>
    I64,
}

/// <summary>Facts about <see cref="SafeTensorDType"/>: header names, element sizes and the engine dtype each loads as.</summary>
public static class SafeTensorDTypes
{
    // Every name in the order the messages list them; the header spelling is case-sensitive (the format's
    // reference parser accepts only the upper-case names), so "f32" is rejected rather than guessed at.
    private static readonly (string Name, SafeTensorDType DType)[] Known =
    [
        ("F64", SafeTensorDType.F64), ("F32", SafeTensorDType.F32), ("F16", SafeTensorDType.F16),
        ("BF16", SafeTensorDType.BF16), ("I64", SafeTensorDType.I64), ("I32", SafeTensorDType.I32),
        ("I16", SafeTensorDType.I16), ("I8", SafeTensorDType.I8), ("U32", SafeTensorDType.U32),
        ("U16", SafeTensorDType.U16), ("U8", SafeTensorDType.U8), ("BOOL", SafeTensorDType.Bool),
    ];

    // Names the format defines but this engine cannot represent exactly (U64 exceeds int64; 8-, 6- and 4-bit floats
    // and complex numbers have no engine dtype). They get their own message so that a user knows the file is fine
    // and the reader is what falls short.
    private static readonly string[] KnownUnsupported =
        ["U64", "C64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"];

    /// <summary>The header names this reader accepts, for messages ("F64, F32, …").</summary>
    public static string SupportedNames { get; } = string.Join(", ", Known.Select(k => k.Name));

    /// <summary>The header spelling ("F32", "BOOL", …).</summary>
    public static string HeaderName(this SafeTensorDType dtype)
    {
        foreach (var (name, known) in Known)
            if (known == dtype) return name;
        throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype");
    }

    /// <summary>Parses a header dtype name; case-sensitive, as the format is.</summary>
    public static bool TryParse(string name, out SafeTensorDType dtype)
    {
        foreach (var (known, value) in Known)
        {
            if (string.Equals(known, name, StringComparison.Ordinal))
            {
                dtype = value;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>True for names the safetensors format defines that this reader cannot load (U64, F8_*, …).</summary>
    public static bool IsKnownButUnsupported(string name) => KnownUnsupported.Contains(name, StringComparer.Ordinal);

    /// <summary>Bytes per element in the file.</summary>
    public static int ElementSize(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.Bool or SafeTensorDType.U8 or SafeTensorDType.I8 => 1,
        SafeTensorDType.I16 or SafeTensorDType.U16 or SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        SafeTensorDType.I32 or SafeTensorDType.U32 or SafeTensorDType.F32 => 4,
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a safetensors dtype"),
    };

    /// <summary>True for the floating-point types (F16, BF16, F32, F64).</summary>
    public static bool IsFloatingPoint(this SafeTensorDType dtype) =>
        dtype is SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F32 or SafeTensorDType.F64;

    /// <summary>
    /// The engine dtype an element of this type loads as without a requested conversion: the same type where the
    /// engine has it, otherwise the smallest engine type that holds every value exactly.
    /// </summary>
    public static DType NaturalDType(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 => DType.Float64,
        SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 => DType.Float32,
        _ => DType.Int64,
    };

    /// <summary>The safetensors type that stores an engine dtype exactly (used by the writer).</summary>
    public static SafeTensorDType FromDType(DType dtype) => dtype switch
    {
        DType.Float32 => SafeTensorDType.F32,
        DType.Float64 => SafeTensorDType.F64,
        DType.Int64 => SafeTensorDType.I64,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "no safetensors type for this dtype"),
    };
}
