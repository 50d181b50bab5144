using System.Globalization;

namespace Ttt.Testing;

/// <summary>How a generated tensor is laid out in memory.</summary>
public enum ViewKind
{
    /// <summary>Row-major, no gaps.</summary>
    Contiguous,
    /// <summary>A permutation (dims reversed) of a contiguous tensor: strides not row-major.</summary>
    Permuted,
    /// <summary>A narrow of a wider tensor along the last dim: rows with gaps.</summary>
    Narrowed,
    /// <summary>A size-1 dim broadcast to the requested size (stride 0); read-only.</summary>
    Expanded,
}

/// <summary>
/// A reproducible recipe for a tensor: its shape, the seed of its values, the value range and its layout.
/// <see cref="ToString"/> prints everything needed to rebuild a failing case.
/// </summary>
public sealed record TensorCase(int[] Shape, ulong Seed, ViewKind View = ViewKind.Contiguous, double Low = -2, double High = 2)
{
    /// <summary>Builds the tensor in <paramref name="dtype"/> on <paramref name="device"/> (CPU by default).</summary>
    public Tensor Build(DType dtype = DType.Float64, Device? device = null) =>
        TensorGen.Build(Shape, Seed, View, dtype, Low, High, device);

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{ShapeUtil.Format(Shape)} seed={Seed} view={View} range=[{Low}, {High}]");
}
