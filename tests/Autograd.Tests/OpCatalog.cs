using FsCheck;
using FsCheck.Fluent;
using Ttt.Testing;

namespace Ttt.Tests;

/// <summary>One generated instance of an op: its float64 inputs and the function of them to check.</summary>
public sealed record OpCase(string Op, TensorCase[] Inputs, Func<Tensor[], Tensor> F, string Detail = "")
{
    public Tensor[] Build() => Inputs.Select(c => c.Build()).ToArray();

    public override string ToString() =>
        $"{Op}{(Detail.Length > 0 ? $" ({Detail})" : "")}: " + string.Join("; ", Inputs.Select((c, i) => $"x{i} {c}"));
}

/// <summary>
/// Every differentiable op of the engine with a generator of valid inputs (shapes, broadcast pairs, strided views,
/// value ranges away from singularities). The gradient tests run first- and second-order checks over all of them.
/// </summary>
public static class OpCatalog
{
    private static Gen<TensorCase> Any(int minRank = 0, int maxRank = 3, int maxDim = 4) => TensorGen.Case(minRank, maxRank, maxDim);
    private static Gen<TensorCase> Positive(int minRank = 0, int maxRank = 3) => TensorGen.Case(minRank, maxRank, 4, 0.5, 2);

    private static Gen<OpCase> Unary(string op, Func<Tensor, Tensor> f, Gen<TensorCase>? input = null) =>
        (input ?? Any()).Select(c => new OpCase(op, [c], xs => f(xs[0])));

    private static Gen<OpCase> Binary(string op, Func<Tensor, Tensor, Tensor> f, double low = -2, double high = 2) =>
        from pair in TensorGen.BroadcastPair()
        from a in TensorGen.Case(pair.A)
        from b in TensorGen.Case(pair.B, low, high)
        select new OpCase(op, [a, b], xs => f(xs[0], xs[1]));

    private static Gen<int> DimOf(int rank) => Gen.Choose(-rank, rank - 1);

    private static Gen<int[]> DimsOf(int rank) =>
        Gen.ArrayOf(Gen.Elements(true, false), rank).Select(m => Enumerable.Range(0, rank).Where(i => m[i]).ToArray());

    private static Gen<OpCase> Reduction(string op, Func<Tensor, int[], bool, Tensor> f, int minRank = 1) =>
        from c in Any(minRank, 3)
        from dims in DimsOf(c.Shape.Length)
        from keep in Gen.Elements(true, false)
        where dims.Length > 0
        select new OpCase(op, [c], xs => f(xs[0], dims, keep), $"dims=({string.Join(",", dims)}) keepdim={keep}");

    private static Gen<OpCase> AlongDim(string op, Func<Tensor, int, Tensor> f) =>
        from c in Any(1, 3)
        from d in DimOf(c.Shape.Length)
        select new OpCase(op, [c], xs => f(xs[0], d), $"dim={d}");

    private static Tensor LongTensor(ulong seed, int[] shape, long low, long high) =>
        Tensor.RandInt(shape, low, high, new Generator(seed));

    /// <summary>The catalog: op name → generator of instances.</summary>
    public static readonly IReadOnlyDictionary<string, Gen<OpCase>> All = new Dictionary<string, Gen<OpCase>>
    {
        ["neg"] = Unary("neg", x => -x),
        ["affine"] = Unary("affine", x => x * 1.5 - 0.25),
        ["exp"] = Unary("exp", x => x.Exp()),
        ["log"] = Unary("log", x => x.Log(), Positive()),
        ["sqrt"] = Unary("sqrt", x => x.Sqrt(), Positive()),
        ["rsqrt"] = Unary("rsqrt", x => x.Rsqrt(), Positive()),
        ["reciprocal"] = Unary("reciprocal", x => x.Reciprocal(), Positive()),
        ["abs"] = Unary("abs", x => x.Abs()),
        ["pow3"] = Unary("pow3", x => x.Pow(3)),
        ["pow_frac"] = Unary("pow_frac", x => x.Pow(-1.5), Positive()),
        ["square"] = Unary("square", x => x.Square()),
        ["tanh"] = Unary("tanh", x => x.Tanh()),
        ["sigmoid"] = Unary("sigmoid", x => x.Sigmoid()),
        ["relu"] = Unary("relu", x => x.Relu()),
        ["silu"] = Unary("silu", x => x.Silu()),
        ["gelu"] = Unary("gelu", x => x.Gelu()),
        ["clamp"] = Unary("clamp", x => x.Clamp(-0.7, 0.9)),
        ["clamp_min"] = Unary("clamp_min", x => x.ClampMin(0.1)),
        ["add"] = Binary("add", (a, b) => a + b),
        ["sub"] = Binary("sub", (a, b) => a - b),
        ["mul"] = Binary("mul", (a, b) => a * b),
        ["div"] = Binary("div", (a, b) => a / b, 0.5, 2),
        ["maximum"] = Binary("maximum", Tensor.Maximum),
        ["minimum"] = Binary("minimum", Tensor.Minimum),
        ["where"] =
            from pair in TensorGen.BroadcastPair()
            from a in TensorGen.Case(pair.A)
            from b in TensorGen.Case(pair.B)
            from condSeed in TensorGen.Seed()
            select new OpCase("where", [a, b], xs =>
            {
                var shape = ShapeUtil.Broadcast("where", xs[0].Shape, xs[1].Shape);
                var cond = Tensor.Rand(shape, new Generator(condSeed), DType.Float64).GreaterThan(0.5);
                return Tensor.Where(cond, xs[0], xs[1]);
            }, $"cond seed={condSeed}"),
        ["sum"] = Reduction("sum", (x, d, k) => x.Sum(d, k)),
        ["sum_all"] = Unary("sum_all", x => x.Sum()),
        ["mean"] = Reduction("mean", (x, d, k) => x.Mean(d, k)),
        ["var"] =
            from c in Any(1, 3)
            from dims in DimsOf(c.Shape.Length)
            from keep in Gen.Elements(true, false)
            from correction in Gen.Elements(0, 1)
            where dims.Length > 0 && dims.Aggregate(1, (p, d) => p * c.Shape[d]) > correction
            select new OpCase("var", [c], xs => xs[0].Var(dims, keep, correction), $"dims=({string.Join(",", dims)}) correction={correction}"),
        ["max"] = Reduction("max", (x, d, k) => x.Max(d, k)),
        ["min"] = Reduction("min", (x, d, k) => x.Min(d, k)),
        ["softmax"] = AlongDim("softmax", (x, d) => x.Softmax(d)),
        ["log_softmax"] = AlongDim("log_softmax", (x, d) => x.LogSoftmax(d)),
        ["cross_entropy"] =
            from n in Gen.Choose(1, 5)
            from classes in Gen.Choose(2, 5)
            from logits in TensorGen.Case([n, classes])
            from tseed in TensorGen.Seed()
            select new OpCase("cross_entropy", [logits], xs =>
            {
                var t = LongTensor(tseed, [n], 0, classes).ToLongArray();
                if (n > 1) t[0] = -100; // one ignored target when there are several
                return Tensor.CrossEntropy(xs[0], Tensor.FromArray(t));
            }, $"targets seed={tseed}"),
        ["matmul"] =
            from batch in TensorGen.BroadcastPair(2, 3)
            from m in Gen.Choose(1, 4)
            from k in Gen.Choose(1, 4)
            from n in Gen.Choose(1, 4)
            from a in TensorGen.Case([.. batch.A, m, k])
            from b in TensorGen.Case([.. batch.B, k, n])
            select new OpCase("matmul", [a, b], xs => Tensor.Matmul(xs[0], xs[1])),
        ["matmul_vector"] =
            from k in Gen.Choose(1, 5)
            from m in Gen.Choose(1, 4)
            from kind in Gen.Elements(0, 1, 2)
            from a in TensorGen.Case(kind == 2 ? [m, k] : [k])
            from b in TensorGen.Case(kind == 1 ? [k, m] : [k])
            select new OpCase("matmul_vector", [a, b], xs => Tensor.Matmul(xs[0], xs[1]), $"kind={kind}"),
        ["matmul_transposed"] =
            from m in Gen.Choose(1, 5)
            from k in Gen.Choose(1, 5)
            from a in TensorGen.Case([k, m])
            from b in TensorGen.Case([m, k])
            select new OpCase("matmul_transposed", [a, b], xs => Tensor.Matmul(xs[0].MT, xs[1].MT)),
        ["reshape"] =
            from c in Any(1, 3)
            select new OpCase("reshape", [c], xs => xs[0].Reshape(-1).Reshape([.. c.Shape.Reverse()])),
        ["permute"] =
            from c in Any(2, 3)
            select new OpCase("permute", [c], xs => xs[0].Permute(Enumerable.Range(0, c.Shape.Length).Reverse().ToArray()) * 1.0),
        ["transpose"] = Unary("transpose", x => x.Transpose(0, -1) * 2, Any(2, 3)),
        ["narrow"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from start in Gen.Choose(0, c.Shape[d < 0 ? d + c.Shape.Length : d] - 1)
            let size = c.Shape[d < 0 ? d + c.Shape.Length : d]
            from len in Gen.Choose(1, size - start)
            select new OpCase("narrow", [c], xs => xs[0].Narrow(d, start, len) * 1.0, $"dim={d} start={start} len={len}"),
        ["select"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from i in Gen.Choose(0, c.Shape[d < 0 ? d + c.Shape.Length : d] - 1)
            select new OpCase("select", [c], xs => xs[0].Select(d, i) * 1.0, $"dim={d} index={i}"),
        ["pad"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from before in Gen.Choose(0, 2)
            from after in Gen.Choose(0, 2)
            select new OpCase("pad", [c], xs => xs[0].Pad(d, before, after, 0.5) * xs[0].Pad(d, before, after, 0.5), $"dim={d} pad=({before},{after})"),
        ["expand"] =
            from shape in TensorGen.Shape(1, 3)
            from ones in Gen.ArrayOf(Gen.Elements(true, false), shape.Length)
            from lead in Gen.Choose(0, 2)
            from c in TensorGen.Case(shape.Select((s, i) => ones[i] ? 1 : s).ToArray())
            select new OpCase("expand", [c], xs => xs[0].Expand([.. Enumerable.Repeat(2, lead), .. shape]) * 1.0, $"to {ShapeUtil.Format([.. Enumerable.Repeat(2, lead), .. shape])}"),
        ["squeeze_unsqueeze"] = Unary("squeeze_unsqueeze", x => x.Unsqueeze(0).Unsqueeze(-1).Squeeze(0).Squeeze(-1) * 1.0),
        ["flatten"] = Unary("flatten", x => x.Flatten() * 1.0, Any(1, 3)),
        ["clone"] = Unary("clone", x => x.Clone() * x),
        ["contiguous"] = Unary("contiguous", x => x.MT.Contiguous() * 1.0, Any(2, 3)),
        ["sum_to"] =
            from pair in TensorGen.BroadcastPair()
            from a in TensorGen.Case(ShapeUtil.Broadcast("t", pair.A, pair.B))
            select new OpCase("sum_to", [a], xs => xs[0].SumTo(pair.B), $"to {ShapeUtil.Format(pair.B)}"),
        ["cat"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from extra in Gen.Choose(1, 3)
            let other = c.Shape.Select((s, i) => i == (d < 0 ? d + c.Shape.Length : d) ? extra : s).ToArray()
            from c2 in TensorGen.Case(other)
            select new OpCase("cat", [c, c2], xs => Tensor.Cat([xs[0], xs[1], xs[0]], d), $"dim={d}"),
        ["stack"] =
            from c in Any(0, 3)
            from c2 in TensorGen.Case(c.Shape)
            from d in Gen.Choose(0, c.Shape.Length)
            select new OpCase("stack", [c, c2], xs => Tensor.Stack([xs[0], xs[1]], d), $"dim={d}"),
        ["split"] =
            from c in Any(1, 3)
            from size in Gen.Choose(1, 3)
            select new OpCase("split", [c], xs => { var parts = xs[0].Split(size, 0); return parts[^1] * parts[0].Sum(); }, $"size={size}"),
        ["chunk"] =
            from c in Any(1, 3)
            from chunks in Gen.Choose(1, 3)
            select new OpCase("chunk", [c], xs => { var parts = xs[0].Chunk(chunks, -1); return parts[0].Sum() * parts[^1]; }, $"chunks={chunks}"),
        ["tril"] =
            from c in Any(2, 3)
            from diag in Gen.Choose(-2, 2)
            select new OpCase("tril", [c], xs => xs[0].Tril(diag) * xs[0], $"diagonal={diag}"),
        ["triu"] =
            from c in Any(2, 3)
            from diag in Gen.Choose(-2, 2)
            select new OpCase("triu", [c], xs => xs[0].Triu(diag) * xs[0], $"diagonal={diag}"),
        ["gather"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from iseed in TensorGen.Seed()
            select new OpCase("gather", [c], xs =>
            {
                int dd = d < 0 ? d + c.Shape.Length : d;
                var ishape = c.Shape.Select((s, i) => i == dd ? s + 1 : s).ToArray();
                return xs[0].Gather(d, LongTensor(iseed, ishape, 0, c.Shape[dd])) * 1.5;
            }, $"dim={d} index seed={iseed}"),
        ["scatter_add"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from src in TensorGen.Case(c.Shape)
            from iseed in TensorGen.Seed()
            select new OpCase("scatter_add", [c, src], xs =>
            {
                int dd = d < 0 ? d + c.Shape.Length : d;
                var idx = LongTensor(iseed, c.Shape, 0, c.Shape[dd]);
                return xs[0].ScatterAdd(d, idx, xs[1] * xs[1]);
            }, $"dim={d} index seed={iseed}"),
        ["index_select"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from count in Gen.Choose(1, 5)
            from iseed in TensorGen.Seed()
            select new OpCase("index_select", [c], xs =>
            {
                int dd = d < 0 ? d + c.Shape.Length : d;
                return xs[0].IndexSelect(d, LongTensor(iseed, [count], 0, c.Shape[dd])) * 2;
            }, $"dim={d} count={count} index seed={iseed}"),
        ["index_add"] =
            from c in Any(1, 3)
            from d in DimOf(c.Shape.Length)
            from count in Gen.Choose(1, 4)
            from iseed in TensorGen.Seed()
            let dd = d < 0 ? d + c.Shape.Length : d
            from src in TensorGen.Case(c.Shape.Select((s, i) => i == dd ? count : s).ToArray())
            select new OpCase("index_add", [c, src], xs =>
                xs[0].IndexAdd(d, LongTensor(iseed, [count], 0, c.Shape[dd]), xs[1].Square()), $"dim={d} index seed={iseed}"),
        ["embedding"] =
            from v in Gen.Choose(1, 6)
            from dim in Gen.Choose(1, 4)
            from table in TensorGen.Case([v, dim])
            from ids in TensorGen.Shape(1, 2, 4)
            from iseed in TensorGen.Seed()
            select new OpCase("embedding", [table], xs => xs[0].Embedding(LongTensor(iseed, ids, 0, v)).Square(), $"ids {ShapeUtil.Format(ids)} seed={iseed}"),
        ["layer_norm"] =
            from c in Any(1, 3)
            from w in TensorGen.Case([c.Shape[^1]])
            from b in TensorGen.Case([c.Shape[^1]])
            where c.Shape[^1] >= 2
            select new OpCase("layer_norm", [c, w, b], xs => xs[0].LayerNorm(xs[1], xs[2], 1e-5)),
        ["rms_norm"] =
            from c in Any(1, 3)
            from w in TensorGen.Case([c.Shape[^1]])
            select new OpCase("rms_norm", [c, w], xs => xs[0].RmsNorm(xs[1], 1e-6)),
        ["causal_conv1d"] =
            from b in Gen.Choose(1, 2)
            from t in Gen.Choose(1, 5)
            from ch in Gen.Choose(1, 3)
            from width in Gen.Choose(1, 4)
            from x in TensorGen.Case([b, t, ch])
            from w in TensorGen.Case([ch, 1, width])
            from bias in TensorGen.Case([ch])
            select new OpCase("causal_conv1d", [x, w, bias], xs => xs[0].CausalConv1d(xs[1], xs[2]).Square(), $"width={width}"),
    };

    /// <summary>The op names, for xunit theories.</summary>
    public static TheoryData<string> Names
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var n in All.Keys) data.Add(n);
            return data;
        }
    }
}
