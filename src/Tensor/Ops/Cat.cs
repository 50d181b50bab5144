namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Concatenates tensors along <paramref name="dim"/> (all other dims equal). ∂/∂xᵢ = the matching narrow of g.
    /// </summary>
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("cat: expected at least one tensor", nameof(tensors));
        var first = tensors[0];
        int d = ShapeUtil.NormalizeDim("cat", dim, first.Rank, first._shape);
        var shape = first.ShapeArray();
        int total = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            first.CheckCompatible("cat", t);
            if (t.Rank != first.Rank)
                throw new ArgumentException($"cat: tensor {i} has shape {ShapeUtil.Format(t._shape)} but tensor 0 has {ShapeUtil.Format(first._shape)} (ranks differ)");
            for (int k = 0; k < t.Rank; k++)
                if (k != d && t._shape[k] != first._shape[k])
                    throw new ArgumentException($"cat: tensor {i} has shape {ShapeUtil.Format(t._shape)} but tensor 0 has {ShapeUtil.Format(first._shape)} (dim {k} differs; only dim {d} may)");
            total += t._shape[d];
        }
        shape[d] = total;
        var y = Empty(shape, first.DType, first.Device);
        int offset = 0;
        var sizes = new int[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            sizes[i] = t._shape[d];
            var part = y.ViewRaw(t.ShapeArray(), (long[])y._strides.Clone(), offset * y._strides[d]);
            y.Backend.Copy(t, part);
            offset += sizes[i];
        }
        return ShouldRecord(tensors.ToArray()) ? y.WithGradFn(new CatBackward(tensors.ToArray(), d, sizes)) : y;
    }

    /// <summary>Stacks equally shaped tensors along a new dim.</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("stack: expected at least one tensor", nameof(tensors));
        for (int i = 1; i < tensors.Count; i++)
            if (!ShapeUtil.SameShape(tensors[i]._shape, tensors[0]._shape))
                throw new ArgumentException($"stack: tensor {i} has shape {ShapeUtil.Format(tensors[i]._shape)} but tensor 0 has {ShapeUtil.Format(tensors[0]._shape)}");
        return Cat(tensors.Select(t => t.Unsqueeze(dim)).ToArray(), dim < 0 ? dim + tensors[0].Rank + 1 : dim);
    }

    /// <summary>Splits into pieces of <paramref name="size"/> along <paramref name="dim"/> (the last may be smaller); views.</summary>
    public Tensor[] Split(int size, int dim = 0)
    {
        int d = ShapeUtil.NormalizeDim("split", dim, Rank, _shape);
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), $"split: size must be positive, got {size}");
        var parts = new List<Tensor>();
        for (int s = 0; s < _shape[d]; s += size) parts.Add(Narrow(d, s, Math.Min(size, _shape[d] - s)));
        return [.. parts];
    }

    /// <summary>Splits into pieces of the given sizes along <paramref name="dim"/>; views.</summary>
    public Tensor[] Split(int[] sizes, int dim = 0)
    {
        int d = ShapeUtil.NormalizeDim("split", dim, Rank, _shape);
        if (sizes.Sum() != _shape[d])
            throw new ArgumentException($"split: sizes ({string.Join(", ", sizes)}) sum to {sizes.Sum()}, not to dim {d} of shape {ShapeUtil.Format(_shape)}");
        var parts = new Tensor[sizes.Length];
        int start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Narrow(d, start, sizes[i]);
            start += sizes[i];
        }
        return parts;
    }

    /// <summary>Splits into <paramref name="chunks"/> nearly equal pieces along <paramref name="dim"/>; views.</summary>
    public Tensor[] Chunk(int chunks, int dim = 0)
    {
        if (chunks <= 0) throw new ArgumentOutOfRangeException(nameof(chunks), $"chunk: count must be positive, got {chunks}");
        int d = ShapeUtil.NormalizeDim("chunk", dim, Rank, _shape);
        return Split((_shape[d] + chunks - 1) / chunks, d);
    }

    private sealed class CatBackward(Tensor[] inputs, int dim, int[] sizes) : GradNode("cat", inputs)
    {
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var grads = new Tensor?[sizes.Length];
            int start = 0;
            for (int i = 0; i < sizes.Length; i++)
            {
                if (needs[i]) grads[i] = g.Narrow(dim, start, sizes[i]);
                start += sizes[i];
            }
            return grads;
        }
    }
}
