namespace Ttt.Backends;

/// <summary>Element-wise functions of one argument. Parameters <c>a</c>, <c>b</c> are used where noted.</summary>
public enum UnaryOp
{
    /// <summary>−x</summary>
    Neg,
    /// <summary>eˣ</summary>
    Exp,
    /// <summary>ln x</summary>
    Log,
    /// <summary>√x</summary>
    Sqrt,
    /// <summary>1/√x</summary>
    Rsqrt,
    /// <summary>|x|</summary>
    Abs,
    /// <summary>sign(x) ∈ {−1, 0, 1}</summary>
    Sign,
    /// <summary>tanh x</summary>
    Tanh,
    /// <summary>1/(1+e⁻ˣ)</summary>
    Sigmoid,
    /// <summary>max(x, 0)</summary>
    Relu,
    /// <summary>x·σ(x)</summary>
    Silu,
    /// <summary>GELU, tanh approximation with the exact √(2/π).</summary>
    Gelu,
    /// <summary>x²</summary>
    Square,
    /// <summary>1/x</summary>
    Reciprocal,
    /// <summary>a·x + b</summary>
    Affine,
    /// <summary>xᵃ</summary>
    Pow,
    /// <summary>min(max(x, a), b)</summary>
    Clamp,
    /// <summary>1 where x &gt; a, else 0</summary>
    GreaterThanScalar,
    /// <summary>1 where x &lt; a, else 0</summary>
    LessThanScalar,
    /// <summary>1 where x == a, else 0</summary>
    EqualScalar,
}

/// <summary>Element-wise functions of two arguments (already broadcast to one shape).</summary>
public enum BinaryOp
{
    /// <summary>a + b</summary>
    Add,
    /// <summary>a − b</summary>
    Sub,
    /// <summary>a · b</summary>
    Mul,
    /// <summary>a / b</summary>
    Div,
    /// <summary>max(a, b)</summary>
    Maximum,
    /// <summary>min(a, b)</summary>
    Minimum,
    /// <summary>aᵇ</summary>
    Pow,
    /// <summary>1 where a == b, else 0 (result has the inputs' dtype)</summary>
    Equal,
    /// <summary>1 where a != b, else 0</summary>
    NotEqual,
    /// <summary>1 where a &lt; b, else 0</summary>
    Less,
    /// <summary>1 where a ≤ b, else 0</summary>
    LessEqual,
    /// <summary>1 where a &gt; b, else 0</summary>
    Greater,
    /// <summary>1 where a ≥ b, else 0</summary>
    GreaterEqual,
}

/// <summary>Reductions over a set of dimensions.</summary>
public enum ReduceOp
{
    /// <summary>Σ</summary>
    Sum,
    /// <summary>max</summary>
    Max,
    /// <summary>min</summary>
    Min,
}

/// <summary>Index-valued reductions along one dimension (int64 result; the first index wins ties).</summary>
public enum ArgReduceOp
{
    /// <summary>index of the maximum</summary>
    ArgMax,
    /// <summary>index of the minimum</summary>
    ArgMin,
}
