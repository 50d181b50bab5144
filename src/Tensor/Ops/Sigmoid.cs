using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>σ(x) = 1/(1+e⁻ˣ). ∂/∂x = g ⊙ y ⊙ (1 − y) (saves the output).</summary>
    public Tensor Sigmoid()
    {
        CheckFloat("sigmoid");
        var y = UnaryRaw(UnaryOp.Sigmoid);
        return ShouldRecord(this) ? y.WithGradFn(new SigmoidBackward(this, y)) : y;
    }

    private sealed class SigmoidBackward : GradNode
    {
        private readonly SavedTensor _y;

        public SigmoidBackward(Tensor x, Tensor y) : base("sigmoid", x) => _y = Save(y);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var y = _y.Value;
            return [g * y * (1 - y)];
        }
    }
}
