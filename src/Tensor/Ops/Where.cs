using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// cond ≠ 0 ? a : b element-wise with broadcasting of all three. cond is a constant mask (any dtype equal to
    /// a's, or int64); ∂/∂a = where(cond, g, 0), ∂/∂b = where(cond, 0, g).
    /// </summary>
    public static Tensor Where(Tensor cond, Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(cond);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        a.CheckCompatible("where", b);
        cond.CheckSameDevice("where", a);
        var shape = ShapeUtil.Broadcast("where", ShapeUtil.Broadcast("where", cond._shape, a._shape), b._shape);
        if (cond.DType != a.DType) cond = cond.ConvertRaw(a.DType);
        var y = Empty(shape, a.DType, a.Device);
        a.Backend.Where(cond.ExpandRaw("where", shape), a.ExpandRaw("where", shape), b.ExpandRaw("where", shape), y);
        return ShouldRecord(a, b) ? y.WithGradFn(new WhereBackward(cond, a, b)) : y;
    }

    private sealed class WhereBackward(Tensor cond, Tensor a, Tensor b) : GradNode("where", a, b)
    {
        private readonly Tensor _cond = cond.Detach();
        private readonly int[] _aShape = a.ShapeArray(), _bShape = b.ShapeArray();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var zero = g.ScalarLike(0);
            return
            [
                needs[0] ? Where(_cond, g, zero).SumTo(_aShape) : null,
                needs[1] ? Where(_cond, zero, g).SumTo(_bShape) : null,
            ];
        }
    }
}
