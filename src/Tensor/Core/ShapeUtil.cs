using System.Text;

namespace Ttt;

/// <summary>Shape arithmetic shared by the op layer and the backends.</summary>
public static class ShapeUtil
{
    /// <summary>Number of elements of a shape (1 for a scalar shape []).</summary>
    public static long Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var s in shape) n *= s;
        return n;
    }

    /// <summary>Row-major strides of a contiguous tensor of this shape.</summary>
    public static long[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    /// <summary>"[2, 3, 4]".</summary>
    public static string Format(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    /// <summary>True when both shapes have the same rank and sizes.</summary>
    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>
    /// NumPy broadcasting: align trailing dims; each pair must be equal or contain a 1.
    /// Throws naming <paramref name="op"/> and both shapes otherwise.
    /// </summary>
    public static int[] Broadcast(string op, ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast together (dim {i - rank}: {da} vs {db})");
            result[i] = da == 1 ? db : da;
        }
        return result;
    }

    /// <summary>Maps a possibly negative dim into [0, rank); throws naming the op otherwise.</summary>
    public static int NormalizeDim(string op, int dim, int rank, ReadOnlySpan<int> shape)
    {
        int r = Math.Max(rank, 1);
        if (dim < -r || dim >= r)
            throw new ArgumentOutOfRangeException(nameof(dim), $"{op}: dim {dim} is out of range for a tensor of shape {Format(shape)} (rank {rank}; valid: {-r}..{r - 1})");
        return dim < 0 ? dim + r : dim;
    }

    /// <summary>Normalized, sorted, de-duplicated dims; all dims when <paramref name="dims"/> is null.</summary>
    public static int[] NormalizeDims(string op, int[]? dims, ReadOnlySpan<int> shape)
    {
        int rank = shape.Length;
        if (dims is null) return Enumerable.Range(0, rank).ToArray();
        var set = new SortedSet<int>();
        foreach (var d in dims)
        {
            int n = NormalizeDim(op, d, rank, shape);
            if (!set.Add(n))
                throw new ArgumentException($"{op}: dim {d} appears twice in ({string.Join(", ", dims)}) for shape {Format(shape)}");
        }
        return set.ToArray();
    }

    /// <summary>Shape with <paramref name="dims"/> set to 1 (keepdim) or removed.</summary>
    public static int[] Reduced(ReadOnlySpan<int> shape, ReadOnlySpan<int> dims, bool keepDim)
    {
        var list = new List<int>(shape.Length);
        for (int i = 0; i < shape.Length; i++)
        {
            bool reduced = dims.Contains(i);
            if (!reduced) list.Add(shape[i]);
            else if (keepDim) list.Add(1);
        }
        return list.ToArray();
    }
}
