namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Lower triangle of the last two dims: keeps [i, j] with j − i ≤ diagonal. ∂/∂x = tril(g).</summary>
    public Tensor Tril(int diagonal = 0) => Triangle("tril", diagonal, upper: false);

    /// <summary>Upper triangle of the last two dims: keeps [i, j] with j − i ≥ diagonal. ∂/∂x = triu(g).</summary>
    public Tensor Triu(int diagonal = 0) => Triangle("triu", diagonal, upper: true);

    private Tensor Triangle(string name, int diagonal, bool upper)
    {
        if (Rank < 2) throw new ArgumentException($"{name}: expected at least 2 dims, got shape {ShapeUtil.Format(_shape)}");
        var y = Empty(_shape, DType, Device);
        Backend.Triangle(this, y, diagonal, upper);
        return ShouldRecord(this) ? y.WithGradFn(new TriangleBackward(name, this, diagonal, upper)) : y;
    }

    private sealed class TriangleBackward(string name, Tensor x, int diagonal, bool upper) : GradNode(name, x)
    {
        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [upper ? g.Triu(diagonal) : g.Tril(diagonal)];
    }
}
