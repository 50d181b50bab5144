using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// softplus(x) = ln(1 + eˣ), computed as max(x, 0) + log1p(e^−|x|) so that it neither overflows for large x
    /// nor loses the small values for very negative x. ∂/∂x = g ⊙ σ(x) (saves the input; the sigmoid is itself
    /// differentiable, so second derivatives work).
    /// </summary>
    public Tensor Softplus()
    {
        CheckFloat("softplus");
        // e = e^−|x| ∈ (0, 1]; log1p(e) by Goldberg's trick: with u = 1 + e rounded, log1p(e) = ln(u)·e/(u − 1),
        // exact to a few ulp because the rounding error of u cancels in the ratio; when u rounds to 1, log1p(e) = e.
        var e = UnaryRaw(UnaryOp.Abs).UnaryRaw(UnaryOp.Neg).UnaryRaw(UnaryOp.Exp);
        var u = e.UnaryRaw(UnaryOp.Affine, 1, 1);
        var uMinusOne = u.UnaryRaw(UnaryOp.Affine, 1, -1);
        var ratio = BinaryRaw("softplus", BinaryOp.Div, BinaryRaw("softplus", BinaryOp.Mul, u.UnaryRaw(UnaryOp.Log), e), uMinusOne);
        var log1p = Empty(_shape, DType, Device);
        Backend.Where(uMinusOne.UnaryRaw(UnaryOp.EqualScalar, 0), e, ratio, log1p);
        var y = BinaryRaw("softplus", BinaryOp.Add, UnaryRaw(UnaryOp.Relu), log1p);
        return ShouldRecord(this) ? y.WithGradFn(new SoftplusBackward(this)) : y;
    }

    private sealed class SoftplusBackward : GradNode
    {
        private readonly SavedTensor _x;

        public SoftplusBackward(Tensor x) : base("softplus", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g * _x.Value.Sigmoid()];
    }
}
