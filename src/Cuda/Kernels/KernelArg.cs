using System.Runtime.InteropServices;

namespace Ttt.Cuda.Kernels;

/// <summary>A device address passed to a kernel (distinct from an int64 so launch checks can tell them apart).</summary>
/// <param name="Address">The device address (0 for a null pointer, which some kernels accept for optional inputs).</param>
public readonly record struct DevicePtr(ulong Address)
{
    /// <summary>The null device pointer.</summary>
    public static DevicePtr Null => default;

    /// <summary>This address moved by <paramref name="bytes"/>.</summary>
    public DevicePtr Add(long bytes) => new((ulong)((long)Address + bytes));
}

/// <summary>
/// One kernel argument: its kind and its value. Built implicitly from <see cref="DevicePtr"/>, int, long, float,
/// double, <see cref="Kernels.Shape8"/> and <see cref="Kernels.Strides8"/>, so a launch reads like the C call.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KernelArg
{
    // Fields (not properties) so that the launcher can hand the driver their addresses.
    internal KernelParamKind KindField;

    /// <summary>Scalar payload (pointer, integers, float bits in the low 4 bytes, double bits).</summary>
    internal long Scalar;

    /// <summary>Shape payload.</summary>
    internal Shape8 Shape;

    /// <summary>Strides payload.</summary>
    internal Strides8 Strides;

    /// <summary>The parameter kind.</summary>
    public readonly KernelParamKind Kind => KindField;

    private KernelArg(KernelParamKind kind, long scalar, Shape8 shape = default, Strides8 strides = default)
    {
        KindField = kind;
        Scalar = scalar;
        Shape = shape;
        Strides = strides;
    }

    /// <summary>A pointer argument.</summary>
    public static implicit operator KernelArg(DevicePtr p) => new(KernelParamKind.Pointer, (long)p.Address);

    /// <summary>An int argument.</summary>
    public static implicit operator KernelArg(int v) => new(KernelParamKind.Int32, (uint)v);

    /// <summary>A long long argument.</summary>
    public static implicit operator KernelArg(long v) => new(KernelParamKind.Int64, v);

    /// <summary>A float argument.</summary>
    public static implicit operator KernelArg(float v) => new(KernelParamKind.Float32, BitConverter.SingleToUInt32Bits(v));

    /// <summary>A double argument.</summary>
    public static implicit operator KernelArg(double v) => new(KernelParamKind.Float64, BitConverter.DoubleToInt64Bits(v));

    /// <summary>A Shape8 argument.</summary>
    public static implicit operator KernelArg(Shape8 s) => new(KernelParamKind.Shape, 0, shape: s);

    /// <summary>A Strides8 argument.</summary>
    public static implicit operator KernelArg(Strides8 s) => new(KernelParamKind.Strides, 0, strides: s);

    /// <summary>Named alternative to the implicit conversion from <see cref="DevicePtr"/>.</summary>
    public static KernelArg FromDevicePtr(DevicePtr p) => p;

    /// <summary>Throws unless <paramref name="args"/> match the parameter kinds of <paramref name="spec"/>.</summary>
    public static void Validate(KernelSpec spec, ReadOnlySpan<KernelArg> args)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (args.Length != spec.Parameters.Count)
            throw new ArgumentException($"kernel {spec.Name} takes {spec.Parameters.Count} parameters, the launch passed {args.Length}");
        for (int i = 0; i < args.Length; i++)
            if (args[i].Kind != spec.Parameters[i])
                throw new ArgumentException($"kernel {spec.Name}: parameter {i} is {spec.Parameters[i]}, the launch passed {args[i].Kind}");
    }
}
