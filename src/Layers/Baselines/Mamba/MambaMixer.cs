using Ttt.Nn;

namespace Ttt.Models;

/// <summary>
/// The Mamba-1 mixer (<c>mamba_ssm</c>'s <c>Mamba</c> module, <c>mamba_simple.py</c>): D model width, E·D inner
/// width, N states, R the Δ rank, W the conv width.
/// <code>
/// x, z = split(in_proj(h))                      h [B, L, D] → x, z [B, L, E·D]
/// x = SiLU(conv1d(x))                           causal depthwise conv of width W, with bias
/// Δ_raw, B, C = split(x_proj(x))                [B, L, R], [B, L, N], [B, L, N]
/// Δ = softplus(dt_proj(Δ_raw))                  [B, L, E·D]
/// y = selective_scan(x, Δ, A = −exp(A_log), B, C, D)
/// out = out_proj(y ⊙ SiLU(z))                   [B, L, D]
/// </code>
/// Parameter names: <c>in_proj.weight</c>, <c>conv1d.weight</c>, <c>conv1d.bias</c>, <c>x_proj.weight</c>,
/// <c>dt_proj.weight</c>, <c>dt_proj.bias</c>, <c>A_log</c>, <c>D</c>, <c>out_proj.weight</c>.
/// </summary>
public sealed class MambaMixer : Module
{
    private readonly Parameter _aLog, _d;

    /// <summary>
    /// Creates the mixer with <c>mamba_ssm</c>'s initialization, drawn from <paramref name="gen"/>: the Linears
    /// U(±1/√fan_in) (PyTorch's default), out_proj further divided by √n_layer (<c>_init_weights</c> with
    /// <c>rescale_prenorm_residual</c>), the conv U(±1/√W); dt_proj weight U(±R^−½) and bias the inverse softplus
    /// of Δ sampled log-uniformly in [dt_min, dt_max] and floored at dt_init_floor; A_log[e, n] = ln(n + 1); D = 1.
    /// </summary>
    public MambaMixer(MambaConfig config, Generator gen, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(gen);
        config.Validate();
        DModel = config.DModel;
        DInner = config.DInner;
        DState = config.DState;
        DtRank = config.ResolvedDtRank;
        ConvWidth = config.DConv;
        InProj = AddModule("in_proj", UniformLinear(DModel, 2 * DInner, bias: false, 1 / Math.Sqrt(DModel), gen, dtype));
        Conv1d = AddModule("conv1d", new CausalConv1d(DInner, ConvWidth, gen, dtype));
        XProj = AddModule("x_proj", UniformLinear(DInner, DtRank + 2 * DState, bias: false, 1 / Math.Sqrt(DInner), gen, dtype));
        DtProj = AddModule("dt_proj", UniformLinear(DtRank, DInner, bias: true, 1 / Math.Sqrt(DtRank), gen, dtype));
        using (GradMode.Disable()) DtProj.Bias!.CopyFrom(DtBiasInit(config, gen, dtype));
        var aLog = new double[DInner * DState];
        for (int e = 0; e < DInner; e++)
            for (int n = 0; n < DState; n++) aLog[e * DState + n] = DeterministicMath.Log(n + 1);
        _aLog = AddParameter("A_log", Tensor.FromArray(aLog, [DInner, DState]).To(dtype));
        _d = AddParameter("D", Init.Ones([DInner], dtype));
        OutProj = AddModule("out_proj", UniformLinear(DInner, DModel, bias: false, 1 / Math.Sqrt(DInner) / Math.Sqrt(config.NLayer), gen, dtype));
    }

    /// <summary>Model width D.</summary>
    public int DModel { get; }
    /// <summary>Inner width E·D.</summary>
    public int DInner { get; }
    /// <summary>States per channel N.</summary>
    public int DState { get; }
    /// <summary>Rank R of the Δ projection.</summary>
    public int DtRank { get; }
    /// <summary>Width W of the causal conv.</summary>
    public int ConvWidth { get; }

    /// <summary>D → 2·E·D (x and z), no bias.</summary>
    public Linear InProj { get; }
    /// <summary>Causal depthwise conv over x, weight [E·D, 1, W], bias [E·D].</summary>
    public CausalConv1d Conv1d { get; }
    /// <summary>E·D → R + 2N (Δ_raw, B, C), no bias.</summary>
    public Linear XProj { get; }
    /// <summary>R → E·D with bias (Δ before softplus).</summary>
    public Linear DtProj { get; }
    /// <summary>E·D → D, no bias.</summary>
    public Linear OutProj { get; }
    /// <summary>A_log [E·D, N]; A = −exp(A_log).</summary>
    public Tensor ALog => _aLog.Value;
    /// <summary>Skip connection D [E·D].</summary>
    public Tensor D => _d.Value;

    /// <summary>Time steps per chunk of the scan kernel (a memory/recompute trade-off).</summary>
    public int ScanChunkSize { get; set; } = SelectiveScan.DefaultChunkSize;

    /// <summary>Full-sequence forward: h [B, L, D] → [B, L, D].</summary>
    public Tensor Forward(Tensor h) => Forward(h, null);

    /// <summary>
    /// Forward with an optional decoding cache. An empty cache (first call) is prefilled: the sequence runs as in
    /// the full forward and the cache receives the conv window and the final SSM state. Later calls advance one
    /// token at a time from the cache (<see cref="Step"/>).
    /// </summary>
    public Tensor Forward(Tensor h, MambaLayerCache? cache)
    {
        ArgumentNullException.ThrowIfNull(h);
        if (h.Rank != 3 || h.Shape[2] != DModel)
            throw new ArgumentException($"mamba mixer: input must be [B, L, {DModel}], got {ShapeUtil.Format(h.Shape)}");
        var xz = InProj.Forward(h);                                  // [B, L, 2·E·D]
        var x = xz.Narrow(-1, 0, DInner);                            // [B, L, E·D]
        var z = xz.Narrow(-1, DInner, DInner);                       // [B, L, E·D]
        if (cache is { IsEmpty: false }) return OutProj.Forward(Step(x, z, cache));
        var xc = Conv1d.Forward(x).Silu();                           // [B, L, E·D]
        var (delta, b, c) = Project(xc);
        var a = ALog.Exp().Neg();                                    // [E·D, N]
        Tensor y;
        if (cache is null) y = SelectiveScan.Apply(xc, delta, a, b, c, D, ScanChunkSize);
        else
        {
            (y, var last) = SelectiveScan.ApplyWithState(xc, delta, a, b, c, D, ScanChunkSize);
            cache.SsmState = last;
            cache.ConvWindow = LastInputs(x, ConvWidth - 1);
        }
        return OutProj.Forward(y * z.Silu());
    }

    /// <summary>
    /// Recurrent decoding of x, z [B, T, E·D] one token at a time from the cache (mamba_ssm's <c>step</c>): work and
    /// memory per token do not depend on how many tokens came before. Returns y ⊙ SiLU(z) [B, T, E·D].
    /// </summary>
    private Tensor Step(Tensor x, Tensor z, MambaLayerCache cache)
    {
        var a = ALog.Exp().Neg();                                    // [E·D, N]
        var outputs = new Tensor[x.Shape[1]];
        for (int t = 0; t < outputs.Length; t++)
        {
            var window = Tensor.Cat([cache.ConvWindow!, x.Narrow(1, t, 1)], 1);   // [B, W, E·D], oldest first
            cache.ConvWindow = window.Narrow(1, 1, ConvWidth - 1);
            var xc = Conv1d.Step(window).Silu();                     // [B, E·D]
            var (delta, b, c) = Project(xc);                         // [B, E·D], [B, N], [B, N]
            var decay = (delta.Unsqueeze(-1) * a).Exp();             // [B, E·D, N]
            var state = decay * cache.SsmState! + (delta * xc).Unsqueeze(-1) * b.Unsqueeze(1);
            cache.SsmState = state;
            var y = (state * c.Unsqueeze(1)).Sum(-1) + xc * D;       // [B, E·D]
            outputs[t] = (y * z.Select(1, t).Silu()).Unsqueeze(1);   // [B, 1, E·D]
        }
        return outputs.Length == 1 ? outputs[0] : Tensor.Cat(outputs, 1);
    }

    /// <summary>x [..., E·D] → Δ = softplus(dt_proj(Δ_raw)) [..., E·D], B [..., N], C [..., N].</summary>
    private (Tensor Delta, Tensor B, Tensor C) Project(Tensor x)
    {
        var xdbl = XProj.Forward(x);                                 // [..., R + 2N]
        var delta = DtProj.Forward(xdbl.Narrow(-1, 0, DtRank)).Softplus();
        return (delta, xdbl.Narrow(-1, DtRank, DState), xdbl.Narrow(-1, DtRank + DState, DState));
    }

    /// <summary>The last <paramref name="keep"/> steps of x [B, L, C], zero-padded in front when L &lt; keep.</summary>
    private static Tensor LastInputs(Tensor x, int keep)
    {
        int length = x.Shape[1];
        return length >= keep ? x.Narrow(1, length - keep, keep) : x.Pad(1, keep - length, 0);
    }

    /// <summary>
    /// A <see cref="Linear"/> with weight U(±bound) from <paramref name="gen"/> and a zero bias. Linear draws a
    /// normal init from the generator it is given; it gets a scratch one, so our stream only feeds the uniform.
    /// </summary>
    private static Linear UniformLinear(int inFeatures, int outFeatures, bool bias, double bound, Generator gen, DType dtype)
    {
        var linear = new Linear(inFeatures, outFeatures, new Generator(0), bias, std: 0, dtype);
        using (GradMode.Disable()) linear.Weight.CopyFrom(Init.Uniform([outFeatures, inFeatures], gen, bound, dtype));
        return linear;
    }

    /// <summary>
    /// dt_proj's bias: Δ = exp(U(ln dt_min, ln dt_max)) floored at dt_init_floor, then its inverse softplus
    /// Δ + ln(−expm1(−Δ)), so that softplus(bias) = Δ at init.
    /// </summary>
    internal static Tensor DtBiasInit(MambaConfig config, Generator gen, DType dtype)
    {
        double logMin = DeterministicMath.Log(config.DtMin), logMax = DeterministicMath.Log(config.DtMax);
        var bias = new double[config.DInner];
        for (int i = 0; i < bias.Length; i++)
        {
            double dt = Math.Max(DeterministicMath.Exp(logMin + gen.NextDouble() * (logMax - logMin)), config.DtInitFloor);
            // −expm1(−Δ) = 1 − e^−Δ, by its series for small Δ where the subtraction would cancel.
            double oneMinusExp = dt < 1e-3 ? dt * (1 - dt / 2 * (1 - dt / 3 * (1 - dt / 4))) : 1 - DeterministicMath.Exp(-dt);
            bias[i] = dt + DeterministicMath.Log(oneMinusExp);
        }
        return Tensor.FromArray(bias, [config.DInner]).To(dtype);
    }
}

/// <summary>
/// The decoding state of one mixer: the conv's last W−1 inputs and the SSM state. Its size does not grow with the
/// context. The state that a prefill leaves is detached from the graph (decoding is for inference).
/// </summary>
public sealed class MambaLayerCache
{
    /// <summary>The last W−1 inputs of the conv [B, W−1, E·D], oldest first (zeros before the sequence start).</summary>
    public Tensor? ConvWindow { get; internal set; }

    /// <summary>The SSM state h [B, E·D, N] after the last processed token.</summary>
    public Tensor? SsmState { get; internal set; }

    /// <summary>True before the first (prefill) call.</summary>
    public bool IsEmpty => SsmState is null;
}
