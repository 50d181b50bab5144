using Ttt.Backends;

namespace Ttt.Cpu;

/// <summary>The scalar definition of every element-wise primitive, in double precision (the reference).</summary>
public static class ScalarMath
{
    /// <summary>√(2/π), exact to double precision (forward GELU).</summary>
    public const double SqrtTwoOverPi = 0.7978845608028654;

    /// <summary>GELU with the tanh approximation.</summary>
    public static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(SqrtTwoOverPi * (x + 0.044715 * x * x * x)));

    /// <summary>Logistic sigmoid, stable for large |x|.</summary>
    public static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    /// <summary>Applies a unary primitive to one value.</summary>
    public static double Unary(UnaryOp op, double x, double a, double b) => op switch
    {
        UnaryOp.Neg => -x,
        UnaryOp.Exp => Math.Exp(x),
        UnaryOp.Log => Math.Log(x),
        UnaryOp.Sqrt => Math.Sqrt(x),
        UnaryOp.Rsqrt => 1 / Math.Sqrt(x),
        UnaryOp.Abs => Math.Abs(x),
        UnaryOp.Sign => double.IsNaN(x) ? x : Math.Sign(x),
        UnaryOp.Tanh => Math.Tanh(x),
        UnaryOp.Sigmoid => Sigmoid(x),
        UnaryOp.Relu => x > 0 ? x : 0,
        UnaryOp.Silu => x * Sigmoid(x),
        UnaryOp.Gelu => Gelu(x),
        UnaryOp.Square => x * x,
        UnaryOp.Reciprocal => 1 / x,
        UnaryOp.Affine => a * x + b,
        UnaryOp.Pow => Math.Pow(x, a),
        UnaryOp.Clamp => double.IsNaN(x) ? x : Math.Min(Math.Max(x, a), b),
        UnaryOp.GreaterThanScalar => x > a ? 1 : 0,
        UnaryOp.LessThanScalar => x < a ? 1 : 0,
        UnaryOp.EqualScalar => x == a ? 1 : 0,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    /// <summary>Applies a unary primitive to an int64 value (the ops that are defined on integers).</summary>
    public static long UnaryInt(UnaryOp op, long x, double a, double b) => op switch
    {
        UnaryOp.Neg => -x,
        UnaryOp.Abs => Math.Abs(x),
        UnaryOp.Sign => Math.Sign(x),
        UnaryOp.Square => x * x,
        UnaryOp.Relu => Math.Max(x, 0),
        UnaryOp.Affine => (long)a * x + (long)b,
        UnaryOp.Clamp => Math.Min(Math.Max(x, (long)a), (long)b),
        UnaryOp.GreaterThanScalar => x > a ? 1 : 0,
        UnaryOp.LessThanScalar => x < a ? 1 : 0,
        UnaryOp.EqualScalar => x == a ? 1 : 0,
        _ => throw new NotSupportedException($"{op} is not defined for int64 tensors"),
    };

    /// <summary>Applies a binary primitive to two values.</summary>
    public static double Binary(BinaryOp op, double x, double y) => op switch
    {
        BinaryOp.Add => x + y,
        BinaryOp.Sub => x - y,
        BinaryOp.Mul => x * y,
        BinaryOp.Div => x / y,
        BinaryOp.Maximum => double.IsNaN(x) || double.IsNaN(y) ? double.NaN : Math.Max(x, y),
        BinaryOp.Minimum => double.IsNaN(x) || double.IsNaN(y) ? double.NaN : Math.Min(x, y),
        BinaryOp.Pow => Math.Pow(x, y),
        BinaryOp.Equal => x == y ? 1 : 0,
        BinaryOp.NotEqual => x != y ? 1 : 0,
        BinaryOp.Less => x < y ? 1 : 0,
        BinaryOp.LessEqual => x <= y ? 1 : 0,
        BinaryOp.Greater => x > y ? 1 : 0,
        BinaryOp.GreaterEqual => x >= y ? 1 : 0,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    /// <summary>Applies a binary primitive to two int64 values (integer division truncates toward zero).</summary>
    public static long BinaryInt(BinaryOp op, long x, long y) => op switch
    {
        BinaryOp.Add => x + y,
        BinaryOp.Sub => x - y,
        BinaryOp.Mul => x * y,
        BinaryOp.Div => y == 0 ? throw new DivideByZeroException("div: integer division by zero in an int64 tensor") : x / y,
        BinaryOp.Maximum => Math.Max(x, y),
        BinaryOp.Minimum => Math.Min(x, y),
        BinaryOp.Equal => x == y ? 1 : 0,
        BinaryOp.NotEqual => x != y ? 1 : 0,
        BinaryOp.Less => x < y ? 1 : 0,
        BinaryOp.LessEqual => x <= y ? 1 : 0,
        BinaryOp.Greater => x > y ? 1 : 0,
        BinaryOp.GreaterEqual => x >= y ? 1 : 0,
        _ => throw new NotSupportedException($"{op} is not defined for int64 tensors"),
    };
}
