using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>tanh x. ∂/∂x = g ⊙ (1 − y²) (saves the output).</summary>
    public Tensor Tanh()
    {
        CheckFloat("tanh");
        var y = UnaryRaw(UnaryOp.Tanh);
        return ShouldRecord(this) ? y.WithGradFn(new TanhBackward(this, y)) : y;
    }

    private sealed class TanhBackward : GradNode
    {
        private readonly SavedTensor _y;

        public TanhBackward(Tensor x, Tensor y) : base("tanh", x) => _y = Save(y);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var y = _y.Value;
            return [g * (1 - y * y)];
        }
    }
}
