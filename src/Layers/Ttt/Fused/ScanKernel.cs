using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
namespace Ttt.Models.Fused;

/// <summary>
/// What the TTT-Linear and TTT-MLP kernels share: the scan over the mini-batches of one (batch, head), the
/// boundary-state bookkeeping of the backward (saved states, recomputation inside a checkpoint group), loading
/// token rows, and the K×K learning-rate pieces. One object per thread; all memory comes from its scratch,
/// allocated once in the constructor.
/// <para>Layout: token rows are padded to dp = d rounded up to the register width (zeros past d); buffers with
/// one row per token of the mini-batch have Kp = K rounded up rows, rows past the current mini-batch are zero.
/// The state is one block of padded matrices (<see cref="Blocks"/>) so it is saved and restored by one copy.</para>
/// <para>Scratch is zeroed at the start of every (batch, head) item, and the kernels keep two invariants within an
/// item: padding lanes are never written with non-zero values from finite inputs, and rows past the current
/// mini-batch of buffers that are read in full are zeroed whenever a shorter (remainder) mini-batch comes. The
/// per-item clear is what makes reuse safe: a NaN or ∞ from an earlier item or call would otherwise survive in a
/// padding lane (NaN·0 = NaN) and leak into the reductions of a later, finite item.</para>
/// </summary>
internal abstract unsafe class ScanKernel<T, TV, S> : IScanKernel where T : unmanaged where TV : struct where S : struct, ISimd<T, TV>
{
    /// <summary>One parameter of the state inside the padded state block: rows × cols with leading dimension ld.</summary>
    protected readonly record struct Block(int Rows, int Cols, int Ld, int Offset);

    /// <summary>The call being served (kernels are pooled across calls of the same sizes: see <see cref="Kernels"/>).</summary>
    protected ScanIo<T> Io { get; private set; }
    private readonly Scratch<T> _scratch = new();
    protected readonly int D, Dp, Kp, StateSize;
    protected readonly Block[] Blocks;
    /// <summary>The forward's running state; the backward's carried state gradient (same layout).</summary>
    protected readonly T* State, Carry;
    private readonly T* _group;
    protected readonly T* X, Q, Tgt;                                      // [Kp, dp] keys, queries, target V − X
    protected readonly T* Mask, Gamma, Beta, Row, DGamma, DBeta;          // [dp]
    protected readonly T* DQ, DX, DT;                                     // [Kp, dp] gradients of q, k and the target
    /// <summary>Per token of the mini-batch: lr_j, LN std of the inner and output LayerNorms, de_j, dlr_j.</summary>
    protected readonly double[] Lr, Std, StdOut, De, DLr;
    /// <summary>dτ of the current (b, h).</summary>
    protected readonly double[] DTau;

    protected ScanKernel(ScanIo<T> io, Func<int, int, Block[]> layout)
    {
        Io = io;
        D = io.D;
        Dp = Util.RoundUp(io.D, S.Count);
        Kp = Util.RoundUp(io.K, S.Count);
        Blocks = layout(D, Dp);
        StateSize = Blocks.Max(b => b.Offset + b.Rows * b.Ld);
        State = Take(StateSize);
        Carry = Take(StateSize);
        _group = io.Group > 1 ? Take(io.Group * StateSize) : null;
        // Q directly follows X: [X; Q] is one [2Kp, dp] block, the left factor of the kernels' stacked dW products.
        X = Take(2 * Kp * Dp); Q = X + Kp * Dp; Tgt = TakeRows(Dp);
        DQ = TakeRows(Dp); DX = TakeRows(Dp); DT = TakeRows(Dp);
        Mask = Take(Dp); Gamma = Take(Dp); Beta = Take(Dp); Row = Take(Dp); DGamma = Take(Dp); DBeta = Take(Dp);
        Lr = new double[io.K]; Std = new double[io.K]; StdOut = new double[io.K]; De = new double[io.K]; DLr = new double[io.K];
        DTau = new double[io.K];
    }

    /// <inheritdoc/>
    public void Rebind(object io) => Io = (ScanIo<T>)io;

    /// <summary>Zeroes the whole scratch and restores the constants it holds (see the class remarks).</summary>
    private void ResetScratch()
    {
        _scratch.ClearAll();
        for (int j = 0; j < D; j++) Mask[j] = Num.Of<T>(1);
    }

    /// <summary>A zeroed, aligned scratch block of n elements.</summary>
    protected T* Take(int n) => _scratch.Take(n);

    /// <summary>A [Kp, width] scratch block.</summary>
    protected T* TakeRows(int width) => _scratch.Take(Kp * width);

    /// <summary>Points the model's state matrices at a state block.</summary>
    protected abstract void Bind(T* state);

    /// <summary>
    /// One mini-batch of kk tokens starting at t0 from the bound state: the inner gradients always, the outputs when
    /// <paramref name="output"/> (written to the output tensor when <paramref name="writeOut"/>), and the state
    /// update in place when <paramref name="update"/>. Leaves every intermediate the backward needs in scratch.
    /// </summary>
    protected abstract void Step(int b, int h, int t0, int kk, bool output, bool writeOut, bool update);

    /// <summary>
    /// Backward of one mini-batch from the bound state (recomputing it first): reads dOut, updates <see cref="Carry"/>
    /// from the gradient of the mini-batch's final state to that of its initial state, leaves dQ, dX, dt in
    /// <see cref="DQ"/>, <see cref="DX"/>, <see cref="DT"/> and accumulates dγ, dβ, dτ, dlr.
    /// </summary>
    protected abstract void BackwardStep(int b, int h, int t0, int kk);

    /// <summary>Buffers with one row per token that are read past the current mini-batch (zeroed for a remainder).</summary>
    protected abstract IEnumerable<(nint Buffer, int Width)> TailZeroed();

    private (nint Buffer, int Width)[]? _tail;

    // ------------------------------------------------------------------ forward

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Forward(int item)
    {
        var io = Io;
        int b = item / io.H, h = item % io.H;
        ResetScratch();
        LoadHead(h);
        LoadState(State, io.Theta, io.ThetaBatched ? item : h);
        Bind(State);
        int n = io.MiniBatches;
        for (int m = 0; m < n; m++)
        {
            if (io.Saved != null && m % io.Group == 0)
                Util.CopyStreaming(io.Saved + ((long)item * io.Slots + m / io.Group) * StateSize, State, StateSize);
            int t0 = m * io.K;
            Prefetch(b, h, t0 + io.K, gradOut: false);
            Step(b, h, t0, Math.Min(io.K, io.Len - t0), output: true, writeOut: true, update: true);
        }
        StoreState(io.StateOut, item, State);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void LoadHead(int h)
    {
        Util.Copy(Gamma, Io.Gamma + h * D, D);
        Util.Copy(Beta, Io.Beta + h * D, D);
    }

    /// <summary>Dense per-parameter tensors (index <paramref name="index"/> along their leading B·H or H dims) → padded block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void LoadState(T* dst, T*[] src, long index)
    {
        new Span<T>(dst, StateSize).Clear();
        for (int i = 0; i < Blocks.Length; i++)
        {
            var bl = Blocks[i];
            Util.Pad(dst + bl.Offset, bl.Ld, src[i] + index * bl.Rows * bl.Cols, bl.Rows, bl.Cols);
        }
    }

    /// <summary>Padded block → dense per-parameter tensors at (b, h) index <paramref name="item"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StoreState(T*[] dst, int item, T* src)
    {
        for (int i = 0; i < Blocks.Length; i++)
        {
            var bl = Blocks[i];
            Util.Unpad(dst[i] + (long)item * bl.Rows * bl.Cols, src + bl.Offset, bl.Ld, bl.Rows, bl.Cols);
        }
    }

    /// <summary>X, Q, target = V − X and lr of tokens [t0, t0 + kk) into scratch; for a remainder, zero the rows past it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void LoadRows(int b, int h, int t0, int kk)
    {
        var io = Io;
        int d = D, dp = Dp;
        for (int i = 0; i < kk; i++)
        {
            T* x = X + i * dp, t = Tgt + i * dp;
            Util.CopyIn(x, io.Kx.Row(b, h, t0 + i), io.Kx.SJ, d);
            Util.CopyIn(Q + i * dp, io.Q.Row(b, h, t0 + i), io.Q.SJ, d);
            Util.CopyIn(t, io.V.Row(b, h, t0 + i), io.V.SJ, d);
            for (int j = 0; j < dp; j += S.Count) S.Store(t + j, S.Sub(S.Load(t + j), S.Load(x + j)));
            Lr[i] = Num.D(*io.Lr.Row(b, h, t0 + i));
        }
        if (kk < io.K)
        {
            // Transposes read all Kp rows; after a full mini-batch these rows hold its tokens.
            _tail ??= [((nint)X, dp), ((nint)Q, dp), ((nint)Tgt, dp), .. TailZeroed()];
            foreach (var (p, width) in _tail) Util.ZeroRows((T*)p, width, kk, io.K);
        }
    }

    /// <summary>
    /// Software prefetch of the Q, K, V rows (and, in the backward, the dOut rows) of the mini-batch starting at
    /// <paramref name="t0"/>: the rows of one head are strided in memory (1 KB apart for [B, T, H, d] views at
    /// H·d = 256), which the hardware prefetcher does not follow; issued one mini-batch ahead, the loads overlap
    /// the current mini-batch's compute.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void Prefetch(int b, int h, int t0, bool gradOut)
    {
        var io = Io;
        if (!Sse.IsSupported || t0 < 0 || t0 >= io.Len) return;
        int kk = Math.Min(io.K, io.Len - t0);
        int bytes = D * sizeof(T);
        for (int i = 0; i < kk; i++)
        {
            byte* q = (byte*)io.Q.Row(b, h, t0 + i), k = (byte*)io.Kx.Row(b, h, t0 + i), v = (byte*)io.V.Row(b, h, t0 + i);
            byte* g = gradOut ? (byte*)(io.GradOut + io.TokenRow(b, h, t0 + i) * D) : null;
            for (int o = 0; o < bytes; o += 64)
            {
                Sse.Prefetch0(q + o);
                Sse.Prefetch0(k + o);
                Sse.Prefetch0(v + o);
                if (gradOut) Sse.Prefetch0(g + o);
            }
        }
    }

    /// <summary>P[i, j] = τ_i·lr_j·(A[i, j] + 1) for j ≤ i &lt; kk, else 0 (E ⊙ (A + 1), lower triangle).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void BuildP(int kk, T* a, T* p)
    {
        var tau = Io.Tau;
        int kp = Kp;
        for (int i = 0; i < kk; i++)
        {
            T* ar = a + i * kp, pr = p + i * kp;
            for (int j = 0; j <= i; j++) pr[j] = Num.Of<T>(tau[i] * Lr[j] * (Num.D(ar[j]) + 1));
            for (int j = i + 1; j < kp; j++) pr[j] = default;
        }
    }

    /// <summary>
    /// Backward of P = tril(E ⊙ (A + 1)) from dPraw = dZb·Gᵀ (the product Zb −= P·G gives dP = −dPraw on the lower
    /// triangle): dτ_i += Σ_j dP_ij (A_ij + 1) lr_j;  dlr_j += Σ_i dP_ij (A_ij + 1) τ_i;  dA = dP ⊙ E (lower, 0 above).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void BuildDA(int kk, T* a, T* dpr, T* da)
    {
        var tau = Io.Tau;
        int kp = Kp;
        for (int i = 0; i < kk; i++)
        {
            T* ar = a + i * kp, pr = dpr + i * kp, dr = da + i * kp;
            double dtau = 0;
            for (int j = 0; j <= i; j++)
            {
                double dP = -Num.D(pr[j]);
                double sv = dP * (Num.D(ar[j]) + 1);
                dtau += sv * Lr[j];
                DLr[j] += sv * tau[i];
                dr[j] = Num.Of<T>(dP * tau[i] * Lr[j]);
            }
            DTau[i] += dtau;
            for (int j = i + 1; j < kp; j++) dr[j] = default;
        }
    }

    /// <summary>e_j = E[k−1, j] = τ_{k−1}·lr_j; from de_j: dτ_{k−1} += Σ_j de_j lr_j, dlr_j += de_j τ_{k−1}.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void LastRowBackward(int kk)
    {
        double tl = Io.Tau[kk - 1], s = 0;
        for (int j = 0; j < kk; j++)
        {
            s += De[j] * Lr[j];
            DLr[j] += De[j] * tl;
        }
        DTau[kk - 1] += s;
    }

    /// <summary>dst[j] = e_j·src[j] for rows j &lt; kk (e = last row of E), and bias −= Σ_j dst[j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void ScaleRowsAndUpdateBias(int kk, T* src, T* dst, T* bias, int width)
    {
        double tl = Io.Tau[kk - 1];
        for (int j = 0; j < kk; j++)
        {
            TV e = S.Splat(tl * Lr[j]);
            T* sr = src + j * width, dr = dst + j * width;
            for (int c = 0; c < width; c += S.Count)
            {
                TV v = S.Mul(e, S.Load(sr + c));
                S.Store(dr + c, v);
                S.Store(bias + c, S.Sub(S.Load(bias + c), v));
            }
        }
    }

    /// <summary>acc += Σ_{i &lt; kk} (a[i] + b[i]) over rows of a [*, width] pair (bias gradients).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected static void AddRowSums(T* acc, T* a, T* b, int kk, int width)
    {
        for (int i = 0; i < kk; i++)
            for (int c = 0; c < width; c += S.Count)
                S.Store(acc + c, S.Add(S.Load(acc + c), S.Add(S.Load(a + i * width + c), S.Load(b + i * width + c))));
    }

    // ------------------------------------------------------------------ backward

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Backward(int item)
    {
        var io = Io;
        int b = item / io.H, h = item % io.H;
        ResetScratch();
        LoadHead(h);
        if (io.GradState.Length > 0) LoadState(Carry, io.GradState, item);
        else new Span<T>(Carry, StateSize).Clear();
        Array.Clear(DTau);
        int n = io.MiniBatches, g = io.Group;
        for (int slot = io.Slots - 1; slot >= 0; slot--)
        {
            int m0 = slot * g, m1 = Math.Min(n, m0 + g);
            T* saved = io.Saved + ((long)item * io.Slots + slot) * StateSize;
            if (g > 1)
            {
                // Checkpoint group: recompute the states of its mini-batches from the saved first one.
                Util.Copy(_group, saved, StateSize);
                for (int m = m0; m < m1 - 1; m++)
                {
                    T* next = _group + (m - m0 + 1) * StateSize;
                    Util.Copy(next, next - StateSize, StateSize);
                    Bind(next);
                    int t0 = m * io.K;
                    Prefetch(b, h, t0 + io.K, gradOut: false);
                    Step(b, h, t0, Math.Min(io.K, io.Len - t0), output: false, writeOut: false, update: true);
                }
            }
            for (int m = m1 - 1; m >= m0; m--)
            {
                Bind(g > 1 ? _group + (m - m0) * StateSize : saved);
                int t0 = m * io.K, kk = Math.Min(io.K, io.Len - t0);
                Prefetch(b, h, m > m0 ? t0 - io.K : (slot > 0 ? (m0 - 1) * io.K : -1), gradOut: true);
                new Span<T>(DGamma, Dp).Clear();
                new Span<T>(DBeta, Dp).Clear();
                Array.Clear(DLr);
                BackwardStep(b, h, t0, kk);
                WriteGradients(b, h, t0, kk);
            }
        }
        StoreState(io.GradTheta, item, Carry);
        for (int i = 0; i < io.K; i++) io.GradTau[item * io.K + i] = DTau[i];
    }

    /// <summary>Loads dOut rows of the mini-batch into <see cref="DQ"/> (dQ starts as dOut: Out = Q + LN(Zb)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    protected void LoadGradOut(int b, int h, int t0, int kk)
    {
        for (int i = 0; i < kk; i++) Util.Copy(DQ + i * Dp, Io.GradOut + Io.TokenRow(b, h, t0 + i) * D, D);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteGradients(int b, int h, int t0, int kk)
    {
        var io = Io;
        int d = D, dp = Dp;
        // The gradient tensors are written once and not read by this op again: streaming stores.
        for (int i = 0; i < kk; i++)
        {
            long row = io.TokenRow(b, h, t0 + i), o = row * d;
            Util.CopyStreaming(io.GradQ + o, DQ + i * dp, d, fence: false);
            Util.CopyStreaming(io.GradK + o, DX + i * dp, d, fence: false);
            Util.CopyStreaming(io.GradV + o, DT + i * dp, d, fence: false);
            io.GradLr[row] = Num.Of<T>(DLr[i]);
        }
        if (Sse.IsSupported) Sse.StoreFence();
        int item = b * io.H + h;
        for (int j = 0; j < d; j++)
        {
            io.GradGamma[item * d + j] += Num.D(DGamma[j]);
            io.GradBeta[item * d + j] += Num.D(DBeta[j]);
        }
    }
}
