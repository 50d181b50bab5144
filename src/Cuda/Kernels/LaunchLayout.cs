namespace Ttt.Cuda.Kernels;

/// <summary>
/// Turns tensors that share one iteration shape into the kernel structs: drops dims of size 1 and merges
/// neighbouring dims wherever every operand allows it (outer stride = inner stride × inner size), so a
/// contiguous tensor becomes rank 1 and a broadcast over rows rank 2. Kernels index up to 8 dims after merging.
/// </summary>
internal static class LaunchLayout
{
    /// <summary>Most dims a kernel indexes after merging.</summary>
    public const int MaxDims = 8;

    /// <summary>
    /// Builds the launch structs for <paramref name="shape"/> and the operands' (strides, offset) over it.
    /// </summary>
    /// <exception cref="NotSupportedException">More than <see cref="MaxDims"/> dims remain after merging.</exception>
    public static (Shape8 Shape, Strides8[] Operands) Build(ReadOnlySpan<int> shape, params ReadOnlySpan<(long[] Strides, long Offset)> operands)
    {
        int k = operands.Length;
        var sizes = new List<long>();
        var strides = new List<long>[k];
        for (int o = 0; o < k; o++) strides[o] = [];
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            bool merge = sizes.Count > 0;
            for (int o = 0; o < k && merge; o++)
                merge = strides[o][^1] == operands[o].Strides[d] * shape[d];
            if (merge)
            {
                sizes[^1] *= shape[d];
                for (int o = 0; o < k; o++) strides[o][^1] = operands[o].Strides[d];
            }
            else
            {
                sizes.Add(shape[d]);
                for (int o = 0; o < k; o++) strides[o].Add(operands[o].Strides[d]);
            }
        }
        if (sizes.Count > MaxDims)
            throw new NotSupportedException($"the CUDA kernels index at most {MaxDims} dims, but shape [{string.Join(", ", shape.ToArray())}] has {sizes.Count} dims that cannot be merged for these operands; make an operand contiguous first");
        var s = new Shape8 { Rank = sizes.Count, Numel = 1 };
        foreach (var n in shape) s.Numel *= n;
        for (int d = 0; d < sizes.Count; d++) s.Size[d] = sizes[d];
        var result = new Strides8[k];
        for (int o = 0; o < k; o++)
        {
            result[o].Offset = operands[o].Offset;
            for (int d = 0; d < sizes.Count; d++) result[o].Stride[d] = strides[o][d];
        }
        return (s, result);
    }

    /// <summary>The (strides, offset) pair of a tensor.</summary>
    public static (long[] Strides, long Offset) Of(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        return (t.Strides.ToArray(), t.Offset);
    }

    /// <summary>True when the view covers one dense block in row-major order (possibly with an offset).</summary>
    public static bool IsDense(in Shape8 shape, in Strides8 strides) =>
        shape.Rank == 0 || (shape.Rank == 1 && strides.Stride[0] == 1);
}
