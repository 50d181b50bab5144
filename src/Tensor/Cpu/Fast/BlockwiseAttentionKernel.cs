using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu.Fast;

/// <summary>
/// One [B, H, T, d] attention operand in place: element (b, h, t, i) is at
/// <c>Address + (b·BatchStride + h·HeadStride + t·TimeStride + i)·sizeof(T)</c> (unit stride along d, any other
/// strides, so a [B, T, H, d] projection viewed as [B, H, T, d] is read without a copy).
/// </summary>
internal readonly record struct AttentionOperand(nint Address, long BatchStride, long HeadStride, long TimeStride)
{
    /// <summary>Row t = 0 of head (b, h).</summary>
    public unsafe T* Head<T>(int b, int h) where T : unmanaged => (T*)Address + b * BatchStride + h * HeadStride;
}

/// <summary>Sizes of one attention call: q [B, H, Tq, d], k and v [B, H, Tk, d].</summary>
internal readonly record struct AttentionSizes(int Batch, int Heads, int QueryLength, int KeyLength, int HeadDim);

/// <summary>
/// Blockwise (FlashAttention-style) causal softmax attention on the CPU, float32 and float64.
/// <para><b>Forward</b> (per work item = one head × one block of <c>queryBlock</c> query rows): loop over key blocks
/// left of the causal boundary; Sᵀ = K_j·(scale·Q_i)ᵀ (the query block packed transposed once per item), online
/// softmax per query (running max m and sum l; the accumulated output is rescaled by e^(m_old − m_new) when the
/// max grows), O_i += P·V_j. At the end O_i /= l and the row log-sum-exp LSE = m + log l is stored for backward.
/// Nothing T×T is ever allocated: the scratch of a thread is a few blocks. Blocks of at most 4 queries (decoding
/// steps) take a row path instead: dot products, a softmax over the row's keys, and a weighted sum of V rows.</para>
/// <para><b>Backward</b> (FlashAttention-2 recomputation; per work item = one head × one block of keys, so dK and dV
/// of the block are owned by one thread): D = rowsum(dO ⊙ O) first; then for every query block that sees the key
/// block, recompute P = exp(scale·Q_i·K_jᵀ − LSE), dV_j += Pᵀ·dO_i, dP = dO_i·V_jᵀ, dS = P ⊙ (dP − D)·scale,
/// dK_j += dSᵀ·Q_i, dQ_i += dS·K_j. dQ rows receive contributions from every key block of their head; a head whose
/// key blocks are split between threads accumulates its dQ in private buffers that are summed afterwards (extra
/// memory: at most two heads' [Tq, d] per thread, still linear in T); the other heads accumulate in dq directly.</para>
/// <para>Causal masking aligns the last query with the last key (query i sees keys ≤ i + Tk − Tq), so the same
/// kernel serves training (Tq = Tk) and cached decoding (a few queries against all cached keys). Key blocks wholly
/// right of a query block's last visible key are skipped; only blocks cut by the diagonal are masked elementwise.
/// Work is split over B × H × blocks into one contiguous range per thread with equal estimated cost (causal blocks
/// differ in cost by up to the number of blocks).</para>
/// </summary>
internal static unsafe class BlockwiseAttentionKernel
{
    /// <summary>Default rows of a query block.</summary>
    public const int DefaultQueryBlock = 64;

    /// <summary>Default keys of a key block.</summary>
    public const int DefaultKeyBlock = 64;

    /// <summary>The widest vectors the CPU accelerates: 512, 256 or 128 (128 also runs, in software, everywhere).</summary>
    public static int NativeVectorBits =>
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;

    /// <summary>
    /// Forward: o [B, H, Tq, d] (contiguous) and lse [B, H, Tq] (contiguous) from q, k, v. <paramref name="vectorBits"/>
    /// picks the code path (0: <see cref="NativeVectorBits"/>; tests force the narrower ones).
    /// </summary>
    public static void Forward<T>(AttentionSizes n, AttentionOperand q, AttentionOperand k, AttentionOperand v, T* o, T* lse,
        bool causal, double scale, int queryBlock, int keyBlock, int vectorBits = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (vectorBits == 0 ? NativeVectorBits : vectorBits)
        {
            case 512: Forward<T, Vector512<T>, Simd512<T>>(n, q, k, v, o, lse, causal, scale, queryBlock, keyBlock); break;
            case 256: Forward<T, Vector256<T>, Simd256<T>>(n, q, k, v, o, lse, causal, scale, queryBlock, keyBlock); break;
            case 128: Forward<T, Vector128<T>, Simd128<T>>(n, q, k, v, o, lse, causal, scale, queryBlock, keyBlock); break;
            default: throw new ArgumentOutOfRangeException(nameof(vectorBits), vectorBits, "expected 0, 128, 256 or 512");
        }
    }

    /// <summary>
    /// Backward: dq [B, H, Tq, d], dk and dv [B, H, Tk, d] (all contiguous, overwritten) from q, k, v, the forward's
    /// o (contiguous) and lse, and the output gradient dO; <paramref name="vectorBits"/> as for Forward.
    /// </summary>
    public static void Backward<T>(AttentionSizes n, AttentionOperand q, AttentionOperand k, AttentionOperand v, T* o, T* lse,
        AttentionOperand dO, T* dq, T* dk, T* dv, bool causal, double scale, int queryBlock, int keyBlock, int vectorBits = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (vectorBits == 0 ? NativeVectorBits : vectorBits)
        {
            case 512: Backward<T, Vector512<T>, Simd512<T>>(n, q, k, v, o, lse, dO, dq, dk, dv, causal, scale, queryBlock, keyBlock); break;
            case 256: Backward<T, Vector256<T>, Simd256<T>>(n, q, k, v, o, lse, dO, dq, dk, dv, causal, scale, queryBlock, keyBlock); break;
            case 128: Backward<T, Vector128<T>, Simd128<T>>(n, q, k, v, o, lse, dO, dq, dk, dv, causal, scale, queryBlock, keyBlock); break;
            default: throw new ArgumentOutOfRangeException(nameof(vectorBits), vectorBits, "expected 0, 128, 256 or 512");
        }
    }

    // ------------------------------------------------------------------------------------------------ forward

    private static void Forward<T, TV, TS>(AttentionSizes n, AttentionOperand q, AttentionOperand k, AttentionOperand v,
        T* o, T* lse, bool causal, double scale, int queryBlock, int keyBlock)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int heads = n.Batch * n.Heads, tq = n.QueryLength, tk = n.KeyLength;
        if (heads == 0 || tq == 0) return;
        var job = new Job(n, q, k, v, (nint)o, (nint)lse, causal, scale, queryBlock, keyBlock);
        int queryBlocks = job.QueryBlocks;
        // Work item = (head, query block); its cost is the number of key blocks it visits.
        long KeyBlocksOf(int item)
        {
            int r0 = item % queryBlocks * queryBlock;
            return (job.KeyEnd(r0, Math.Min(queryBlock, tq - r0)) + keyBlock - 1) / keyBlock;
        }
        int items = heads * queryBlocks;
        var bounds = Partition(items, KeyBlocksOf, PartCount(items, (long)heads * tq * tk * n.HeadDim));
        CpuParallel.ForEach(bounds.Length - 1, part =>
        {
            if (bounds[part] < bounds[part + 1]) ForwardItems<T, TV, TS>(job, bounds[part], bounds[part + 1]);
        });
    }

    /// <summary>
    /// Forward of work items [start, end). Scores are computed transposed, Sᵀ [keys, queries] = K_j·(scale·Q_i)ᵀ,
    /// with the query block packed (and pre-scaled) once per item, so the key loop streams K rows unpacked and the
    /// online softmax runs down the key axis with whole vectors of queries (no horizontal reductions, no tails
    /// for partial key blocks; query columns are padded to the vector width with zeros).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ForwardItems<T, TV, TS>(in Job job, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, d = job.Sizes.HeadDim, tq = job.Sizes.QueryLength, bq = job.QueryBlock, bk = job.KeyBlock;
        int ldQ = RoundUp(bq, w);
        T scale = T.CreateTruncating(job.Scale);
        AttentionOperand q = job.Q, k = job.K, v = job.V;
        using var scratch = new Scratch<T>([d * ldQ, bk * ldQ, bq * d, ldQ, ldQ, ldQ]);
        T* qt = scratch[0], st = scratch[1], acc = scratch[2], m = scratch[3], l = scratch[4], alpha = scratch[5];
        // Scores [Tk] of the row path, needed when some query block has at most RowPathMaxRows rows.
        bool smallBlocks = bq <= RowPathMaxRows || tq % bq is > 0 and <= RowPathMaxRows;
        using var rowScores = smallBlocks ? new Scratch<T>([job.Sizes.KeyLength]) : null;
        for (int item = start; item < end; item++)
        {
            int head = item / job.QueryBlocks, b = head / job.Sizes.Heads, h = head % job.Sizes.Heads;
            int r0 = item % job.QueryBlocks * bq, nr = Math.Min(bq, tq - r0), nrPad = RoundUp(nr, w);
            int keyEnd = job.KeyEnd(r0, nr);
            T* kh = k.Head<T>(b, h), vh = v.Head<T>(b, h);
            if (nr <= RowPathMaxRows)
            {
                ForwardRows<T, TV, TS>(job, head, r0, nr, rowScores![0], acc);
                continue;
            }
            // Q̃ᵀ [d, nrPad] = scale·Q_iᵀ, zero in the padding columns
            T* qi = q.Head<T>(b, h) + r0 * q.TimeStride;
            for (int r = 0; r < nr; r++)
            {
                T* row = qi + r * q.TimeStride;
                for (int p = 0; p < d; p++) qt[p * ldQ + r] = row[p] * scale;
            }
            if (nrPad > nr)
                for (int p = 0; p < d; p++) new Span<T>(qt + p * ldQ + nr, nrPad - nr).Clear();
            new Span<T>(m, nrPad).Fill(T.NegativeInfinity);
            new Span<T>(l, nrPad).Clear();
            new Span<T>(acc, nr * d).Clear();
            for (int k0 = 0; k0 < keyEnd; k0 += bk)
            {
                int nk = Math.Min(bk, keyEnd - k0);
                // Sᵀ [nk, nrPad] = K_j [nk, d] · Q̃ᵀ [d, nrPad]
                AttentionTiles.Multiply<T, TV, TS>(nk, nrPad, d, kh + k0 * k.TimeStride, (nint)k.TimeStride, 1, qt, ldQ, st, ldQ, accumulate: false);
                if (job.Causal && k0 + nk - 1 > r0 + job.Offset)
                {
                    // Block cut by the diagonal: key k0 + c is visible from query r0 + r when r ≥ k0 + c − r0 − offset.
                    // (That bound is < nr, so padding columns are never masked and every column keeps a finite max:
                    // key 0 is visible to every query and is in the first block visited.)
                    for (int c = 0; c < nk; c++)
                    {
                        int firstVisible = k0 + c - r0 - job.Offset;
                        if (firstVisible > 0) new Span<T>(st + c * ldQ, firstVisible).Fill(T.NegativeInfinity);
                    }
                }
                // Online softmax down the key axis, one vector of queries at a time.
                for (int j = 0; j < nrPad; j += w)
                {
                    TV mOld = TS.Load(m + j), mNew = mOld;
                    for (int c = 0; c < nk; c++) mNew = TS.Max(mNew, TS.Load(st + c * ldQ + j));
                    TV sum = TS.Zero;
                    for (int c = 0; c < nk; c++)
                    {
                        T* sc = st + c * ldQ + j;
                        TV e = AttentionExp.Exp<T, TV, TS>(TS.Sub(TS.Load(sc), mNew));
                        TS.Store(e, sc);
                        sum = TS.Add(sum, e);
                    }
                    TV a = AttentionExp.Exp<T, TV, TS>(TS.Sub(mOld, mNew)); // 0 on the first block (m = −∞)
                    TS.Store(a, alpha + j);
                    TS.Store(mNew, m + j);
                    TS.Store(TS.MulAdd(TS.Load(l + j), a, sum), l + j);
                }
                for (int r = 0; r < nr; r++)
                    if (alpha[r] != T.One) ScaleRow<T, TV, TS>(acc + r * d, d, alpha[r]);
                // acc [nr, d] += P [nr, nk] · V_j [nk, d], with P(r, c) = Sᵀ[c, r]
                AttentionTiles.Multiply<T, TV, TS>(nr, d, nk, st, 1, ldQ, vh + k0 * v.TimeStride, (nint)v.TimeStride, acc, d, accumulate: true);
            }
            T* oi = (T*)job.Output + ((nint)head * tq + r0) * d;
            T* li = (T*)job.Lse + (nint)head * tq + r0;
            for (int r = 0; r < nr; r++)
            {
                ScaleCopy<T, TV, TS>(acc + r * d, oi + r * d, d, T.One / l[r]);
                li[r] = m[r] + T.Log(l[r]);
            }
        }
    }

    /// <summary>Query blocks this small (decoding steps, the last rows of a sequence) take the row path.</summary>
    private const int RowPathMaxRows = 4;

    /// <summary>
    /// Forward of a few query rows [r0, r0 + nr) of one head without tiles: per row, scores s_c = scale·q·k_c over
    /// its visible keys (dot products along d), a two-pass softmax over the whole row (scratch [Tk], still linear),
    /// and o = Σ_c p_c·v_c / l. A decoding step thus costs O(L·d) per head; the tile path would compute a full
    /// vector width of query columns (16× the work for one query with AVX-512 floats).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardRows<T, TV, TS>(in Job job, int head, int r0, int nr, T* scores, T* acc)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int d = job.Sizes.HeadDim, tq = job.Sizes.QueryLength, b = head / job.Sizes.Heads, h = head % job.Sizes.Heads;
        T scale = T.CreateTruncating(job.Scale);
        T* kh = job.K.Head<T>(b, h), vh = job.V.Head<T>(b, h);
        for (int r = 0; r < nr; r++)
        {
            T* qr = job.Q.Head<T>(b, h) + (r0 + r) * job.Q.TimeStride;
            int visible = job.KeyEnd(r0 + r, 1);
            T max = T.NegativeInfinity;
            for (int c = 0; c < visible; c++)
            {
                scores[c] = Dot<T, TV, TS>(qr, kh + c * job.K.TimeStride, d) * scale;
                max = T.Max(max, scores[c]);
            }
            T sum = ExpShiftedRow<T, TV, TS>(scores, visible, T.One, max);
            new Span<T>(acc, d).Clear();
            for (int c = 0; c < visible; c++) AddScaled<T, TV, TS>(vh + c * job.V.TimeStride, acc, d, scores[c]);
            ScaleCopy<T, TV, TS>(acc, (T*)job.Output + ((nint)head * tq + r0 + r) * d, d, T.One / sum);
            ((T*)job.Lse)[(nint)head * tq + r0 + r] = max + T.Log(sum);
        }
    }

    // ------------------------------------------------------------------------------------------------ backward

    private static void Backward<T, TV, TS>(AttentionSizes n, AttentionOperand q, AttentionOperand k, AttentionOperand v,
        T* o, T* lse, AttentionOperand dO, T* dq, T* dk, T* dv, bool causal, double scale, int queryBlock, int keyBlock)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int heads = n.Batch * n.Heads, d = n.HeadDim, tq = n.QueryLength, tk = n.KeyLength;
        new Span<T>(dq, heads * tq * d).Clear();
        if (heads == 0 || tk == 0) return;
        if (tq == 0)
        {
            new Span<T>(dk, heads * tk * d).Clear();
            new Span<T>(dv, heads * tk * d).Clear();
            return;
        }
        var job = new Job(n, q, k, v, (nint)o, (nint)lse, causal, scale, queryBlock, keyBlock);
        int keyBlocks = (tk + keyBlock - 1) / keyBlock, queryBlocks = job.QueryBlocks;

        // D [B·H·Tq] = rowsum(dO ⊙ O): the softmax-backward correction, once per row.
        using var rowDots = new Scratch<T>([heads * tq]);
        nint pD = (nint)rowDots[0], po = (nint)o;
        CpuParallel.For((long)heads * tq, Math.Max(1, (1 << 14) / d), (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                int head = (int)(row / tq), t = (int)(row % tq);
                T* g = dO.Head<T>(head / n.Heads, head % n.Heads) + t * dO.TimeStride;
                ((T*)pD)[row] = Dot<T, TV, TS>(g, (T*)po + row * d, d);
            }
        });

        int items = heads * keyBlocks;
        var bounds = Partition(items, item => queryBlocks - job.FirstQueryBlock(item % keyBlocks * keyBlock),
            PartCount(items, (long)heads * tq * tk * d));
        int parts = bounds.Length - 1;
        // dQ rows of a head receive contributions from each of its key blocks. A head whose items all lie in one
        // part accumulates straight into dq (cleared above); a head split between parts (only a part's first or
        // last head can be) accumulates in a private buffer of each part involved, added into dq afterwards.
        var targets = new DqTargets<T>[parts];
        try
        {
            for (int p = 0; p < parts; p++)
            {
                if (bounds[p] == bounds[p + 1]) continue;
                int first = bounds[p] / keyBlocks, last = (bounds[p + 1] - 1) / keyBlocks;
                bool Split(int head) => head * keyBlocks < bounds[p] || (head + 1) * keyBlocks > bounds[p + 1];
                targets[p] = new DqTargets<T>((nint)dq, tq * d, first, Split(first) ? PrivateHead<T>(tq * d) : null,
                    last, last != first && Split(last) ? PrivateHead<T>(tq * d) : null);
            }
            var grads = new Gradients(dO, pD, (nint)dk, (nint)dv);
            CpuParallel.ForEach(parts, part =>
            {
                if (bounds[part] < bounds[part + 1]) BackwardItems<T, TV, TS>(job, grads, targets[part], bounds[part], bounds[part + 1]);
            });
            foreach (var t in targets)
            {
                if (t.FirstBuffer is { } firstBuffer) AddInto<T, TV, TS>(firstBuffer[0], t.HeadRow(t.FirstHead), tq * d);
                if (t.LastBuffer is { } lastBuffer) AddInto<T, TV, TS>(lastBuffer[0], t.HeadRow(t.LastHead), tq * d);
            }
        }
        finally
        {
            foreach (var t in targets)
            {
                t.FirstBuffer?.Dispose();
                t.LastBuffer?.Dispose();
            }
        }
    }

    /// <summary>A zeroed private dQ accumulator for one head, [Tq, d].</summary>
    private static Scratch<T> PrivateHead<T>(int length) where T : unmanaged
    {
        var buffer = new Scratch<T>([length]);
        new Span<T>(buffer[0], length).Clear();
        return buffer;
    }

    /// <summary>
    /// Where one part accumulates dQ: heads split with another part go to the part's private buffers, the others
    /// straight to dq [B·H, Tq, d].
    /// </summary>
    private readonly record struct DqTargets<T>(nint Dq, int HeadSize, int FirstHead, Scratch<T>? FirstBuffer, int LastHead, Scratch<T>? LastBuffer)
        where T : unmanaged
    {
        /// <summary>Row 0 of head <paramref name="head"/> in dq.</summary>
        public T* HeadRow(int head) => (T*)Dq + (nint)head * HeadSize;

        /// <summary>Where the dQ of head <paramref name="head"/> accumulates, [Tq, d].</summary>
        public T* For(int head) =>
            head == FirstHead && FirstBuffer is { } first ? first[0]
            : head == LastHead && LastBuffer is { } last ? last[0]
            : HeadRow(head);
    }

    /// <summary>Backward of work items [start, end) (item = head × key block); dQ accumulates where <paramref name="dqTargets"/> says.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BackwardItems<T, TV, TS>(in Job job, in Gradients grads, in DqTargets<T> dqTargets, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, d = job.Sizes.HeadDim, tq = job.Sizes.QueryLength, tk = job.Sizes.KeyLength;
        int bq = job.QueryBlock, bk = job.KeyBlock, keyBlocks = (tk + bk - 1) / bk, ldS = RoundUp(bk, w);
        T scale = T.CreateTruncating(job.Scale);
        AttentionOperand q = job.Q, k = job.K, v = job.V, dO = grads.OutputGrad;
        using var scratch = new Scratch<T>([d * ldS, d * ldS, bq * ldS, bq * ldS, bk * d, bk * d]);
        T* kt = scratch[0], vt = scratch[1], p = scratch[2], ds = scratch[3], dkAcc = scratch[4], dvAcc = scratch[5];
        for (int item = start; item < end; item++)
        {
            int head = item / keyBlocks, b = head / job.Sizes.Heads, h = head % job.Sizes.Heads;
            int k0 = item % keyBlocks * bk, nk = Math.Min(bk, tk - k0), nkPad = RoundUp(nk, w);
            T* qh = q.Head<T>(b, h), gh = dO.Head<T>(b, h);
            T* kj = k.Head<T>(b, h) + k0 * k.TimeStride, vj = v.Head<T>(b, h) + k0 * v.TimeStride;
            T* lh = (T*)job.Lse + (nint)head * tq, dh = (T*)grads.RowDots + (nint)head * tq;
            T* dqh = dqTargets.For(head);
            // K_jᵀ, V_jᵀ [d, nkPad] packed once per item, reused by every query block
            PackTransposed(kj, (nint)k.TimeStride, nk, nkPad, d, kt, ldS);
            PackTransposed(vj, (nint)v.TimeStride, nk, nkPad, d, vt, ldS);
            new Span<T>(dkAcc, nk * d).Clear();
            new Span<T>(dvAcc, nk * d).Clear();
            for (int q0 = job.FirstQueryBlock(k0) * bq; q0 < tq; q0 += bq)
            {
                int nr = Math.Min(bq, tq - q0);
                T* qi = qh + q0 * q.TimeStride, gi = gh + q0 * dO.TimeStride;
                // P [nr, nkPad] = exp(scale·Q_i·K_jᵀ − LSE_i), zero where masked or padded
                AttentionTiles.Multiply<T, TV, TS>(nr, nkPad, d, qi, (nint)q.TimeStride, 1, kt, ldS, p, ldS, accumulate: false);
                bool cut = job.Causal && k0 + nk - 1 > q0 + job.Offset;
                for (int r = 0; r < nr; r++)
                {
                    T* pr = p + r * ldS;
                    int visible = cut ? Math.Clamp(q0 + r + job.Offset - k0 + 1, 0, nk) : nk;
                    ExpShiftedRow<T, TV, TS>(pr, visible, scale, lh[q0 + r]);
                    new Span<T>(pr + visible, nkPad - visible).Clear();
                }
                // dV_j [nk, d] += Pᵀ [nk, nr] · dO_i [nr, d]
                AttentionTiles.Multiply<T, TV, TS>(nk, d, nr, p, 1, ldS, gi, (nint)dO.TimeStride, dvAcc, d, accumulate: true);
                // dP [nr, nkPad] = dO_i [nr, d] · V_jᵀ [d, nkPad]
                AttentionTiles.Multiply<T, TV, TS>(nr, nkPad, d, gi, (nint)dO.TimeStride, 1, vt, ldS, ds, ldS, accumulate: false);
                // dS = P ⊙ (dP − D)·scale (the scale of S = scale·QKᵀ folded in once, here)
                for (int r = 0; r < nr; r++)
                    SoftmaxGradRow<T, TV, TS>(p + r * ldS, ds + r * ldS, nkPad, dh[q0 + r], scale);
                // dK_j [nk, d] += dSᵀ [nk, nr] · Q_i [nr, d]
                AttentionTiles.Multiply<T, TV, TS>(nk, d, nr, ds, 1, ldS, qi, (nint)q.TimeStride, dkAcc, d, accumulate: true);
                // dQ_i [nr, d] += dS [nr, nk] · K_j [nk, d]
                AttentionTiles.Multiply<T, TV, TS>(nr, d, nk, ds, ldS, 1, kj, (nint)k.TimeStride, dqh + (nint)q0 * d, d, accumulate: true);
            }
            new Span<T>(dkAcc, nk * d).CopyTo(new Span<T>((T*)grads.Dk + ((nint)head * tk + k0) * d, nk * d));
            new Span<T>(dvAcc, nk * d).CopyTo(new Span<T>((T*)grads.Dv + ((nint)head * tk + k0) * d, nk * d));
        }
    }

    /// <summary>Everything a forward or backward work item reads: sizes, operands, the forward's outputs, options.</summary>
    private readonly record struct Job(AttentionSizes Sizes, AttentionOperand Q, AttentionOperand K, AttentionOperand V,
        nint Output, nint Lse, bool Causal, double Scale, int QueryBlock, int KeyBlock)
    {
        /// <summary>Tk − Tq: query i sits at key position i + Offset.</summary>
        public int Offset => Sizes.KeyLength - Sizes.QueryLength;

        /// <summary>Number of query blocks.</summary>
        public int QueryBlocks => (Sizes.QueryLength + QueryBlock - 1) / QueryBlock;

        /// <summary>One past the last key that any of the queries [r0, r0 + rows) sees.</summary>
        public int KeyEnd(int r0, int rows) => Causal ? Math.Min(Sizes.KeyLength, r0 + rows + Offset) : Sizes.KeyLength;

        /// <summary>Index of the first query block that sees key k0.</summary>
        public int FirstQueryBlock(int k0) => Causal ? Math.Max(0, k0 - Offset) / QueryBlock : 0;
    }

    /// <summary>The backward's extra inputs and outputs: dO, the row dots D, dk and dv (dq: see <see cref="DqTargets{T}"/>).</summary>
    private readonly record struct Gradients(AttentionOperand OutputGrad, nint RowDots, nint Dk, nint Dv);

    // ------------------------------------------------------------------------------------------------ helpers

    /// <summary>dst[i, c] = src[c, i] for c &lt; rows (src rows strided), zero for rows ≤ c &lt; padded: a block of
    /// keys or values [rows, d] becomes [d, padded] so that products with it stream unit-stride rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PackTransposed<T>(T* src, nint srcStride, int rows, int padded, int d, T* dst, nint ldDst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int c = 0; c < rows; c++)
        {
            T* row = src + c * srcStride;
            for (int i = 0; i < d; i++) dst[i * ldDst + c] = row[i];
        }
        if (padded > rows)
            for (int i = 0; i < d; i++) new Span<T>(dst + i * ldDst + rows, padded - rows).Clear();
    }

    /// <summary>row[c] = exp(scale·row[c] − shift) for c &lt; n; returns their sum (backward: the recomputed
    /// softmax with shift = LSE; the row path: the unnormalised probabilities with shift = the row max).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T ExpShiftedRow<T, TV, TS>(T* row, int n, T scale, T shift)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, c = 0;
        TV vs = TS.Splat(scale), vShift = TS.Splat(shift), acc = TS.Zero;
        for (; c + w <= n; c += w)
        {
            TV e = AttentionExp.Exp<T, TV, TS>(TS.Sub(TS.Mul(TS.Load(row + c), vs), vShift));
            TS.Store(e, row + c);
            acc = TS.Add(acc, e);
        }
        T sum = TS.Sum(acc);
        for (; c < n; c++)
        {
            row[c] = T.Exp(row[c] * scale - shift);
            sum += row[c];
        }
        return sum;
    }

    /// <summary>dst[i] += src[i]·factor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled<T, TV, TS>(T* src, T* dst, int n, T factor)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, i = 0;
        TV vf = TS.Splat(factor);
        for (; i + w <= n; i += w) TS.Store(TS.MulAdd(TS.Load(src + i), vf, TS.Load(dst + i)), dst + i);
        for (; i < n; i++) dst[i] += src[i] * factor;
    }

    /// <summary>dp[c] = p[c]·(dp[c] − rowDot)·scale for c &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SoftmaxGradRow<T, TV, TS>(T* p, T* dp, int n, T rowDot, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, c = 0;
        TV vd = TS.Splat(rowDot), vs = TS.Splat(scale);
        for (; c + w <= n; c += w)
            TS.Store(TS.Mul(TS.Mul(TS.Load(p + c), TS.Sub(TS.Load(dp + c), vd)), vs), dp + c);
        for (; c < n; c++) dp[c] = p[c] * (dp[c] - rowDot) * scale;
    }

    /// <summary>row[i] *= factor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleRow<T, TV, TS>(T* row, int n, T factor)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, i = 0;
        TV vf = TS.Splat(factor);
        for (; i + w <= n; i += w) TS.Store(TS.Mul(TS.Load(row + i), vf), row + i);
        for (; i < n; i++) row[i] *= factor;
    }

    /// <summary>dst[i] = src[i]·factor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleCopy<T, TV, TS>(T* src, T* dst, int n, T factor)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, i = 0;
        TV vf = TS.Splat(factor);
        for (; i + w <= n; i += w) TS.Store(TS.Mul(TS.Load(src + i), vf), dst + i);
        for (; i < n; i++) dst[i] = src[i] * factor;
    }

    /// <summary>dst[i] += src[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddInto<T, TV, TS>(T* src, T* dst, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, i = 0;
        for (; i + w <= n; i += w) TS.Store(TS.Add(TS.Load(dst + i), TS.Load(src + i)), dst + i);
        for (; i < n; i++) dst[i] += src[i];
    }

    /// <summary>Σ a[i]·b[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Dot<T, TV, TS>(T* a, T* b, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, i = 0;
        T sum = T.Zero;
        if (n >= w)
        {
            TV acc = TS.Zero;
            for (; i + w <= n; i += w) acc = TS.MulAdd(TS.Load(a + i), TS.Load(b + i), acc);
            sum = TS.Sum(acc);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    /// <summary>How many threads to use: one when the whole call is too small to amortise a parallel loop.</summary>
    private static int PartCount(int items, long flopsEstimate) =>
        flopsEstimate < 1 << 16 ? 1 : CpuParallel.ChunkCount(items, 1);

    /// <summary>
    /// Splits items [0, count) into <paramref name="parts"/> contiguous ranges of about equal total cost; returns the
    /// parts + 1 bounds (a range may be empty when one item outweighs a share).
    /// </summary>
    private static int[] Partition(int count, Func<int, long> cost, int parts)
    {
        var bounds = new int[parts + 1];
        bounds[parts] = count;
        if (parts == 1) return bounds;
        long total = 0;
        for (int i = 0; i < count; i++) total += cost(i);
        long running = 0;
        int part = 1;
        for (int i = 0; i < count && part < parts; i++)
        {
            running += cost(i);
            while (part < parts && running * parts >= total * part) bounds[part++] = i + 1;
        }
        for (; part < parts; part++) bounds[part] = count;
        return bounds;
    }

    /// <summary>
    /// Pinned, 64-byte aligned scratch carved into pieces of the requested lengths (each piece aligned too).
    /// </summary>
    private sealed class Scratch<T> : IDisposable where T : unmanaged
    {
        private const int Align = 64;
        private T[]? _array;
        private readonly nint[] _pieces;

        public Scratch(int[] lengths)
        {
            int perLine = Math.Max(1, Align / sizeof(T));
            long total = perLine;
            foreach (var len in lengths) total += RoundUp(Math.Max(len, 1), perLine);
            _array = GC.AllocateUninitializedArray<T>(checked((int)total), pinned: true);
            nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
            nint cursor = (address + Align - 1) & ~(nint)(Align - 1);
            _pieces = new nint[lengths.Length];
            for (int i = 0; i < lengths.Length; i++)
            {
                _pieces[i] = cursor;
                cursor += RoundUp(Math.Max(lengths[i], 1), perLine) * sizeof(T);
            }
        }

        public T* this[int piece] => (T*)_pieces[piece];

        public void Dispose()
        {
            GC.KeepAlive(_array);
            _array = null;
        }
    }
}
