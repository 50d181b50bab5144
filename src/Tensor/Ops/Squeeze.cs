namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Removes dim <paramref name="dim"/>, which must have size 1 (a view).</summary>
    public Tensor Squeeze(int dim)
    {
        int d = ShapeUtil.NormalizeDim("squeeze", dim, Rank, _shape);
        if (_shape[d] != 1) throw new ArgumentException($"squeeze: dim {dim} has size {_shape[d]}, not 1, in shape {ShapeUtil.Format(_shape)}");
        var shape = _shape.Where((_, i) => i != d).ToArray();
        return Reshape(shape);
    }

    /// <summary>Removes every dim of size 1 (a view).</summary>
    public Tensor Squeeze() => Reshape(_shape.Where(s => s != 1).ToArray());

    /// <summary>Inserts a dim of size 1 at <paramref name="dim"/> (−1 appends) (a view).</summary>
    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Rank + 1 : dim;
        if (d < 0 || d > Rank) throw new ArgumentOutOfRangeException(nameof(dim), $"unsqueeze: dim {dim} is out of range for shape {ShapeUtil.Format(_shape)} (valid: {-Rank - 1}..{Rank})");
        var shape = _shape.ToList();
        shape.Insert(d, 1);
        return Reshape([.. shape]);
    }
}
