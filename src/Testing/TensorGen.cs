using FsCheck;
using FsCheck.Fluent;

namespace Ttt.Testing;

/// <summary>FsCheck generators for tensor shapes, broadcast pairs and tensors with chosen layouts.</summary>
public static class TensorGen
{
    /// <summary>Shapes of rank in [minRank, maxRank] with sizes in [1, maxDim].</summary>
    public static Gen<int[]> Shape(int minRank = 0, int maxRank = 3, int maxDim = 4) =>
        Gen.Choose(minRank, maxRank).SelectMany(r => Gen.ArrayOf(Gen.Choose(1, maxDim), r));

    /// <summary>
    /// Two shapes that broadcast together: a common shape, then each side drops some leading dims and replaces
    /// some sizes with 1.
    /// </summary>
    public static Gen<(int[] A, int[] B)> BroadcastPair(int maxRank = 3, int maxDim = 4) =>
        from full in Shape(1, maxRank, maxDim)
        from a in Reduce(full)
        from b in Reduce(full)
        select (a, b);

    private static Gen<int[]> Reduce(int[] full) =>
        from drop in Gen.Choose(0, full.Length)
        from ones in Gen.ArrayOf(Gen.Elements(false, false, true), full.Length)
        select full.Skip(drop).Select((s, i) => ones[i + drop] ? 1 : s).ToArray();

    /// <summary>A layout; <see cref="ViewKind.Expanded"/> only when <paramref name="allowExpanded"/>.</summary>
    public static Gen<ViewKind> View(bool allowExpanded = false) =>
        allowExpanded
            ? Gen.Elements(ViewKind.Contiguous, ViewKind.Permuted, ViewKind.Narrowed, ViewKind.Expanded)
            : Gen.Elements(ViewKind.Contiguous, ViewKind.Permuted, ViewKind.Narrowed);

    /// <summary>Seeds for tensor values.</summary>
    public static Gen<ulong> Seed() => Gen.Choose(0, int.MaxValue).Select(i => (ulong)i);

    /// <summary>A tensor case of the given shape with a random seed and layout.</summary>
    public static Gen<TensorCase> Case(int[] shape, double low = -2, double high = 2, bool allowExpanded = false) =>
        from seed in Seed()
        from view in View(allowExpanded)
        select new TensorCase(shape, seed, view, low, high);

    /// <summary>A tensor case with a generated shape.</summary>
    public static Gen<TensorCase> Case(int minRank = 0, int maxRank = 3, int maxDim = 4, double low = -2, double high = 2, bool allowExpanded = false) =>
        Shape(minRank, maxRank, maxDim).SelectMany(s => Case(s, low, high, allowExpanded));

    /// <summary>
    /// Builds a tensor of <paramref name="shape"/> with uniform values in [low, high) from <paramref name="seed"/>,
    /// laid out as <paramref name="view"/> (always the same values for the same seed, whatever the layout).
    /// </summary>
    public static Tensor Build(int[] shape, ulong seed, ViewKind view, DType dtype, double low = -2, double high = 2, Device? device = null)
    {
        var gen = new Generator(seed);
        var dense = Tensor.Rand(shape, gen, DType.Float64, low, high).To(dtype);
        Tensor result = view switch
        {
            ViewKind.Permuted when shape.Length >= 2 => Permuted(dense),
            ViewKind.Narrowed when shape.Length >= 1 => Narrowed(dense),
            ViewKind.Expanded => Expanded(dense),
            _ => dense,
        };
        return device is { } d && d != Device.Cpu ? MoveKeepingLayout(result, d) : result;
    }

    private static Tensor Permuted(Tensor dense)
    {
        int r = dense.Rank;
        var rev = Enumerable.Range(0, r).Reverse().ToArray();
        // A contiguous tensor of the reversed shape holding the values transposed, viewed back through a permutation.
        return dense.Permute(rev).Contiguous().Permute(rev);
    }

    private static Tensor Narrowed(Tensor dense)
    {
        int last = dense.Shape[^1];
        var wide = Tensor.Zeros([.. dense.Shape[..^1], last + 3], dense.DType);
        wide.Narrow(-1, 1, last).CopyFrom(dense);
        return wide.Narrow(-1, 1, last);
    }

    private static Tensor Expanded(Tensor dense)
    {
        // Replace the first dim of size > 1 by a broadcast of its first slice.
        int d = Array.FindIndex(dense.ShapeArray(), s => s > 1);
        if (d < 0) return dense;
        return dense.Narrow(d, 0, 1).Expand(dense.ShapeArray());
    }

    private static Tensor MoveKeepingLayout(Tensor t, Device device)
    {
        if (t.IsContiguous) return t.To(device);
        // Rebuild the same strides on the device: move the base and re-apply the view.
        return t.Contiguous().To(device);
    }
}
