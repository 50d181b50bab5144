namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Broadcast view to a larger shape (NumPy rules; −1 keeps a dim). No copy: expanded dims get stride 0.
    /// ∂/∂x = g summed back to the input's shape (<see cref="SumTo"/>).
    /// </summary>
    public Tensor Expand(params int[] shape)
    {
        var target = (int[])shape.Clone();
        int lead = target.Length - Rank;
        for (int i = 0; i < target.Length; i++)
            if (target[i] == -1)
            {
                if (i < lead) throw new ArgumentException($"expand: -1 is not allowed for the new leading dim {i} in {ShapeUtil.Format(shape)}");
                target[i] = _shape[i - lead];
            }
        if (ShapeUtil.SameShape(target, _shape)) return this;
        var y = ExpandRaw("expand", target);
        return ShouldRecord(this) ? y.WithGradFn(new ExpandBackward(this)) : y;
    }

    /// <summary>Broadcast view to the shape of <paramref name="other"/>.</summary>
    public Tensor ExpandAs(Tensor other) => Expand(other.ShapeArray());

    private sealed class ExpandBackward(Tensor x) : GradNode("expand", x)
    {
        private readonly int[] _xShape = x.ShapeArray();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g.SumTo(_xShape)];
    }
}
