namespace Ttt;

/// <summary>Element type of a tensor.</summary>
public enum DType
{
    /// <summary>IEEE 754 single precision (4 bytes).</summary>
    Float32,
    /// <summary>IEEE 754 double precision (8 bytes).</summary>
    Float64,
    /// <summary>Signed 64-bit integer, used for indices and token ids.</summary>
    Int64,
}

/// <summary>Facts about <see cref="DType"/> values.</summary>
public static class DTypes
{
    /// <summary>Size of one element in bytes.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float64 => 8,
        DType.Int64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>True for <see cref="DType.Float32"/> and <see cref="DType.Float64"/>.</summary>
    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <summary>Lower-case name used in messages and files ("float32", "float64", "int64").</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float64 => "float64",
        DType.Int64 => "int64",
        _ => dtype.ToString(),
    };

    /// <summary>The dtype of a CLR element type (float, double or long).</summary>
    public static DType Of<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? DType.Float32
        : typeof(T) == typeof(double) ? DType.Float64
        : typeof(T) == typeof(long) ? DType.Int64
        : throw new NotSupportedException($"no tensor dtype for CLR type {typeof(T).Name}; use float, double or long");

    /// <summary>Parses "float32"/"f32"/"float", "float64"/"f64"/"double", "int64"/"i64"/"long".</summary>
    public static DType Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "float32" or "f32" or "float" or "fp32" => DType.Float32,
        "float64" or "f64" or "double" or "fp64" => DType.Float64,
        "int64" or "i64" or "long" => DType.Int64,
        _ => throw new ArgumentException($"unknown dtype '{name}': expected float32, float64 or int64", nameof(name)),
    };
}
