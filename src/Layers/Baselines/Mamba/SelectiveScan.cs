using Ttt.Backends;

namespace Ttt.Models;

/// <summary>
/// The selective scan of Mamba-1 (Gu &amp; Dao 2023, <c>selective_scan_fn</c> without z and Δ-bias), a differentiable
/// op. Per batch row and channel e, with N states:
/// <code>
/// h_t = exp(Δ_t[e]·A[e]) ⊙ h_{t−1} + Δ_t[e]·u_t[e]·B_t      h_0 = 0, h_t ∈ ℝᴺ
/// y_t[e] = C_t · h_t + D[e]·u_t[e]
/// </code>
/// Shapes: u, Δ [B, L, E·D]; A [E·D, N]; B, C [B, L, N]; D [E·D] → y [B, L, E·D].
/// <para>On the CPU the forward and backward are chunked SIMD kernels (<see cref="SelectiveScanKernel"/>); the
/// op saves its inputs and the states at chunk boundaries, so its memory beyond the inputs is
/// O(L/chunk · N) per channel. The kernel's backward is not itself differentiable: when a second-order gradient is
/// requested (the engine runs backward with grad mode on, <c>createGraph: true</c>), the backward instead
/// differentiates <see cref="Reference"/>, the same scan written with differentiable tensor ops. On a device whose
/// backend implements <see cref="ISelectiveScanKernels"/> (CUDA: ptx/mamba_scan.cu) the op runs those kernels with the
/// same contract; on other devices it is <see cref="Reference"/>.</para>
/// </summary>
internal static class SelectiveScan
{
    /// <summary>Default number of time steps per chunk.</summary>
    public const int DefaultChunkSize = 64;

    /// <summary>y [B, L, E·D] of the selective scan (see the class summary for the shapes).</summary>
    /// <param name="u">Input u [B, L, E·D].</param>
    /// <param name="delta">Step sizes Δ [B, L, E·D] (after softplus).</param>
    /// <param name="a">State matrix A [E·D, N] (negative for a stable scan).</param>
    /// <param name="b">Input matrices B [B, L, N].</param>
    /// <param name="c">Output matrices C [B, L, N].</param>
    /// <param name="d">Skip connection D [E·D].</param>
    /// <param name="chunkSize">Time steps per chunk of the CPU kernel (memory/recompute trade-off; results do not
    /// depend on it beyond rounding).</param>
    public static Tensor Apply(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, int chunkSize = DefaultChunkSize) =>
        Run(u, delta, a, b, c, d, chunkSize, wantLastState: false, SelectiveScanKernel.DefaultVectorBits).Y;

    /// <summary>
    /// y [B, L, E·D] and the final state h_L [B, E·D, N] (what a decoding cache continues from). The state is a
    /// detached tensor on the CPU kernel path: gradients flow through y only.
    /// </summary>
    public static (Tensor Y, Tensor LastState) ApplyWithState(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
        int chunkSize = DefaultChunkSize)
    {
        var (y, last) = Run(u, delta, a, b, c, d, chunkSize, wantLastState: true, SelectiveScanKernel.DefaultVectorBits);
        return (y, last!);
    }

    /// <summary>
    /// The scan composed of differentiable tensor ops, one time step after another (as <c>mamba_ssm</c>'s
    /// <c>selective_scan_ref</c>): slow, but differentiable to any order and valid on every device. It is the
    /// oracle of the kernels and the op's second-order fallback. Returns y [B, L, E·D].
    /// </summary>
    public static Tensor Reference(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d) =>
        ReferenceWithState(u, delta, a, b, c, d).Y;

    /// <summary><see cref="Reference"/> that also returns the final state h_L [B, E·D, N] (differentiable).</summary>
    public static (Tensor Y, Tensor LastState) ReferenceWithState(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d)
    {
        Validate(u, delta, a, b, c, d);
        int length = u.Shape[1];
        var decay = (delta.Unsqueeze(-1) * a).Exp();                 // exp(Δ·A) [B, L, E·D, N]
        var drive = (delta * u).Unsqueeze(-1) * b.Unsqueeze(2);      // Δ·u·B    [B, L, E·D, N]
        Tensor? h = null;                                            // [B, E·D, N]
        var ys = new Tensor[length];
        for (int t = 0; t < length; t++)
        {
            h = h is null ? drive.Select(1, t) : decay.Select(1, t) * h + drive.Select(1, t);
            ys[t] = (h * c.Select(1, t).Unsqueeze(1)).Sum(-1).Unsqueeze(1);  // C_t·h_t [B, 1, E·D]
        }
        var y = length == 1 ? ys[0] : Tensor.Cat(ys, 1);
        return (y + u * d, h!);
    }

    /// <summary>
    /// The op with an explicit vector width (128, 256 or 512 bits; tests run every width whatever the hardware).
    /// The final state is returned when <paramref name="wantLastState"/> (else null).
    /// </summary>
    internal static (Tensor Y, Tensor? LastState) Run(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
        int chunkSize, bool wantLastState, int vectorBits)
    {
        Validate(u, delta, a, b, c, d);
        if (chunkSize < 1) throw new ArgumentOutOfRangeException(nameof(chunkSize), $"selective_scan: chunk size must be ≥ 1, got {chunkSize}");
        if (vectorBits is not (128 or 256 or 512)) throw new ArgumentOutOfRangeException(nameof(vectorBits), $"selective_scan: vector width must be 128, 256 or 512 bits, got {vectorBits}");
        if (u.Device != Device.Cpu && u.Backend is ISelectiveScanKernels device && device.SupportsSelectiveScan(u.DType))
            return RunOnDevice(device, u, delta, a, b, c, d, wantLastState);
        if (u.Device != Device.Cpu)
        {
            if (!wantLastState) return (Reference(u, delta, a, b, c, d), null);
            var (yr, hr) = ReferenceWithState(u, delta, a, b, c, d);
            return (yr, hr);
        }
        Tensor[] inputs = [u, delta, a, b, c, d];
        bool record = GradMode.IsEnabled && inputs.Any(t => t.RequiresGrad);
        Tensor y;
        Tensor? states, last;
        using (GradMode.Disable())
        {
            var contiguous = inputs.Select(t => t.Detach().Contiguous()).ToArray();
            (y, states, last) = SelectiveScanKernel.Forward(contiguous[0], contiguous[1], contiguous[2], contiguous[3], contiguous[4], contiguous[5],
                chunkSize, vectorBits, saveStates: record, wantLast: wantLastState);
        }
        if (record) y.AttachGradFn(new SelectiveScanNode(inputs, states!, chunkSize, vectorBits));
        return (y, last);
    }

    /// <summary>
    /// The op on a backend with its own scan kernels (CUDA: ptx/mamba_scan.cu): the same contract as the CPU kernel
    /// path (a detached final state; the composed second-order backward).
    /// </summary>
    private static (Tensor Y, Tensor? LastState) RunOnDevice(ISelectiveScanKernels device, Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
        bool wantLastState)
    {
        Tensor[] inputs = [u, delta, a, b, c, d];
        bool record = GradMode.IsEnabled && inputs.Any(t => t.RequiresGrad);
        Tensor y;
        Tensor? last;
        using (GradMode.Disable())
        {
            var x = inputs.Select(t => t.Detach()).ToArray();
            (y, last) = device.SelectiveScanForward(x[0], x[1], x[2], x[3], x[4], x[5], wantLastState);
        }
        if (record) y.AttachGradFn(new SelectiveScanNode(inputs, device));
        return (y, last);
    }

    private static void Validate(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d)
    {
        ArgumentNullException.ThrowIfNull(u);
        ArgumentNullException.ThrowIfNull(delta);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(d);
        if (u.DType is not (DType.Float32 or DType.Float64))
            throw new ArgumentException($"selective_scan: expected float32 or float64 tensors, got {u.DType.Name()}");
        string Describe() => $"u {ShapeUtil.Format(u.Shape)}, Δ {ShapeUtil.Format(delta.Shape)}, A {ShapeUtil.Format(a.Shape)}, B {ShapeUtil.Format(b.Shape)}, C {ShapeUtil.Format(c.Shape)}, D {ShapeUtil.Format(d.Shape)}";
        foreach (var t in (Tensor[])[delta, a, b, c, d])
        {
            if (t.DType != u.DType) throw new ArgumentException($"selective_scan: dtypes differ ({u.DType.Name()} and {t.DType.Name()}); {Describe()}");
            if (t.Device != u.Device) throw new ArgumentException($"selective_scan: tensors are on different devices ({u.Device} and {t.Device})");
        }
        if (u.Rank != 3 || u.Shape[0] < 1 || u.Shape[1] < 1 || u.Shape[2] < 1)
            throw new ArgumentException($"selective_scan: u must be [B, L, E·D] with every size ≥ 1; {Describe()}");
        int batch = u.Shape[0], length = u.Shape[1], channels = u.Shape[2];
        if (a.Rank != 2 || a.Shape[0] != channels || a.Shape[1] < 1)
            throw new ArgumentException($"selective_scan: A must be [E·D, N] = [{channels}, N ≥ 1]; {Describe()}");
        int states = a.Shape[1];
        if (!ShapeUtil.SameShape(delta.Shape, u.Shape))
            throw new ArgumentException($"selective_scan: Δ must have u's shape; {Describe()}");
        if (!ShapeUtil.SameShape(b.Shape, [batch, length, states]) || !ShapeUtil.SameShape(c.Shape, [batch, length, states]))
            throw new ArgumentException($"selective_scan: B and C must be [B, L, N] = [{batch}, {length}, {states}]; {Describe()}");
        if (d.Rank != 1 || d.Shape[0] != channels)
            throw new ArgumentException($"selective_scan: D must be [E·D] = [{channels}]; {Describe()}");
    }

    /// <summary>
    /// Backward of the kernel path. Saves the six inputs (as given, so that a recorded backward differentiates
    /// through their history) and the chunk-start states.
    /// </summary>
    private sealed class SelectiveScanNode : GradNode
    {
        private readonly SavedTensor[] _inputs;
        private readonly SavedTensor? _states;
        private readonly ISelectiveScanKernels? _device;
        private readonly int _chunk, _bits;

        public SelectiveScanNode(Tensor[] inputs, Tensor states, int chunk, int bits) : base("selective_scan", inputs)
        {
            _inputs = inputs.Select(Save).ToArray();
            _states = Save(states);
            (_chunk, _bits) = (chunk, bits);
        }

        /// <summary>The node of the device path: the device's backward recomputes the states itself.</summary>
        public SelectiveScanNode(Tensor[] inputs, ISelectiveScanKernels device) : base("selective_scan", inputs)
        {
            _inputs = inputs.Select(Save).ToArray();
            _device = device;
        }

        protected override Tensor?[] Backward(Tensor grad, bool[] needsGrad)
        {
            var inputs = _inputs.Select(s => s.Value).ToArray();
            if (GradMode.IsEnabled) return ComposedBackward(inputs, grad, needsGrad);
            Tensor[] grads;
            if (_device is not null)
            {
                var d = inputs.Select(t => t.Detach()).ToArray();
                grads = _device.SelectiveScanBackward(d[0], d[1], d[2], d[3], d[4], d[5], grad.Detach());
                return grads.Select((g, i) => needsGrad[i] ? g : null).ToArray();
            }
            var x = inputs.Select(t => t.Detach().Contiguous()).ToArray();
            grads = SelectiveScanKernel.Backward(x[0], x[1], x[2], x[3], x[4], x[5], _states!.Value, grad.Contiguous(), _chunk, _bits);
            return grads.Select((g, i) => needsGrad[i] ? g : null).ToArray();
        }

        /// <summary>
        /// A recorded backward (createGraph): differentiate <see cref="Reference"/> with the engine, with graph
        /// recording on, so the gradients are themselves differentiable. Inputs that need gradients enter as
        /// differentiable aliases, which connect the recorded gradients to the inputs' history.
        /// </summary>
        private Tensor?[] ComposedBackward(Tensor[] inputs, Tensor grad, bool[] needsGrad)
        {
            var replay = inputs.Select((t, i) => InputRequiresGrad(i) ? t.Alias() : t.Detach()).ToArray();
            var y = Reference(replay[0], replay[1], replay[2], replay[3], replay[4], replay[5]);
            var wanted = Enumerable.Range(0, replay.Length).Where(i => needsGrad[i] && InputRequiresGrad(i)).ToArray();
            var result = new Tensor?[replay.Length];
            if (wanted.Length == 0) return result;
            var grads = Autograd.Grad([y], wanted.Select(i => replay[i]).ToArray(), [grad], createGraph: true);
            for (int k = 0; k < wanted.Length; k++) result[wanted[k]] = grads[k];
            return result;
        }
    }
}
