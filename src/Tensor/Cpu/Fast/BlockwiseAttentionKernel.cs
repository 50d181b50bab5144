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
/// left of the causal boundary; S = Q_i·K_jᵀ (K_j packed transposed into an L1 tile), scale, online softmax
/// (running row max m and row sum l; the accumulated output is rescaled by e^(m_old − m_new) when the max grows),
/// O_i += P·V_j. At the end O_i /= l and the row log-sum-exp LSE = m + log l is stored for backward. Nothing
/// T×T is ever allocated: the scratch of a thread is a few blocks.</para>
/// <para><b>Backward</b> (FlashAttention-2 recomputation; per work item = one head × one block of keys, so dK and dV
/// of the block are owned by one thread): D = rowsum(dO ⊙ O) first; then for every query block that sees the key
/// block, recompute P = exp(scale·Q_i·K_jᵀ − LSE), dV_j += Pᵀ·dO_i, dP = dO_i·V_jᵀ, dS = P ⊙ (dP − D)·scale,
/// dK_j += dSᵀ·Q_i, dQ_i += dS·K_j. dQ rows receive contributions from several key blocks, which may run on
/// different threads: each thread accumulates dQ for the heads it touches in a private buffer and the buffers are
/// summed afterwards (extra memory: one dQ plus one head per extra thread, still linear in T).</para>
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

    /// <summary>
    /// Forward: o [B, H, Tq, d] (contiguous) and lse [B, H, Tq] (contiguous) from q, k, v.
    /// </summary>
    public static void Forward<T>(AttentionSizes n, AttentionOperand q, AttentionOperand k, AttentionOperand v, T* o, T* lse,
        bool causal, double scale, int queryBlock, int keyBlock)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Vector512.IsHardwareAccelerated)
            Forward<T, Vector512<T>, Simd512<T>>(n, q, k, v, o, lse, causal, scale, queryBlock, keyBlock);
        else if (Vector256.IsHardwareAccelerated)
            Forward<T, Vector256<T>, Simd256<T>>(n, q, k, v, o, lse, causal, scale, queryBlock, keyBlock);
        else
            Forward<T, Vector128<T>, Simd128<T>>(n, q, k, v, o, lse, causal, scale, queryBlock, keyBlock);
    }

    /// <summary>
    /// Backward: dq [B, H, Tq, d], dk and dv [B, H, Tk, d] (all contiguous, overwritten) from q, k, v, the forward's
    /// o (contiguous) and lse, and the output gradient dO.
    /// </summary>
    public static void Backward<T>(AttentionSizes n, AttentionOperand q, AttentionOperand k, AttentionOperand v, T* o, T* lse,
        AttentionOperand dO, T* dq, T* dk, T* dv, bool causal, double scale, int queryBlock, int keyBlock)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Vector512.IsHardwareAccelerated)
            Backward<T, Vector512<T>, Simd512<T>>(n, q, k, v, o, lse, dO, dq, dk, dv, causal, scale, queryBlock, keyBlock);
        else if (Vector256.IsHardwareAccelerated)
            Backward<T, Vector256<T>, Simd256<T>>(n, q, k, v, o, lse, dO, dq, dk, dv, causal, scale, queryBlock, keyBlock);
        else
            Backward<T, Vector128<T>, Simd128<T>>(n, q, k, v, o, lse, dO, dq, dk, dv, causal, scale, queryBlock, keyBlock);
    }

    // ------------------------------------------------------------------------------------------------ forward

    private static void Forward<T, TV, TS>(AttentionSizes n, AttentionOperand q, AttentionOperand k, AttentionOperand v,
        T* o, T* lse, bool causal, double scale, int queryBlock, int keyBlock)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int heads = n.Batch * n.Heads, d = n.HeadDim, tq = n.QueryLength, tk = n.KeyLength;
        if (heads == 0 || tq == 0) return;
        int bq = queryBlock, bk = keyBlock, queryBlocks = (tq + bq - 1) / bq, offset = tk - tq;
        int ldS = RoundUp(bk, TS.Count);
        // Work item = (head, query block); its cost is the number of key blocks it visits.
        long KeyBlocksOf(int item)
        {
            int r0 = item % queryBlocks * bq, nr = Math.Min(bq, tq - r0);
            int keyEnd = causal ? Math.Min(tk, r0 + nr + offset) : tk;
            return (keyEnd + bk - 1) / bk;
        }
        int items = heads * queryBlocks;
        var bounds = Partition(items, KeyBlocksOf, PartCount(items, (long)heads * tq * tk * d));
        nint po = (nint)o, pl = (nint)lse;
        T sc = T.CreateTruncating(scale);
        CpuParallel.ForEach(bounds.Length - 1, part =>
        {
            if (bounds[part] == bounds[part + 1]) return;
            using var scratch = new Scratch<T>([d * ldS, bq * ldS, bq * d, bq, bq]);
            T* kt = scratch[0], s = scratch[1], acc = scratch[2], m = scratch[3], l = scratch[4];
            for (int item = bounds[part]; item < bounds[part + 1]; item++)
            {
                int head = item / queryBlocks, b = head / n.Heads, h = head % n.Heads;
                int r0 = item % queryBlocks * bq, nr = Math.Min(bq, tq - r0);
                int keyEnd = causal ? Math.Min(tk, r0 + nr + offset) : tk;
                T* qi = q.Head<T>(b, h) + r0 * q.TimeStride;
                T* kh = k.Head<T>(b, h), vh = v.Head<T>(b, h);
                for (int r = 0; r < nr; r++) (m[r], l[r]) = (T.NegativeInfinity, T.Zero);
                new Span<T>(acc, nr * d).Clear();
                for (int k0 = 0; k0 < keyEnd; k0 += bk)
                {
                    int nk = Math.Min(bk, keyEnd - k0), nkPad = RoundUp(nk, TS.Count);
                    PackTransposed(kh + k0 * k.TimeStride, (nint)k.TimeStride, nk, nkPad, d, kt, ldS);
                    // S [nr, nkPad] = Q_i [nr, d] · K_jᵀ [d, nkPad]
                    AttentionTiles.Multiply<T, TV, TS>(nr, nkPad, d, qi, (nint)q.TimeStride, 1, kt, ldS, s, ldS, accumulate: false);
                    bool cut = causal && k0 + nk - 1 > r0 + offset; // some row of the block cannot see the last key
                    for (int r = 0; r < nr; r++)
                    {
                        T* sr = s + r * ldS;
                        int visible = cut ? Math.Clamp(r0 + r + offset - k0 + 1, 0, nk) : nk;
                        if (visible == 0)
                        {
                            new Span<T>(sr, nk).Clear();
                            continue;
                        }
                        T rowMax = ScaleRowAndMax<T, TV, TS>(sr, visible, sc);
                        T mNew = T.Max(m[r], rowMax);
                        T sum = ExpRow<T, TV, TS>(sr, visible, mNew);
                        new Span<T>(sr + visible, nk - visible).Clear();
                        T alpha = T.Exp(m[r] - mNew); // 0 on the first visited block (m = −∞)
                        l[r] = l[r] * alpha + sum;
                        m[r] = mNew;
                        if (alpha != T.One) ScaleRow<T, TV, TS>(acc + r * d, d, alpha);
                    }
                    // acc [nr, d] += P [nr, nk] · V_j [nk, d]
                    AttentionTiles.Multiply<T, TV, TS>(nr, d, nk, s, ldS, 1, vh + k0 * v.TimeStride, (nint)v.TimeStride, acc, d, accumulate: true);
                }
                T* oi = (T*)po + ((nint)head * tq + r0) * d;
                T* li = (T*)pl + (nint)head * tq + r0;
                for (int r = 0; r < nr; r++)
                {
                    T inv = T.One / l[r];
                    ScaleCopy<T, TV, TS>(acc + r * d, oi + r * d, d, inv);
                    li[r] = m[r] + T.Log(l[r]);
                }
            }
        });
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
        int bq = queryBlock, bk = keyBlock, keyBlocks = (tk + bk - 1) / bk, queryBlocks = (tq + bq - 1) / bq;
        int offset = tk - tq, ldS = RoundUp(bk, TS.Count);
        T sc = T.CreateTruncating(scale);
        nint po = (nint)o, pl = (nint)lse, pdq = (nint)dq, pdk = (nint)dk, pdv = (nint)dv;

        // D [B·H·Tq] = rowsum(dO ⊙ O): the softmax-backward correction, once per row.
        using var rowDots = new Scratch<T>([heads * tq]);
        nint pD = (nint)rowDots[0];
        CpuParallel.For((long)heads * tq, Math.Max(1, (1 << 14) / Math.Max(d, 1)), (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                int head = (int)(row / tq), t = (int)(row % tq);
                T* g = dO.Head<T>(head / n.Heads, head % n.Heads) + t * dO.TimeStride;
                ((T*)pD)[row] = Dot<T, TV, TS>(g, (T*)po + row * d, d);
            }
        });

        int FirstQueryBlock(int keyBlock0) => causal ? Math.Max(0, keyBlock0 * bk - offset) / bq : 0;
        int items = heads * keyBlocks;
        var bounds = Partition(items, item => queryBlocks - FirstQueryBlock(item % keyBlocks), PartCount(items, (long)heads * tq * tk * d));
        int parts = bounds.Length - 1;
        // With several parts, each part accumulates dQ of the heads it touches ([firstHead, last]) in a private
        // buffer; a single part accumulates straight into dq.
        var firstHead = new int[parts];
        var privateDq = new Scratch<T>?[parts];
        try
        {
            for (int p = 0; p < parts && parts > 1; p++)
            {
                if (bounds[p] == bounds[p + 1]) continue;
                firstHead[p] = bounds[p] / keyBlocks;
                int lastHead = (bounds[p + 1] - 1) / keyBlocks;
                privateDq[p] = new Scratch<T>([(lastHead - firstHead[p] + 1) * tq * d]);
                new Span<T>(privateDq[p]![0], (lastHead - firstHead[p] + 1) * tq * d).Clear();
            }
            CpuParallel.ForEach(parts, part =>
            {
                if (bounds[part] == bounds[part + 1]) return;
                using var scratch = new Scratch<T>([d * ldS, d * ldS, bq * ldS, bq * ldS, bk * d, bk * d]);
                T* kt = scratch[0], vt = scratch[1], p = scratch[2], ds = scratch[3], dkAcc = scratch[4], dvAcc = scratch[5];
                T* dqBase = privateDq[part] is { } priv ? priv[0] - (nint)firstHead[part] * tq * d : (T*)pdq;
                for (int item = bounds[part]; item < bounds[part + 1]; item++)
                {
                    int head = item / keyBlocks, b = head / n.Heads, h = head % n.Heads;
                    int k0 = item % keyBlocks * bk, nk = Math.Min(bk, tk - k0), nkPad = RoundUp(nk, TS.Count);
                    T* qh = q.Head<T>(b, h), kj = k.Head<T>(b, h) + k0 * k.TimeStride, vj = v.Head<T>(b, h) + k0 * v.TimeStride;
                    T* gh = dO.Head<T>(b, h);
                    T* lh = (T*)pl + (nint)head * tq, dh = (T*)pD + (nint)head * tq;
                    T* dqh = dqBase + (nint)head * tq * d;
                    PackTransposed(kj, (nint)k.TimeStride, nk, nkPad, d, kt, ldS);
                    PackTransposed(vj, (nint)v.TimeStride, nk, nkPad, d, vt, ldS);
                    new Span<T>(dkAcc, nk * d).Clear();
                    new Span<T>(dvAcc, nk * d).Clear();
                    for (int q0 = FirstQueryBlock(k0 / bk) * bq; q0 < tq; q0 += bq)
                    {
                        int nr = Math.Min(bq, tq - q0);
                        T* qi = qh + q0 * q.TimeStride, gi = gh + q0 * dO.TimeStride;
                        // P [nr, nkPad] = exp(scale·Q_i·K_jᵀ − LSE_i), zero where masked
                        AttentionTiles.Multiply<T, TV, TS>(nr, nkPad, d, qi, (nint)q.TimeStride, 1, kt, ldS, p, ldS, accumulate: false);
                        bool cut = causal && k0 + nk - 1 > q0 + offset;
                        for (int r = 0; r < nr; r++)
                        {
                            T* pr = p + r * ldS;
                            int visible = cut ? Math.Clamp(q0 + r + offset - k0 + 1, 0, nk) : nk;
                            ExpShiftedRow<T, TV, TS>(pr, visible, sc, lh[q0 + r]);
                            new Span<T>(pr + visible, nkPad - visible).Clear();
                        }
                        // dV_j [nk, d] += Pᵀ [nk, nr] · dO_i [nr, d]
                        AttentionTiles.Multiply<T, TV, TS>(nk, d, nr, p, 1, ldS, gi, (nint)dO.TimeStride, dvAcc, d, accumulate: true);
                        // dP [nr, nkPad] = dO_i [nr, d] · V_jᵀ [d, nkPad]
                        AttentionTiles.Multiply<T, TV, TS>(nr, nkPad, d, gi, (nint)dO.TimeStride, 1, vt, ldS, ds, ldS, accumulate: false);
                        // dS = P ⊙ (dP − D)·scale (the scale of S = scale·QKᵀ folded in here once)
                        for (int r = 0; r < nr; r++)
                            SoftmaxGradRow<T, TV, TS>(p + r * ldS, ds + r * ldS, nkPad, dh[q0 + r], sc);
                        // dK_j [nk, d] += dSᵀ [nk, nr] · Q_i [nr, d]
                        AttentionTiles.Multiply<T, TV, TS>(nk, d, nr, ds, 1, ldS, qi, (nint)q.TimeStride, dkAcc, d, accumulate: true);
                        // dQ_i [nr, d] += dS [nr, nk] · K_j [nk, d]
                        AttentionTiles.Multiply<T, TV, TS>(nr, d, nk, ds, ldS, 1, kj, (nint)k.TimeStride, dqh + (nint)q0 * d, d, accumulate: true);
                    }
                    new Span<T>(dkAcc, nk * d).CopyTo(new Span<T>((T*)pdk + ((nint)head * tk + k0) * d, nk * d));
                    new Span<T>(dvAcc, nk * d).CopyTo(new Span<T>((T*)pdv + ((nint)head * tk + k0) * d, nk * d));
                }
            });
            if (parts > 1)
            {
                // dQ = Σ over the parts that touched each head of their private accumulators.
                CpuParallel.ForEach(heads, head =>
                {
                    T* target = (T*)pdq + (nint)head * tq * d;
                    for (int p = 0; p < parts; p++)
                    {
                        if (privateDq[p] is not { } priv || head < firstHead[p] || head > (bounds[p + 1] - 1) / keyBlocks) continue;
                        AddInto<T, TV, TS>(priv[0] + (nint)(head - firstHead[p]) * tq * d, target, tq * d);
                    }
                });
            }
        }
        finally
        {
            foreach (var priv in privateDq) priv?.Dispose();
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /// <summary>dst[i, c] = src[c, i] for c &lt; rows (src rows strided), zero for rows ≤ c &lt; padded: a block of
    /// keys or values [rows, d] becomes [d, padded] so that products with it stream unit-stride rows.</summary>
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

    /// <summary>row[c] *= scale for c &lt; n; returns the largest scaled value.</summary>
    private static T ScaleRowAndMax<T, TV, TS>(T* row, int n, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, c = 0;
        T max = T.NegativeInfinity;
        if (n >= w)
        {
            TV vs = TS.Splat(scale), vm = TS.Splat(T.NegativeInfinity);
            for (; c + w <= n; c += w)
            {
                TV x = TS.Mul(TS.Load(row + c), vs);
                TS.Store(x, row + c);
                vm = TS.Max(vm, x);
            }
            max = TS.MaxAcross(vm);
        }
        for (; c < n; c++)
        {
            row[c] *= scale;
            max = T.Max(max, row[c]);
        }
        return max;
    }

    /// <summary>row[c] = exp(row[c] − shift) for c &lt; n; returns their sum.</summary>
    private static T ExpRow<T, TV, TS>(T* row, int n, T shift)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, c = 0;
        T sum = T.Zero;
        if (n >= w)
        {
            TV vShift = TS.Splat(shift), acc = TS.Zero;
            for (; c + w <= n; c += w)
            {
                TV e = TS.Exp(TS.Sub(TS.Load(row + c), vShift));
                TS.Store(e, row + c);
                acc = TS.Add(acc, e);
            }
            sum = TS.Sum(acc);
        }
        for (; c < n; c++)
        {
            row[c] = T.Exp(row[c] - shift);
            sum += row[c];
        }
        return sum;
    }

    /// <summary>row[c] = exp(scale·row[c] − lse) for c &lt; n (the recomputed softmax of backward).</summary>
    private static void ExpShiftedRow<T, TV, TS>(T* row, int n, T scale, T lse)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count, c = 0;
        TV vs = TS.Splat(scale), vl = TS.Splat(lse);
        for (; c + w <= n; c += w)
            TS.Store(TS.Exp(TS.Sub(TS.Mul(TS.Load(row + c), vs), vl)), row + c);
        for (; c < n; c++) row[c] = T.Exp(row[c] * scale - lse);
    }

    /// <summary>dp[c] = p[c]·(dp[c] − rowDot)·scale for c &lt; n.</summary>
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
