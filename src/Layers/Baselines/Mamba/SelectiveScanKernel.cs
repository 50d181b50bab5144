using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ttt.Cpu;

namespace Ttt.Models;

/// <summary>
/// The CPU kernels of the selective scan (forward and backward) on raw memory.
/// <para>Sizes: B batch, L time, E = E·D channels (the mixer's inner width), N states per channel, W SIMD lanes,
/// T_c chunk length, K = ⌈L/T_c⌉ chunks. Inputs u, Δ [B, L, E]; A [E, N]; B, C [B, L, N]; D [E].</para>
/// <para><b>Layout of the work.</b> SIMD runs over W consecutive channels (a "block"): at a time step every lane
/// reads its own u, Δ and A but the same B_t, C_t, so y_t = Σₙ C_t[n]·h_t[n] is a sum of W-wide registers with no
/// horizontal reduction. Blocks are independent in the forward, so the forward parallelizes over B × blocks. The
/// last block of a width E that is not a multiple of W runs on zero-padded copies of its rows; padded lanes have
/// u = Δ = A = 0, so their state stays 0 and they contribute nothing to the channel sums of the backward.</para>
/// <para><b>Chunks.</b> Time is split into K chunks of T_c steps; the forward saves the state at the start of each
/// chunk ([B, K, N, E_pad], O(L/T_c · N) per channel) and nothing else. The backward walks the chunks in reverse:
/// it recomputes the chunk's states and decays from the saved boundary state into a T_c × N scratch, then runs
/// the reverse-time recurrence through it, carrying ∂ℓ/∂h across chunk boundaries.</para>
/// <para><b>Backward parallelism.</b> dB and dC are sums over channels, dA and dD sums over batch and time. Work
/// items are (batch, group of blocks); each group accumulates its dB/dC in W-lane registers per (t, n) and
/// reduces them once per chunk into a private [L, N] slice, which are summed over groups at the end; dA and dD
/// are per-channel accumulators summed over the batch at the end. No two threads write the same element.</para>
/// </summary>
internal static class SelectiveScanKernel
{
    /// <summary>The widest hardware-accelerated vector size in bits (512, 256 or 128).</summary>
    public static int DefaultVectorBits =>
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;

    /// <summary>Scalar steps (time × states × lanes) below which a thread is not worth starting.</summary>
    private const long MinWorkPerThread = 1 << 16;

    /// <summary>Sizes of one scan.</summary>
    private readonly record struct Dims(int Batch, int Length, int Channels, int States, int Chunk, int Lanes)
    {
        public int Blocks => (Channels + Lanes - 1) / Lanes;
        public int PaddedChannels => Blocks * Lanes;
        public int Chunks => (Length + Chunk - 1) / Chunk;
    }

    /// <summary>Lanes of a <paramref name="bits"/>-bit vector of <paramref name="dtype"/>.</summary>
    public static int LanesFor(DType dtype, int bits) => bits / (8 * dtype.SizeOf());

    /// <summary>
    /// Forward scan of contiguous CPU tensors of one float dtype. Returns y [B, L, E]; the chunk-start states
    /// [B, K, N, E_pad] (E_pad = E rounded up to the lanes of <paramref name="bits"/>) when
    /// <paramref name="saveStates"/>; the final state h_L [B, E, N] when <paramref name="wantLast"/>.
    /// </summary>
    public static (Tensor Y, Tensor? States, Tensor? Last) Forward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d,
        int chunk, int bits, bool saveStates, bool wantLast)
    {
        var dims = DimsOf(u, a, chunk, bits);
        var y = Tensor.Empty(u.Shape, u.DType);
        var states = saveStates ? Tensor.Empty([dims.Batch, dims.Chunks, dims.States, dims.PaddedChannels], u.DType) : null;
        var last = wantLast ? Tensor.Empty([dims.Batch, dims.Channels, dims.States], u.DType) : null;
        var io = new ForwardIo(u, delta, a, b, c, d, y, states, last);
        switch (u.DType, bits)
        {
            case (DType.Float32, 128): Forward<float, Lanes128<float>>(io, dims); break;
            case (DType.Float32, 256): Forward<float, Lanes256<float>>(io, dims); break;
            case (DType.Float32, 512): Forward<float, Lanes512<float>>(io, dims); break;
            case (DType.Float64, 128): Forward<double, Lanes128<double>>(io, dims); break;
            case (DType.Float64, 256): Forward<double, Lanes256<double>>(io, dims); break;
            case (DType.Float64, 512): Forward<double, Lanes512<double>>(io, dims); break;
            default: throw new ArgumentException($"selective_scan: no kernel for {u.DType.Name()} with {bits}-bit vectors");
        }
        return (y, states, last);
    }

    /// <summary>
    /// Backward scan: given the forward's inputs, its chunk-start <paramref name="states"/> (made with the same
    /// <paramref name="chunk"/> and <paramref name="bits"/>) and dy [B, L, E], returns [du, dΔ, dA, dB, dC, dD].
    /// </summary>
    public static Tensor[] Backward(Tensor u, Tensor delta, Tensor a, Tensor b, Tensor c, Tensor d, Tensor states, Tensor dy,
        int chunk, int bits)
    {
        var dims = DimsOf(u, a, chunk, bits);
        if (!ShapeUtil.SameShape(states.Shape, [dims.Batch, dims.Chunks, dims.States, dims.PaddedChannels]))
            throw new InvalidOperationException($"selective_scan backward: saved states {ShapeUtil.Format(states.Shape)} do not fit chunk {chunk} and {bits}-bit vectors");
        var io = new BackwardIo(u, delta, a, b, c, d, states, dy,
            Tensor.Empty(u.Shape, u.DType), Tensor.Empty(u.Shape, u.DType), Tensor.Empty(a.Shape, u.DType),
            Tensor.Empty(b.Shape, u.DType), Tensor.Empty(c.Shape, u.DType), Tensor.Empty(d.Shape, u.DType));
        switch (u.DType, bits)
        {
            case (DType.Float32, 128): Backward<float, Lanes128<float>>(io, dims); break;
            case (DType.Float32, 256): Backward<float, Lanes256<float>>(io, dims); break;
            case (DType.Float32, 512): Backward<float, Lanes512<float>>(io, dims); break;
            case (DType.Float64, 128): Backward<double, Lanes128<double>>(io, dims); break;
            case (DType.Float64, 256): Backward<double, Lanes256<double>>(io, dims); break;
            case (DType.Float64, 512): Backward<double, Lanes512<double>>(io, dims); break;
            default: throw new ArgumentException($"selective_scan: no kernel for {u.DType.Name()} with {bits}-bit vectors");
        }
        return [io.DU, io.DDelta, io.DA, io.DB, io.DC, io.DD];
    }

    private static Dims DimsOf(Tensor u, Tensor a, int chunk, int bits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunk, 1);
        return new Dims(u.Shape[0], u.Shape[1], u.Shape[2], a.Shape[1], chunk, LanesFor(u.DType, bits));
    }

    private sealed record ForwardIo(Tensor U, Tensor Delta, Tensor A, Tensor B, Tensor C, Tensor D, Tensor Y, Tensor? States, Tensor? Last);

    private sealed record BackwardIo(Tensor U, Tensor Delta, Tensor A, Tensor B, Tensor C, Tensor D, Tensor States, Tensor DY,
        Tensor DU, Tensor DDelta, Tensor DA, Tensor DB, Tensor DC, Tensor DD);

    /// <summary>Element 0 of a contiguous CPU tensor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref T At<T>(Tensor t) where T : unmanaged =>
        ref Unsafe.Add(ref ((CpuStorage)t.Storage).Ref<T>(), (nint)t.Offset);

    /// <summary>A transposed to [N, E_pad] and D to [E_pad], zero in the padded channels, so a block loads them
    /// as registers.</summary>
    private static (T[] At, T[] D) PadParameters<T>(Tensor a, Tensor d, Dims s) where T : unmanaged
    {
        int e = s.Channels, n = s.States, ep = s.PaddedChannels;
        var at = new T[n * ep];
        var dp = new T[ep];
        ref T a0 = ref At<T>(a);
        ref T d0 = ref At<T>(d);
        for (int ch = 0; ch < e; ch++)
        {
            for (int k = 0; k < n; k++) at[k * ep + ch] = Unsafe.Add(ref a0, ch * n + k);
            dp[ch] = Unsafe.Add(ref d0, ch);
        }
        return (at, dp);
    }

    /// <summary>Copies <paramref name="lanes"/> channels of <paramref name="rows"/> rows (stride
    /// <paramref name="stride"/>) into a dense [rows, W] buffer, zero in the lanes beyond.</summary>
    private static void Gather<T>(ref T source, nint stride, int rows, int lanes, Span<T> destination, int width) where T : unmanaged
    {
        destination[..(rows * width)].Clear();
        for (int r = 0; r < rows; r++)
            for (int l = 0; l < lanes; l++)
                destination[r * width + l] = Unsafe.Add(ref source, r * stride + l);
    }

    /// <summary>The inverse of <see cref="Gather"/> for the first <paramref name="lanes"/> lanes.</summary>
    private static void Scatter<T>(ReadOnlySpan<T> source, int width, int rows, int lanes, ref T destination, nint stride) where T : unmanaged
    {
        for (int r = 0; r < rows; r++)
            for (int l = 0; l < lanes; l++)
                Unsafe.Add(ref destination, r * stride + l) = source[r * width + l];
    }

    // ------------------------------------------------------------------------------------------------ forward

    private static void Forward<T, V>(ForwardIo io, Dims s)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        var (aT, dPad) = PadParameters<T>(io.A, io.D, s);
        long perItem = (long)s.Length * s.States * V.Count;
        CpuParallel.For((long)s.Batch * s.Blocks, Math.Max(1, MinWorkPerThread / Math.Max(perItem, 1)), (start, end) =>
        {
            var h = new V[s.States];
            var aVec = new V[s.States];
            // Zero-padded rows of u, Δ, y [3, L, W] for the partial last block, if the width has one.
            var tail = s.Channels % V.Count != 0 ? new T[3 * s.Length * V.Count] : [];
            for (long item = start; item < end; item++)
                ForwardBlock<T, V>(io, s, (int)(item / s.Blocks), (int)(item % s.Blocks), aT, dPad, h, aVec, tail);
        });
    }

    /// <summary>
    /// One batch row and one block of W channels over the whole sequence:
    /// h_t = exp(Δ_t·A) ⊙ h_{t−1} + Δ_t·u_t·B_t, y_t = Σₙ C_t[n]·h_t[n] + D·u_t, with h [N] registers of W lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardBlock<T, V>(ForwardIo io, Dims s, int batch, int block, T[] aT, T[] dPad, V[] h, V[] aVec, T[] tail)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        int w = V.Count, n = s.States, len = s.Length, e = s.Channels, ep = s.PaddedChannels;
        int e0 = block * w, lanes = Math.Min(w, e - e0);
        bool padded = lanes < w;
        nint rowOffset = (nint)((long)batch * len * e + e0);
        // Rows of u, Δ, y for this block: in place (stride E) or, for a partial block, in zero-padded copies (stride W).
        ref T u = ref Unsafe.Add(ref At<T>(io.U), rowOffset);
        ref T dt = ref Unsafe.Add(ref At<T>(io.Delta), rowOffset);
        ref T y = ref Unsafe.Add(ref At<T>(io.Y), rowOffset);
        nint stride = e;
        var tailSpan = tail.AsSpan();
        if (padded)
        {
            Gather(ref u, e, len, lanes, tailSpan[..(len * w)], w);
            Gather(ref dt, e, len, lanes, tailSpan.Slice(len * w, len * w), w);
            u = ref tail[0];
            dt = ref tail[len * w];
            y = ref tail[2 * len * w];
            stride = w;
        }
        ref T bRows = ref Unsafe.Add(ref At<T>(io.B), (nint)((long)batch * len * n));   // [L, N]
        ref T cRows = ref Unsafe.Add(ref At<T>(io.C), (nint)((long)batch * len * n));   // [L, N]
        ref T states = ref io.States is null ? ref Unsafe.NullRef<T>()
            : ref Unsafe.Add(ref At<T>(io.States), (nint)((long)batch * s.Chunks * n * ep + e0)); // [K, N, E_pad] at e0
        for (int k = 0; k < n; k++)
        {
            aVec[k] = V.Load(ref aT[k * ep + e0]);
            h[k] = V.Zero;
        }
        var dv = V.Load(ref dPad[e0]);
        ref V hs = ref h[0];          // h [N] of this block
        ref V aVecs = ref aVec[0];    // A [N] of this block
        for (int t = 0; t < len; t++)
        {
            if (t % s.Chunk == 0 && io.States is not null)
            {
                nint chunkBase = (nint)(t / s.Chunk) * n * ep;
                for (int k = 0; k < n; k++) V.Store(h[k], ref Unsafe.Add(ref states, chunkBase + k * ep));
            }
            var dtv = V.Load(ref Unsafe.Add(ref dt, t * stride));
            var uv = V.Load(ref Unsafe.Add(ref u, t * stride));
            var dtu = dtv * uv;
            ref T bRow = ref Unsafe.Add(ref bRows, t * n);
            ref T cRow = ref Unsafe.Add(ref cRows, t * n);
            // Two accumulators for y halve the dependency chain of the sum over states.
            var y0 = dv * uv;
            var y1 = V.Zero;
            int st = 0;
            for (; st + 1 < n; st += 2)
            {
                ref V h0 = ref Unsafe.Add(ref hs, st);
                ref V h1 = ref Unsafe.Add(ref hs, st + 1);
                h0 = V.MultiplyAdd(V.Exp(dtv * Unsafe.Add(ref aVecs, st)), h0, dtu * V.Broadcast(Unsafe.Add(ref bRow, st)));
                h1 = V.MultiplyAdd(V.Exp(dtv * Unsafe.Add(ref aVecs, st + 1)), h1, dtu * V.Broadcast(Unsafe.Add(ref bRow, st + 1)));
                y0 = V.MultiplyAdd(h0, V.Broadcast(Unsafe.Add(ref cRow, st)), y0);
                y1 = V.MultiplyAdd(h1, V.Broadcast(Unsafe.Add(ref cRow, st + 1)), y1);
            }
            if (st < n)
            {
                ref V h0 = ref Unsafe.Add(ref hs, st);
                h0 = V.MultiplyAdd(V.Exp(dtv * Unsafe.Add(ref aVecs, st)), h0, dtu * V.Broadcast(Unsafe.Add(ref bRow, st)));
                y0 = V.MultiplyAdd(h0, V.Broadcast(Unsafe.Add(ref cRow, st)), y0);
            }
            V.Store(y0 + y1, ref Unsafe.Add(ref y, t * stride));
        }
        if (padded)
            Scatter<T>(tailSpan.Slice(2 * len * w, len * w), w, len, lanes, ref Unsafe.Add(ref At<T>(io.Y), rowOffset), e);
        if (io.Last is not null)
        {
            // h_L into [B, E, N]: lane l of h[k] is channel e0 + l.
            Span<T> laneValues = stackalloc T[w];
            ref T last = ref Unsafe.Add(ref At<T>(io.Last), (nint)(((long)batch * e + e0) * n));
            for (int k = 0; k < n; k++)
            {
                V.Store(h[k], ref laneValues[0]);
                for (int l = 0; l < lanes; l++) Unsafe.Add(ref last, l * n + k) = laneValues[l];
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ backward

    private static void Backward<T, V>(BackwardIo io, Dims s)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        var (aT, dPad) = PadParameters<T>(io.A, io.D, s);
        int batch = s.Batch, len = s.Length, n = s.States, ep = s.PaddedChannels;
        // Enough groups to keep every thread busy (two items per thread for balance), at most one per block.
        int groups = Math.Clamp((2 * CpuParallel.Threads + batch - 1) / batch, 1, s.Blocks);
        // Per-group partial sums, reduced below: dB and dC [B, G, L, N]; dA [B, N, E_pad]; dD [B, E_pad].
        var dBPart = new T[(long)batch * groups * len * n];
        var dCPart = new T[(long)batch * groups * len * n];
        var dAPart = new T[(long)batch * n * ep];
        var dDPart = new T[(long)batch * ep];
        long perItem = (long)len * n * V.Count * ((s.Blocks + groups - 1) / groups);
        CpuParallel.For((long)batch * groups, Math.Max(1, MinWorkPerThread / Math.Max(perItem, 1)), (start, end) =>
        {
            var scratch = new BackwardScratch<T, V>(s, (s.Blocks + groups - 1) / groups);
            for (long item = start; item < end; item++)
            {
                int b = (int)(item / groups), g = (int)(item % groups);
                int first = (int)((long)g * s.Blocks / groups), last = (int)((long)(g + 1) * s.Blocks / groups);
                BackwardGroup(io, s, b, g, groups, first, last, aT, dPad, scratch, dBPart, dCPart, dAPart, dDPart);
            }
        });
        ReduceParameterGradients(io, s, groups, dBPart, dCPart, dAPart, dDPart);
    }

    /// <summary>Scratch of one thread of the backward (reused across its work items).</summary>
    private sealed class BackwardScratch<T, V>
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        public BackwardScratch(Dims s, int maxBlocks)
        {
            int n = s.States, tc = Math.Min(s.Chunk, s.Length), w = V.Count;
            Carry = new V[maxBlocks * n];
            DA = new V[maxBlocks * n];
            DD = new V[maxBlocks];
            H = new V[(tc + 1) * n];
            Decay = new V[tc * n];
            AccB = new V[tc * n];
            AccC = new V[tc * n];
            AVec = new V[n];
            Tail = s.Channels % w != 0 ? new T[5 * tc * w] : [];
        }

        /// <summary>∂ℓ/∂h at the start of the chunk processed last, per block of the group [blocks, N].</summary>
        public V[] Carry { get; }
        /// <summary>dA accumulators per block [blocks, N].</summary>
        public V[] DA { get; }
        /// <summary>dD accumulators per block [blocks].</summary>
        public V[] DD { get; }
        /// <summary>States of the current chunk: row 0 the chunk-start state, row τ+1 the state after step τ [T_c+1, N].</summary>
        public V[] H { get; }
        /// <summary>exp(Δ_t·A) of the current chunk [T_c, N].</summary>
        public V[] Decay { get; }
        /// <summary>dB and dC of the current chunk, still split over lanes [T_c, N].</summary>
        public V[] AccB { get; }
        /// <inheritdoc cref="AccB"/>
        public V[] AccC { get; }
        /// <summary>A of the current block [N].</summary>
        public V[] AVec { get; }
        /// <summary>Zero-padded rows of u, Δ, dy, du, dΔ for a partial block [5, T_c, W].</summary>
        public T[] Tail { get; }
    }

    /// <summary>
    /// The reverse-time scan for one batch row and the blocks [first, last) of group <paramref name="group"/>.
    /// With g_t = ∂ℓ/∂h_t (including the path through h_{t+1}) and a_t = exp(Δ_t·A):
    /// g_t = dy_t·C_t + a_{t+1} ⊙ g_{t+1}; dC_t = Σ_e dy_t·h_t; dB_t = Σ_e g_t·Δ_t·u_t;
    /// q_t = g_t ⊙ h_{t−1} ⊙ a_t (= ∂ℓ/∂(Δ_t·A)); dA = Σ_t q_t·Δ_t; dΔ_t = Σₙ (q_t·A + g_t·B_t·u_t);
    /// du_t = D·dy_t + Σₙ g_t·Δ_t·B_t; dD = Σ_t dy_t·u_t.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardGroup<T, V>(BackwardIo io, Dims s, int batch, int group, int groups, int first, int last,
        T[] aT, T[] dPad, BackwardScratch<T, V> sc, T[] dBPart, T[] dCPart, T[] dAPart, T[] dDPart)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        int w = V.Count, n = s.States, len = s.Length, e = s.Channels, ep = s.PaddedChannels;
        int blocks = last - first;
        Array.Clear(sc.Carry, 0, blocks * n);
        Array.Clear(sc.DA, 0, blocks * n);
        Array.Clear(sc.DD, 0, blocks);
        ref T bRows = ref Unsafe.Add(ref At<T>(io.B), (nint)((long)batch * len * n));   // [L, N]
        ref T cRows = ref Unsafe.Add(ref At<T>(io.C), (nint)((long)batch * len * n));   // [L, N]
        ref T states = ref Unsafe.Add(ref At<T>(io.States), (nint)((long)batch * s.Chunks * n * ep)); // [K, N, E_pad]
        var h = sc.H;
        var decay = sc.Decay;
        var accB = sc.AccB;
        var accC = sc.AccC;
        var aVec = sc.AVec;
        var tail = sc.Tail.AsSpan();
        ref V hs = ref h[0];
        ref V decays = ref decay[0];
        ref V accBs = ref accB[0];
        ref V accCs = ref accC[0];
        ref V aVecs = ref aVec[0];
        for (int chunk = s.Chunks - 1; chunk >= 0; chunk--)
        {
            int t0 = chunk * s.Chunk, tc = Math.Min(s.Chunk, len - t0);
            Array.Clear(accB, 0, tc * n);
            Array.Clear(accC, 0, tc * n);
            ref T bChunk = ref Unsafe.Add(ref bRows, t0 * n);
            ref T cChunk = ref Unsafe.Add(ref cRows, t0 * n);
            for (int block = first; block < last; block++)
            {
                int j = block - first, e0 = block * w, lanes = Math.Min(w, e - e0);
                bool padded = lanes < w;
                nint rowOffset = (nint)(((long)batch * len + t0) * e + e0);
                ref T u = ref Unsafe.Add(ref At<T>(io.U), rowOffset);
                ref T dt = ref Unsafe.Add(ref At<T>(io.Delta), rowOffset);
                ref T dy = ref Unsafe.Add(ref At<T>(io.DY), rowOffset);
                ref T du = ref Unsafe.Add(ref At<T>(io.DU), rowOffset);
                ref T ddt = ref Unsafe.Add(ref At<T>(io.DDelta), rowOffset);
                nint stride = e;
                if (padded)
                {
                    int size = tc * w;
                    Gather(ref u, e, tc, lanes, tail[..size], w);
                    Gather(ref dt, e, tc, lanes, tail.Slice(size, size), w);
                    Gather(ref dy, e, tc, lanes, tail.Slice(2 * size, size), w);
                    u = ref tail[0];
                    dt = ref tail[size];
                    dy = ref tail[2 * size];
                    du = ref tail[3 * size];
                    ddt = ref tail[4 * size];
                    stride = w;
                }
                for (int k = 0; k < n; k++)
                {
                    aVec[k] = V.Load(ref aT[k * ep + e0]);
                    h[k] = V.Load(ref Unsafe.Add(ref states, (nint)chunk * n * ep + k * ep + e0));
                }
                var dv = V.Load(ref dPad[e0]);

                // Recompute the chunk's decays and states from its start state.
                for (int tau = 0; tau < tc; tau++)
                {
                    var dtv = V.Load(ref Unsafe.Add(ref dt, tau * stride));
                    var dtu = dtv * V.Load(ref Unsafe.Add(ref u, tau * stride));
                    ref T bRow = ref Unsafe.Add(ref bChunk, tau * n);
                    ref V hPrev = ref Unsafe.Add(ref hs, tau * n);
                    ref V hNow = ref Unsafe.Add(ref hPrev, n);
                    ref V decayNow = ref Unsafe.Add(ref decays, tau * n);
                    for (int k = 0; k < n; k++)
                    {
                        var a = V.Exp(dtv * Unsafe.Add(ref aVecs, k));
                        Unsafe.Add(ref decayNow, k) = a;
                        Unsafe.Add(ref hNow, k) = V.MultiplyAdd(a, Unsafe.Add(ref hPrev, k), dtu * V.Broadcast(Unsafe.Add(ref bRow, k)));
                    }
                }

                // Reverse-time recurrence through the chunk.
                ref V carry = ref sc.Carry[j * n];
                ref V dA = ref sc.DA[j * n];
                var dD = sc.DD[j];
                for (int tau = tc - 1; tau >= 0; tau--)
                {
                    var dyv = V.Load(ref Unsafe.Add(ref dy, tau * stride));
                    var dtv = V.Load(ref Unsafe.Add(ref dt, tau * stride));
                    var uv = V.Load(ref Unsafe.Add(ref u, tau * stride));
                    var dtu = dtv * uv;
                    dD = V.MultiplyAdd(dyv, uv, dD);
                    // Σₙ q·A and Σₙ g·B, each split over even and odd n so the sums are two short dependency
                    // chains instead of one long one; du and dΔ are formed from them after the loop.
                    V qa0 = V.Zero, qa1 = V.Zero, gb0 = V.Zero, gb1 = V.Zero;
                    ref T bRow = ref Unsafe.Add(ref bChunk, tau * n);
                    ref T cRow = ref Unsafe.Add(ref cChunk, tau * n);
                    ref V hPrev = ref Unsafe.Add(ref hs, tau * n);        // h_{t−1}
                    ref V hNow = ref Unsafe.Add(ref hPrev, n);            // h_t
                    ref V decayNow = ref Unsafe.Add(ref decays, tau * n);
                    ref V accBNow = ref Unsafe.Add(ref accBs, tau * n);
                    ref V accCNow = ref Unsafe.Add(ref accCs, tau * n);
                    int k = 0;
                    for (; k + 1 < n; k += 2)
                    {
                        Step(k, ref qa0, ref gb0, ref bRow, ref cRow, ref hPrev, ref hNow, ref decayNow, ref accBNow, ref accCNow, ref carry, ref dA, ref aVecs, dyv, dtv, dtu);
                        Step(k + 1, ref qa1, ref gb1, ref bRow, ref cRow, ref hPrev, ref hNow, ref decayNow, ref accBNow, ref accCNow, ref carry, ref dA, ref aVecs, dyv, dtv, dtu);
                    }
                    if (k < n)
                        Step(k, ref qa0, ref gb0, ref bRow, ref cRow, ref hPrev, ref hNow, ref decayNow, ref accBNow, ref accCNow, ref carry, ref dA, ref aVecs, dyv, dtv, dtu);
                    var gb = gb0 + gb1;
                    var duv = V.MultiplyAdd(gb, dtv, dv * dyv);              // du_t = D·dy_t + Δ_t·Σₙ g·B
                    var ddtv = V.MultiplyAdd(gb, uv, qa0 + qa1);             // dΔ_t = Σₙ q·A + u_t·Σₙ g·B
                    V.Store(duv, ref Unsafe.Add(ref du, tau * stride));
                    V.Store(ddtv, ref Unsafe.Add(ref ddt, tau * stride));
                }
                sc.DD[j] = dD;
                if (padded)
                {
                    int size = tc * w;
                    Scatter<T>(tail.Slice(3 * size, size), w, tc, lanes, ref Unsafe.Add(ref At<T>(io.DU), rowOffset), e);
                    Scatter<T>(tail.Slice(4 * size, size), w, tc, lanes, ref Unsafe.Add(ref At<T>(io.DDelta), rowOffset), e);
                }
            }
            // This group's share of dB_t, dC_t: reduce the lanes once per (t, n).
            long partBase = (((long)batch * groups + group) * len + t0) * n;
            for (int i = 0; i < tc * n; i++)
            {
                dBPart[partBase + i] = V.Sum(accB[i]);
                dCPart[partBase + i] = V.Sum(accC[i]);
            }
        }
        for (int j = 0; j < blocks; j++)
        {
            int e0 = (first + j) * w;
            for (int k = 0; k < n; k++) V.Store(sc.DA[j * n + k], ref dAPart[((long)batch * n + k) * ep + e0]);
            V.Store(sc.DD[j], ref dDPart[(long)batch * ep + e0]);
        }
    }

    /// <summary>
    /// State n of one reverse step: g = dy·C_t[n] + carry[n] (∂ℓ/∂h_t); dC_t[n] += dy·h_t; q = g·h_{t−1}·a_t
    /// (∂ℓ/∂(Δ_t·A)); dA[n] += q·Δ_t; Σ q·A and Σ g·B_t[n] accumulate; dB_t[n] += g·Δ_t·u_t; carry[n] = g·a_t.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step<T, V>(int k, ref V qa, ref V gb, ref T bRow, ref T cRow, ref V hPrev, ref V hNow, ref V decayNow,
        ref V accB, ref V accC, ref V carry, ref V dA, ref V aVec, V dyv, V dtv, V dtu)
        where T : unmanaged
        where V : unmanaged, IScanLanes<V, T>
    {
        ref V carryK = ref Unsafe.Add(ref carry, k);
        var g = V.MultiplyAdd(dyv, V.Broadcast(Unsafe.Add(ref cRow, k)), carryK);
        ref V accCK = ref Unsafe.Add(ref accC, k);
        accCK = V.MultiplyAdd(dyv, Unsafe.Add(ref hNow, k), accCK);
        var a = Unsafe.Add(ref decayNow, k);
        var q = g * Unsafe.Add(ref hPrev, k) * a;
        ref V dAK = ref Unsafe.Add(ref dA, k);
        dAK = V.MultiplyAdd(q, dtv, dAK);
        qa = V.MultiplyAdd(q, Unsafe.Add(ref aVec, k), qa);
        gb = V.MultiplyAdd(g, V.Broadcast(Unsafe.Add(ref bRow, k)), gb);
        ref V accBK = ref Unsafe.Add(ref accB, k);
        accBK = V.MultiplyAdd(g, dtu, accBK);
        carryK = g * a;
    }

    /// <summary>dB, dC: sum of the groups' slices; dA [E, N], dD [E]: sums over the batch (and transposition of dA).</summary>
    private static void ReduceParameterGradients<T>(BackwardIo io, Dims s, int groups, T[] dBPart, T[] dCPart, T[] dAPart, T[] dDPart)
        where T : unmanaged
    {
        int batch = s.Batch, len = s.Length, n = s.States, e = s.Channels, ep = s.PaddedChannels;
        var db = MemoryMarshalSpan<T>(io.DB, (long)batch * len * n);
        var dc = MemoryMarshalSpan<T>(io.DC, (long)batch * len * n);
        for (int b = 0; b < batch; b++)
        {
            var dbRow = db.Slice(b * len * n, len * n);
            var dcRow = dc.Slice(b * len * n, len * n);
            new ReadOnlySpan<T>(dBPart, b * groups * len * n, len * n).CopyTo(dbRow);
            new ReadOnlySpan<T>(dCPart, b * groups * len * n, len * n).CopyTo(dcRow);
            for (int g = 1; g < groups; g++)
            {
                Add(dbRow, new ReadOnlySpan<T>(dBPart, (b * groups + g) * len * n, len * n));
                Add(dcRow, new ReadOnlySpan<T>(dCPart, (b * groups + g) * len * n, len * n));
            }
        }
        var da = MemoryMarshalSpan<T>(io.DA, (long)e * n);
        var dd = MemoryMarshalSpan<T>(io.DD, e);
        for (int ch = 0; ch < e; ch++)
        {
            for (int k = 0; k < n; k++)
            {
                double sum = 0;
                for (int b = 0; b < batch; b++) sum += ToDouble(dAPart[((long)b * n + k) * ep + ch]);
                da[ch * n + k] = FromDouble<T>(sum);
            }
            double dsum = 0;
            for (int b = 0; b < batch; b++) dsum += ToDouble(dDPart[(long)b * ep + ch]);
            dd[ch] = FromDouble<T>(dsum);
        }
    }

    private static Span<T> MemoryMarshalSpan<T>(Tensor t, long length) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref At<T>(t), checked((int)length));

    private static void Add<T>(Span<T> destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        for (int i = 0; i < destination.Length; i++)
            destination[i] = FromDouble<T>(ToDouble(destination[i]) + ToDouble(source[i]));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double ToDouble<T>(T v) where T : unmanaged =>
        typeof(T) == typeof(float) ? Unsafe.BitCast<T, float>(v) : Unsafe.BitCast<T, double>(v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T FromDouble<T>(double v) where T : unmanaged =>
        typeof(T) == typeof(float) ? Unsafe.BitCast<float, T>((float)v) : Unsafe.BitCast<double, T>(v);
}
