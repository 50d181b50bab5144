namespace Ttt.Nn;

/// <summary>Parameter initializers drawing from an explicit seeded <see cref="Generator"/> (spec §2.5).</summary>
public static class Init
{
    /// <summary>N(0, std²) (not truncated), the init of every dense kernel, embedding and TTT W.</summary>
    public static Tensor Normal(int[] shape, Generator gen, double std, DType dtype) => Tensor.RandN(shape, gen, dtype, 0, std);

    /// <summary>U(−bound, bound), PyTorch's default for Conv1d weights and biases (bound = 1/√fan_in).</summary>
    public static Tensor Uniform(int[] shape, Generator gen, double bound, DType dtype) => Tensor.Rand(shape, gen, dtype, -bound, bound);

    /// <summary>Zeros.</summary>
    public static Tensor Zeros(int[] shape, DType dtype) => Tensor.Zeros(shape, dtype);

    /// <summary>Ones.</summary>
    public static Tensor Ones(int[] shape, DType dtype) => Tensor.Ones(shape, dtype);
}
