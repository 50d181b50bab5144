namespace Ttt.Tests;

/// <summary>Bad input gets an exception that names the operation and the shapes (or dtypes) involved.</summary>
public class ErrorTests
{
    private static void Throws<TEx>(Action act, params string[] fragments) where TEx : Exception
    {
        var e = Assert.ThrowsAny<TEx>(act);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }

    [Fact]
    public void Mismatched_shapes_name_the_op_and_both_shapes()
    {
        var a = Tensor.Zeros([2, 3]);
        var b = Tensor.Zeros([4]);
        Throws<ArgumentException>(() => _ = a + b, "add", "[2, 3]", "[4]");
        Throws<ArgumentException>(() => _ = a * b, "mul", "[2, 3]", "[4]");
        Throws<ArgumentException>(() => Tensor.Matmul(a, Tensor.Zeros([4, 5])), "matmul", "[2, 3]", "[4, 5]");
        Throws<ArgumentException>(() => Tensor.Cat([a, Tensor.Zeros([3, 3])], 1), "cat", "[3, 3]", "[2, 3]");
        Throws<ArgumentException>(() => a.Reshape(4, 2), "reshape", "[4, 2]", "[2, 3]");
        Throws<ArgumentException>(() => a.Expand(2, 5), "expand", "[2, 3]", "[2, 5]");
        Throws<ArgumentException>(() => Tensor.CrossEntropy(a, Tensor.Zeros([3], DType.Int64)), "cross_entropy", "[2, 3]", "[3]");
        Throws<ArgumentException>(() => a.LayerNorm(Tensor.Ones([4]), null), "layer_norm", "weight", "[4]");
    }

    [Fact]
    public void Wrong_dtypes_are_named()
    {
        var f = Tensor.Zeros([2]);
        var d = Tensor.Zeros([2], DType.Float64);
        Throws<ArgumentException>(() => _ = f + d, "add", "float32", "float64");
        Throws<ArgumentException>(() => Tensor.Zeros([2], DType.Int64).Exp(), "exp", "int64");
        Throws<ArgumentException>(() => f.Gather(0, Tensor.Zeros([2])), "gather", "int64", "float32");
        Throws<InvalidOperationException>(() => Tensor.Zeros([2], DType.Int64).RequireGrad(), "int64");
    }

    [Fact]
    public void Out_of_range_dims_and_indices_are_named()
    {
        var a = Tensor.Zeros([2, 3]);
        Throws<ArgumentOutOfRangeException>(() => a.Sum(2), "sum", "dim 2", "[2, 3]");
        Throws<ArgumentOutOfRangeException>(() => a.Softmax(-3), "softmax", "[2, 3]");
        Throws<ArgumentOutOfRangeException>(() => a.Narrow(1, 2, 2), "narrow", "[2, 3]");
        Throws<ArgumentOutOfRangeException>(() => a.Select(0, 5), "select", "index 5", "[2, 3]");
        Throws<IndexOutOfRangeException>(() => a.IndexSelect(1, Tensor.FromArray(new long[] { 0, 3 })), "index_select", "index 3", "[2, 3]");
        Throws<IndexOutOfRangeException>(() => Tensor.Zeros([5, 2]).Embedding(Tensor.FromArray(new long[] { 7 })), "index_select", "index 7");
        Throws<IndexOutOfRangeException>(() => Tensor.CrossEntropy(a, Tensor.FromArray(new long[] { 0, 9 })), "cross_entropy", "target 9", "3 classes");
        Throws<ArgumentException>(() => a.Permute(0, 0), "permute");
        Throws<InvalidOperationException>(() => a.Item(), "item", "[2, 3]");
    }
}
