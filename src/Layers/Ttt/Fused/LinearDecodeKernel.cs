using System.Numerics;
using System.Runtime.CompilerServices;
using Ttt.Cpu;

namespace Ttt.Models.Fused;

/// <summary>
/// One decoding token of TTT-Linear in the primal form (spec §1.11), fused per (batch, head) on the CPU:
/// z = k·W + b; ∇ = LNL2Grad(z, target) (or z − target without the LayerNorm); S_W += lr·kᵀ∇, S_b += lr·∇ (in place);
/// z_q = q·(W − τ·S_W) + (b − τ·S_b); out = [q +] [LN](z_q). θ = W − τ·S is written only at the end of a mini-batch,
/// when it becomes the next start state. The composed path (<see cref="TTTLayer"/>'s PrimalToken) builds the same
/// quantities from about thirty tensor ops, several of them [B, H, d, d], per layer and token; this does one pass
/// over W and S per head. Inference only (no autograd); the composed path stays the reference and the fallback.
/// </summary>
internal static unsafe class LinearDecodeKernel
{
    /// <summary>
    /// Runs the token. start: W [B, H, d, d] (+ b [B, H, 1, d]); accum: S, same shapes, contiguous, updated in place;
    /// q, k, v [B, H, 1, d]; lr [B, H, 1]; gamma, beta [H, d]. Returns the output [B, H, 1, d] and, when
    /// <paramref name="endOfMiniBatch"/>, the new start state (else null).
    /// </summary>
    public static (Tensor Output, Tensor[]? NewStart) Step(Tensor[] start, Tensor[] accum, Tensor q, Tensor k, Tensor v, Tensor lr,
        double tau, Tensor gamma, Tensor beta, InnerObjective objective, bool endOfMiniBatch)
    {
        var w = start[0].Contiguous();
        var bias = start.Length > 1 ? start[1].Contiguous() : null;
        var (qc, kc, vc, lc) = (q.Contiguous(), k.Contiguous(), v.Contiguous(), lr.Contiguous());
        var (gc, bc) = (gamma.Contiguous(), beta.Contiguous());
        int batch = w.Shape[0], heads = w.Shape[1], d = w.Shape[3];
        var output = Tensor.Empty(q.Shape, q.DType, q.Device);
        Tensor[]? newStart = endOfMiniBatch ? [.. start.Select(s => Tensor.Empty(s.Shape, s.DType, s.Device))] : null;
        var job = new Job(w, bias, accum[0], accum.Length > 1 ? accum[1] : null, qc, kc, vc, lc, gc, bc, output,
            newStart?[0], newStart is { Length: > 1 } ? newStart[1] : null, tau, objective, heads, d);
        if (w.DType == DType.Float32) CpuParallel.For(batch * heads, 1, job.Run<float>);
        else CpuParallel.For(batch * heads, 1, job.Run<double>);
        GC.KeepAlive(job);
        return (output, newStart);
    }

    /// <summary>The tensors of one call (kept alive by this object while the threads use their addresses).</summary>
    private sealed class Job(Tensor w, Tensor? b, Tensor sw, Tensor? sb, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor gamma,
        Tensor beta, Tensor output, Tensor? newW, Tensor? newB, double tau, InnerObjective objective, int heads, int d)
    {
        public void Run<T>(long h0, long h1) where T : unmanaged, INumber<T>
        {
            T* pw = Ptr<T>(w), pb = Ptr<T>(b), psw = Ptr<T>(sw), psb = Ptr<T>(sb), pq = Ptr<T>(q), pk = Ptr<T>(k), pv = Ptr<T>(v);
            T* plr = Ptr<T>(lr), pg = Ptr<T>(gamma), pbe = Ptr<T>(beta), po = Ptr<T>(output), pnw = Ptr<T>(newW), pnb = Ptr<T>(newB);
            T* z = stackalloc T[d];
            T* grad = stackalloc T[d];
            for (long bh = h0; bh < h1; bh++)
            {
                int head = (int)(bh % heads);
                long mat = bh * d * d, row = bh * d;
                T* W = pw + mat, S = psw + mat, qv = pq + row, kv = pk + row, vv = pv + row, o = po + row;
                T* gam = pg + (long)head * d, bet = pbe + (long)head * d;
                // z = k·W + b
                RowTimesMatrix(kv, W, d, z);
                if (pb is not null) Axpy(T.One, pb + row, z, d);
                // ∇ℓ(z) against target = v − k (residual) or v
                for (int j = 0; j < d; j++) grad[j] = objective.Residual ? vv[j] - kv[j] : vv[j];
                if (objective.LayerNorm) LnL2Grad(z, grad, gam, bet, d);
                else for (int j = 0; j < d; j++) grad[j] = z[j] - grad[j];
                // S_W += lr·kᵀ∇ row by row, and z_q = q·(W − τ·S_W) accumulated in the same pass
                T rate = plr[bh], t = T.CreateTruncating(tau);
                new Span<T>(z, d).Clear();
                for (int i = 0; i < d; i++)
                {
                    T* sRow = S + (long)i * d, wRow = W + (long)i * d;
                    Axpy(rate * kv[i], grad, sRow, d);
                    Axpy(qv[i], wRow, z, d);
                    Axpy(-t * qv[i], sRow, z, d);
                    if (pnw is not null)
                    {
                        T* nRow = pnw + mat + (long)i * d;
                        for (int j = 0; j < d; j++) nRow[j] = wRow[j] - t * sRow[j];
                    }
                }
                if (pb is not null)
                {
                    T* sB = psb + row, bRow = pb + row;
                    Axpy(rate, grad, sB, d);
                    for (int j = 0; j < d; j++) z[j] += bRow[j] - t * sB[j];
                    if (pnb is not null) for (int j = 0; j < d; j++) pnb[row + j] = bRow[j] - t * sB[j];
                }
                // out = [q +] [LN](z_q)
                if (objective.LayerNorm) LayerNorm(z, gam, bet, d);
                for (int j = 0; j < d; j++) o[j] = objective.Residual ? qv[j] + z[j] : z[j];
                if (pnw is not null)
                {
                    // The mini-batch ends: θ became the start state, so S restarts from zero.
                    new Span<T>(S, d * d).Clear();
                    if (pb is not null) new Span<T>(psb + row, d).Clear();
                }
            }
            GC.KeepAlive(this);
        }
    }

    private static T* Ptr<T>(Tensor? t) where T : unmanaged =>
        t is null ? null : (T*)((CpuStorage)t.Storage).Pointer + t.Offset;

    /// <summary>y = x·M for a row x [d] and a row-major M [d, d].</summary>
    private static void RowTimesMatrix<T>(T* x, T* m, int d, T* y) where T : unmanaged, INumber<T>
    {
        new Span<T>(y, d).Clear();
        for (int i = 0; i < d; i++) Axpy(x[i], m + (long)i * d, y, d);
    }

    /// <summary>y[0..n) += a·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy<T>(T a, T* x, T* y, int n) where T : unmanaged, INumber<T>
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<T>(a);
            for (; j + Vector<T>.Count <= n; j += Vector<T>.Count)
                Unsafe.WriteUnaligned(y + j, Unsafe.ReadUnaligned<Vector<T>>(y + j) + va * Unsafe.ReadUnaligned<Vector<T>>(x + j));
        }
        for (; j < n; j++) y[j] += a * x[j];
    }

    /// <summary>
    /// In place: target → ∂ℓ/∂z of ℓ = ½‖γ⊙x̂ + β − target‖², x̂ = (z − μ)/s, s = √(σ² + eps) (TttMath.LnL2Grad).
    /// </summary>
    private static void LnL2Grad<T>(T* z, T* target, T* gamma, T* beta, int d) where T : unmanaged, INumber<T>
    {
        var (mu, s) = Moments(z, d);
        double sg = 0, sgx = 0;
        for (int j = 0; j < d; j++)
        {
            double xh = (double.CreateTruncating(z[j]) - mu) / s;
            double g = double.CreateTruncating(gamma[j]) * (double.CreateTruncating(gamma[j]) * xh + double.CreateTruncating(beta[j]) - double.CreateTruncating(target[j]));
            target[j] = T.CreateTruncating(g);
            sg += g;
            sgx += g * xh;
        }
        for (int j = 0; j < d; j++)
        {
            double xh = (double.CreateTruncating(z[j]) - mu) / s;
            target[j] = T.CreateTruncating((d * double.CreateTruncating(target[j]) - sg - xh * sgx) / (s * d));
        }
    }

    /// <summary>In place: z → γ⊙(z − μ)/s + β.</summary>
    private static void LayerNorm<T>(T* z, T* gamma, T* beta, int d) where T : unmanaged, INumber<T>
    {
        var (mu, s) = Moments(z, d);
        for (int j = 0; j < d; j++)
            z[j] = T.CreateTruncating(double.CreateTruncating(gamma[j]) * ((double.CreateTruncating(z[j]) - mu) / s) + double.CreateTruncating(beta[j]));
    }

    /// <summary>Mean and √(variance + eps) of z[0..d), in double.</summary>
    private static (double Mean, double Std) Moments<T>(T* z, int d) where T : unmanaged, INumber<T>
    {
        double sum = 0;
        for (int j = 0; j < d; j++) sum += double.CreateTruncating(z[j]);
        double mu = sum / d, sq = 0;
        for (int j = 0; j < d; j++)
        {
            double c = double.CreateTruncating(z[j]) - mu;
            sq += c * c;
        }
        return (mu, Math.Sqrt(sq / d + TttMath.LnEps));
    }
}
