namespace Ttt.Nn;

/// <summary>y = x·Wᵀ (+ b). Weight [out, in] as in PyTorch; x [..., in] → y [..., out].</summary>
public sealed class Linear : Module
{
    private readonly Parameter _weight;
    private readonly Parameter? _bias;

    /// <summary>Creates the layer with weights ~ N(0, std²) and a zero bias.</summary>
    public Linear(int inFeatures, int outFeatures, Generator gen, bool bias = false, double std = 0.02, DType dtype = DType.Float32)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weight = AddParameter("weight", Init.Normal([outFeatures, inFeatures], gen, std, dtype));
        if (bias) _bias = AddParameter("bias", Init.Zeros([outFeatures], dtype));
    }

    /// <summary>Input width.</summary>
    public int InFeatures { get; }

    /// <summary>Output width.</summary>
    public int OutFeatures { get; }

    /// <summary>The weight [out, in].</summary>
    public Tensor Weight => _weight.Value;

    /// <summary>The bias [out], if any.</summary>
    public Tensor? Bias => _bias?.Value;

    /// <summary>Applies the layer.</summary>
    public Tensor Forward(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank == 0 || x.Shape[^1] != InFeatures)
            throw new ArgumentException($"linear: input {ShapeUtil.Format(x.Shape)} must end in {InFeatures} features");
        // [..., in] is multiplied as one [N, in] matrix, so that backward computes the weight gradient as one GEMM
        // over all N rows instead of one per leading index followed by a sum.
        var rows = x.Rank > 2 && x.IsContiguous ? x.Reshape(-1, InFeatures) : x;
        var y = Tensor.Matmul(rows, Weight.MT);
        if (!ReferenceEquals(rows, x)) y = y.Reshape([.. x.Shape[..^1], OutFeatures]);
        return _bias is null ? y : y + _bias.Value;
    }
}

/// <summary>Token embedding table [V, D]; ids of any shape → [..ids, D].</summary>
public sealed class Embedding : Module
{
    private readonly Parameter _weight;

    /// <summary>Creates the table with entries ~ N(0, std²).</summary>
    public Embedding(int vocab, int dim, Generator gen, double std = 0.02, DType dtype = DType.Float32)
    {
        _weight = AddParameter("weight", Init.Normal([vocab, dim], gen, std, dtype));
    }

    /// <summary>The table [V, D].</summary>
    public Tensor Weight => _weight.Value;

    /// <summary>Looks up rows.</summary>
    public Tensor Forward(Tensor ids) => Weight.Embedding(ids);
}

/// <summary>LayerNorm over the last dim with learned scale and shift (init 1 and 0).</summary>
public sealed class LayerNorm : Module
{
    private readonly Parameter _weight, _bias;

    /// <summary>Creates the layer.</summary>
    public LayerNorm(int dim, double eps = 1e-5, DType dtype = DType.Float32)
    {
        Eps = eps;
        _weight = AddParameter("weight", Init.Ones([dim], dtype));
        _bias = AddParameter("bias", Init.Zeros([dim], dtype));
    }

    /// <summary>Variance epsilon.</summary>
    public double Eps { get; }

    /// <summary>Scale [D].</summary>
    public Tensor Weight => _weight.Value;

    /// <summary>Shift [D].</summary>
    public Tensor Bias => _bias.Value;

    /// <summary>Applies the layer.</summary>
    public Tensor Forward(Tensor x) => x.FusedLayerNorm(Weight, Bias, Eps);
}

/// <summary>RMSNorm over the last dim with a learned scale (init 1).</summary>
public sealed class RmsNorm : Module
{
    private readonly Parameter _weight;

    /// <summary>Creates the layer.</summary>
    public RmsNorm(int dim, double eps = 1e-6, DType dtype = DType.Float32)
    {
        Eps = eps;
        _weight = AddParameter("weight", Init.Ones([dim], dtype));
    }

    /// <summary>Epsilon inside the square root.</summary>
    public double Eps { get; }

    /// <summary>Scale [D].</summary>
    public Tensor Weight => _weight.Value;

    /// <summary>Applies the layer.</summary>
    public Tensor Forward(Tensor x) => x.FusedRmsNorm(Weight, Eps);
}

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) ⊙ up(x)), no biases (PyTorch names gate/up/down_proj).</summary>
public sealed class SwiGlu : Module
{
    /// <summary>Creates the block.</summary>
    public SwiGlu(int dim, int hidden, Generator gen, double std = 0.02, DType dtype = DType.Float32)
    {
        GateProj = AddModule("gate_proj", new Linear(dim, hidden, gen, std: std, dtype: dtype));
        UpProj = AddModule("up_proj", new Linear(dim, hidden, gen, std: std, dtype: dtype));
        DownProj = AddModule("down_proj", new Linear(hidden, dim, gen, std: std, dtype: dtype));
    }

    /// <summary>x → hidden, through SiLU.</summary>
    public Linear GateProj { get; }

    /// <summary>x → hidden, linear.</summary>
    public Linear UpProj { get; }

    /// <summary>hidden → x.</summary>
    public Linear DownProj { get; }

    /// <summary>Applies the block.</summary>
    public Tensor Forward(Tensor x) => DownProj.Forward(Tensor.FusedSwiGlu(GateProj.Forward(x), UpProj.Forward(x)));
}

/// <summary>
/// Causal depthwise 1-D convolution over time with bias (PyTorch <c>Conv1d(C, C, W, groups=C, padding=W−1)</c>
/// truncated to the input length): weight [C, 1, W], bias [C]; x [B, T, C] → [B, T, C].
/// Initialized as PyTorch does, U(±1/√W) for weight and bias.
/// </summary>
public sealed class CausalConv1d : Module
{
    private readonly Parameter _weight, _bias;

    /// <summary>Creates the layer.</summary>
    public CausalConv1d(int channels, int width, Generator gen, DType dtype = DType.Float32)
    {
        Channels = channels;
        Width = width;
        double bound = 1 / Math.Sqrt(width);
        _weight = AddParameter("weight", Init.Uniform([channels, 1, width], gen, bound, dtype));
        _bias = AddParameter("bias", Init.Uniform([channels], gen, bound, dtype));
    }

    /// <summary>Channels C.</summary>
    public int Channels { get; }

    /// <summary>Kernel width W.</summary>
    public int Width { get; }

    /// <summary>Weight [C, 1, W].</summary>
    public Tensor Weight => _weight.Value;

    /// <summary>Bias [C].</summary>
    public Tensor Bias => _bias.Value;

    /// <summary>Applies the convolution over a whole sequence.</summary>
    public Tensor Forward(Tensor x) => x.CausalConv1d(Weight, Bias);

    /// <summary>
    /// One decoding step: <paramref name="window"/> [B, W, C] holds the last W inputs (oldest first, zeros before
    /// the sequence start) including the current one; returns y [B, C] for the current position.
    /// </summary>
    public Tensor Step(Tensor window)
    {
        ArgumentNullException.ThrowIfNull(window);
        if (window.Rank != 3 || window.Shape[1] != Width)
            throw new ArgumentException($"causal_conv1d step: window must be [B, {Width}, C], got {ShapeUtil.Format(window.Shape)}", nameof(window));
        // y[b, c] = bias[c] + Σₖ w[c, 0, k]·window[b, k, c]: the convolution's output at the window's last
        // position. One fused op over W positions is cheaper than the three composed ones at decoding sizes.
        return window.CausalConv1d(Weight, Bias).Select(1, Width - 1);
    }
}
