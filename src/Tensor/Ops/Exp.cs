using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>eˣ. ∂/∂x = g ⊙ y (saves the output).</summary>
    public Tensor Exp()
    {
        CheckFloat("exp");
        var y = UnaryRaw(UnaryOp.Exp);
        return ShouldRecord(this) ? y.WithGradFn(new ExpBackward(this, y)) : y;
    }

    private sealed class ExpBackward : GradNode
    {
        private readonly SavedTensor _y;

        public ExpBackward(Tensor x, Tensor y) : base("exp", x) => _y = Save(y);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g * _y.Value];
    }
}
