namespace Ttt.Cpu.Fast;

/// <summary>
/// The iteration space of an element-wise kernel over up to four operands of one shape, with dims of size 1
/// dropped and neighbouring dims merged wherever every operand allows it, so that most views collapse to a few
/// long rows with unit or zero inner stride.
/// </summary>
internal sealed class Layout
{
    public readonly int[] Shape;       // coalesced shape (at least one dim)
    public readonly long[][] Strides;  // per operand, coalesced strides
    public readonly long[] Offsets;    // per operand, storage offset of element 0
    public readonly long Numel;

    public int Inner => Shape[^1];

    private Layout(int[] shape, long[][] strides, long[] offsets, long numel)
    {
        Shape = shape;
        Strides = strides;
        Offsets = offsets;
        Numel = numel;
    }

    /// <summary>Builds the layout for operands that all have the shape of <paramref name="operands"/>[0].</summary>
    public static Layout Of(params ReadOnlySpan<Tensor> operands)
    {
        var shape0 = operands[0].ShapeRef;
        int k = operands.Length;
        var dims = new List<int>();
        for (int d = 0; d < shape0.Length; d++)
            if (shape0[d] != 1) dims.Add(d);
        var shape = new List<int>();
        var strides = new List<long>[k];
        for (int o = 0; o < k; o++) strides[o] = [];
        foreach (int d in dims)
        {
            bool merge = shape.Count > 0;
            if (merge)
                for (int o = 0; o < k; o++)
                {
                    // previous (outer) dim merges with d when stride[prev] == stride[d] * shape[d]
                    if (strides[o][^1] != operands[o].StridesRef[d] * shape0[d])
                    {
                        merge = false;
                        break;
                    }
                }
            if (merge)
            {
                shape[^1] *= shape0[d];
                for (int o = 0; o < k; o++) strides[o][^1] = operands[o].StridesRef[d];
            }
            else
            {
                shape.Add(shape0[d]);
                for (int o = 0; o < k; o++) strides[o].Add(operands[o].StridesRef[d]);
            }
        }
        if (shape.Count == 0)
        {
            shape.Add(1);
            for (int o = 0; o < k; o++) strides[o].Add(1);
        }
        var offsets = new long[k];
        for (int o = 0; o < k; o++) offsets[o] = operands[o].Offset;
        return new Layout([.. shape], [.. strides.Select(s => s.ToArray())], offsets, ShapeUtil.Numel(shape0));
    }

    /// <summary>Storage offset of operand <paramref name="o"/> at the start of row <paramref name="row"/> (all dims but the last).</summary>
    public long RowOffset(int o, long row)
    {
        long off = Offsets[o];
        var st = Strides[o];
        for (int d = Shape.Length - 2; d >= 0; d--)
        {
            int n = Shape[d];
            off += (row % n) * st[d];
            row /= n;
        }
        return off;
    }
}
