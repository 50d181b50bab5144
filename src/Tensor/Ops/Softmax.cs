namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Softmax along <paramref name="dim"/>. ∂/∂x = y ⊙ (g − Σ(g ⊙ y)) (saves the output).</summary>
    public Tensor Softmax(int dim = -1) => SoftmaxImpl("softmax", dim, log: false);

    /// <summary>Log-softmax along <paramref name="dim"/>. ∂/∂x = g − eʸ·Σg (saves the output).</summary>
    public Tensor LogSoftmax(int dim = -1) => SoftmaxImpl("log_softmax", dim, log: true);

    private Tensor SoftmaxImpl(string name, int dim, bool log)
    {
        CheckFloat(name);
        if (Rank == 0) return (log ? ZerosLike(this) : OnesLike(this)) + this * 0;
        int d = ShapeUtil.NormalizeDim(name, dim, Rank, _shape);
        // The backend works on the last dim; move d there (a view) and back.
        var x = d == Rank - 1 ? this : Detach().Transpose(d, -1);
        var y = Empty(x._shape, DType, Device);
        Backend.Softmax(x, y, log);
        if (d != Rank - 1) y = y.Transpose(d, -1);
        return ShouldRecord(this) ? y.WithGradFn(new SoftmaxBackward(name, this, y, d, log)) : y;
    }

    private sealed class SoftmaxBackward : GradNode
    {
        private readonly SavedTensor _y;
        private readonly int _dim;
        private readonly bool _log;

        public SoftmaxBackward(string name, Tensor x, Tensor y, int dim, bool log) : base(name, x)
        {
            (_y, _dim, _log) = (Save(y), dim, log);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var y = _y.Value;
            return _log
                ? [g - y.Exp() * g.Sum(_dim, keepDim: true)]
                : [y * (g - (g * y).Sum(_dim, keepDim: true))];
        }
    }
}
