namespace Ttt.Cuda.Tests.Fused;

/// <summary>
/// Plain-loop float64 implementations of the math of every fused kernel (ptx/layernorm.cu, cross_entropy.cu,
/// embedding.cu, conv1d.cu, rope.cu, adamw.cu, attention.cu, mamba_scan.cu): the oracle the kernels are tested against.
/// Arrays are row-major. These are themselves checked against autograd of the composite ops (FusedReferenceTests).
/// For ttt_dual.cu the oracle is the composed analytic dual form in float64, differentiated by autograd
/// (<see cref="TttDualScan"/>), whose equality with the autograd inner loop the layer tests check.
/// </summary>
internal static class FusedReference
{
    /// <summary>LayerNorm over rows of x [rows, dim]: y, mean, rstd (biased variance).</summary>
    public static (double[] Y, double[] Mean, double[] Rstd) LayerNorm(double[] x, int rows, int dim, double[]? w, double[]? b, double eps)
    {
        var y = new double[x.Length];
        var mean = new double[rows];
        var rstd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double mu = 0;
            for (int j = 0; j < dim; j++) mu += x[r * dim + j];
            mu /= dim;
            double v = 0;
            for (int j = 0; j < dim; j++) v += (x[r * dim + j] - mu) * (x[r * dim + j] - mu);
            v /= dim;
            double rs = 1 / Math.Sqrt(v + eps);
            for (int j = 0; j < dim; j++)
                y[r * dim + j] = (x[r * dim + j] - mu) * rs * (w?[j] ?? 1) + (b?[j] ?? 0);
            mean[r] = mu;
            rstd[r] = rs;
        }
        return (y, mean, rstd);
    }

    /// <summary>LayerNorm backward: dx, dweight (when w is given), dbias (when asked).</summary>
    public static (double[] Dx, double[]? Dw, double[]? Db) LayerNormBackward(double[] dy, double[] x, double[]? w, double[] mean,
        double[] rstd, int rows, int dim, bool withBias)
    {
        var dx = new double[x.Length];
        var dw = w is null ? null : new double[dim];
        var db = withBias ? new double[dim] : null;
        for (int r = 0; r < rows; r++)
        {
            double mg = 0, mgx = 0;
            for (int j = 0; j < dim; j++)
            {
                double g = dy[r * dim + j] * (w?[j] ?? 1);
                double xh = (x[r * dim + j] - mean[r]) * rstd[r];
                mg += g;
                mgx += g * xh;
                if (dw is not null) dw[j] += dy[r * dim + j] * xh;
                if (db is not null) db[j] += dy[r * dim + j];
            }
            mg /= dim;
            mgx /= dim;
            for (int j = 0; j < dim; j++)
            {
                double g = dy[r * dim + j] * (w?[j] ?? 1);
                double xh = (x[r * dim + j] - mean[r]) * rstd[r];
                dx[r * dim + j] = rstd[r] * (g - mg - xh * mgx);
            }
        }
        return (dx, dw, db);
    }

    /// <summary>RMSNorm over rows: y and rstd.</summary>
    public static (double[] Y, double[] Rstd) RmsNorm(double[] x, int rows, int dim, double[]? w, double eps)
    {
        var y = new double[x.Length];
        var rstd = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int j = 0; j < dim; j++) ms += x[r * dim + j] * x[r * dim + j];
            double rs = 1 / Math.Sqrt(ms / dim + eps);
            for (int j = 0; j < dim; j++) y[r * dim + j] = x[r * dim + j] * rs * (w?[j] ?? 1);
            rstd[r] = rs;
        }
        return (y, rstd);
    }

    /// <summary>RMSNorm backward: dx and dweight (when w is given).</summary>
    public static (double[] Dx, double[]? Dw) RmsNormBackward(double[] dy, double[] x, double[]? w, double[] rstd, int rows, int dim)
    {
        var dx = new double[x.Length];
        var dw = w is null ? null : new double[dim];
        for (int r = 0; r < rows; r++)
        {
            double mgx = 0;
            for (int j = 0; j < dim; j++) mgx += dy[r * dim + j] * (w?[j] ?? 1) * x[r * dim + j];
            mgx /= dim;
            for (int j = 0; j < dim; j++)
            {
                double g = dy[r * dim + j] * (w?[j] ?? 1);
                dx[r * dim + j] = rstd[r] * (g - x[r * dim + j] * rstd[r] * rstd[r] * mgx);
                if (dw is not null) dw[j] += dy[r * dim + j] * x[r * dim + j] * rstd[r];
            }
        }
        return (dx, dw);
    }

    /// <summary>Per-row cross-entropy loss (0 for ignored targets) and logsumexp.</summary>
    public static (double[] Loss, double[] Lse) CrossEntropy(double[] logits, long[] targets, int classes, long ignoreIndex)
    {
        int rows = targets.Length;
        var loss = new double[rows];
        var lse = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double m = double.NegativeInfinity;
            for (int j = 0; j < classes; j++) m = Math.Max(m, logits[r * classes + j]);
            double s = 0;
            for (int j = 0; j < classes; j++) s += Math.Exp(logits[r * classes + j] - m);
            lse[r] = m + Math.Log(s);
            loss[r] = targets[r] == ignoreIndex ? 0 : lse[r] - logits[r * classes + targets[r]];
        }
        return (loss, lse);
    }

    /// <summary>dlogits = dloss·(softmax − onehot), 0 on ignored rows.</summary>
    public static double[] CrossEntropyBackward(double[] logits, long[] targets, double[] lse, double[] dloss, int classes, long ignoreIndex)
    {
        var d = new double[logits.Length];
        for (int r = 0; r < targets.Length; r++)
        {
            if (targets[r] == ignoreIndex) continue;
            for (int j = 0; j < classes; j++)
                d[r * classes + j] = dloss[r] * (Math.Exp(logits[r * classes + j] - lse[r]) - (j == targets[r] ? 1 : 0));
        }
        return d;
    }

    /// <summary>Rows of the table picked by ids.</summary>
    public static double[] Embedding(long[] ids, double[] table, int dim)
    {
        var y = new double[ids.Length * dim];
        for (int i = 0; i < ids.Length; i++)
            for (int j = 0; j < dim; j++) y[i * dim + j] = table[ids[i] * dim + j];
        return y;
    }

    /// <summary>dtable: dy rows added at their ids.</summary>
    public static double[] EmbeddingBackward(long[] ids, double[] dy, int vocab, int dim)
    {
        var d = new double[vocab * dim];
        for (int i = 0; i < ids.Length; i++)
            for (int j = 0; j < dim; j++) d[ids[i] * dim + j] += dy[i * dim + j];
        return d;
    }

    /// <summary>Causal depthwise conv1d: x [B, T, C], w [C, W], bias [C] or null.</summary>
    public static double[] Conv1d(double[] x, double[] w, double[]? bias, int batch, int time, int channels, int width)
    {
        var y = new double[x.Length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < time; t++)
                for (int c = 0; c < channels; c++)
                {
                    double acc = bias?[c] ?? 0;
                    for (int k = 0; k < width; k++)
                    {
                        int s = t - (width - 1) + k;
                        if (s >= 0) acc += w[c * width + k] * x[(b * time + s) * channels + c];
                    }
                    y[(b * time + t) * channels + c] = acc;
                }
        return y;
    }

    /// <summary>Conv1d backward: dx, dw [C, W], dbias [C].</summary>
    public static (double[] Dx, double[] Dw, double[] Db) Conv1dBackward(double[] dy, double[] x, double[] w, int batch, int time, int channels, int width)
    {
        var dx = new double[x.Length];
        var dw = new double[channels * width];
        var db = new double[channels];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < time; t++)
                for (int c = 0; c < channels; c++)
                {
                    double g = dy[(b * time + t) * channels + c];
                    db[c] += g;
                    for (int k = 0; k < width; k++)
                    {
                        int s = t - (width - 1) + k;
                        if (s < 0) continue;
                        dw[c * width + k] += g * x[(b * time + s) * channels + c];
                        dx[(b * time + s) * channels + c] += g * w[c * width + k];
                    }
                }
        return (dx, dw, db);
    }

    /// <summary>Interleaved-pair rotary embedding of a row-major tensor of <paramref name="shape"/>.</summary>
    public static double[] Rope(double[] x, int[] shape, int timeDim, double theta, long[]? positions, bool inverse)
    {
        int d = shape[^1];
        long timeStride = 1;
        for (int k = timeDim + 1; k < shape.Length; k++) timeStride *= shape[k];
        int time = shape[timeDim];
        var y = new double[x.Length];
        for (long e = 0; e < x.Length; e += 2)
        {
            long i = e % d / 2;
            long t = e / timeStride % time;
            double pos = positions?[t] ?? t;
            double angle = pos * Math.Pow(theta, -2.0 * i / d);
            double sn = Math.Sin(angle), cs = Math.Cos(angle);
            if (inverse) sn = -sn;
            y[e] = x[e] * cs - x[e + 1] * sn;
            y[e + 1] = x[e] * sn + x[e + 1] * cs;
        }
        return y;
    }

    /// <summary>One AdamW step in place (decoupled weight decay on the pre-step parameter).</summary>
    public static void AdamW(double[] p, double[] g, double[] m, double[] v, long step, double lr, double beta1, double beta2, double eps, double wd)
    {
        double bc1 = 1 - Math.Pow(beta1, step), bc2 = 1 - Math.Pow(beta2, step);
        for (int i = 0; i < p.Length; i++)
        {
            p[i] -= lr * wd * p[i];
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            p[i] -= lr * (m[i] / bc1) / (Math.Sqrt(v[i] / bc2) + eps);
        }
    }

    /// <summary>
    /// Softmax attention per (batch, head) on dense q [B, H, Tq, d], k and v [B, H, Tk, d] (flattened): o and the row
    /// log-sum-exp of scale·q·kᵀ; with <paramref name="causal"/> query i sees keys j ≤ i + Tk − Tq.
    /// </summary>
    public static (double[] O, double[] Lse) Attention(double[] q, double[] k, double[] v, int bh, int tq, int tk, int d, bool causal, double scale)
    {
        var o = new double[bh * tq * d];
        var lse = new double[bh * tq];
        for (int x = 0; x < bh; x++)
            for (int i = 0; i < tq; i++)
            {
                var p = Probabilities(q, k, x, i, tq, tk, d, causal, scale, out double l);
                lse[x * tq + i] = l;
                for (int j = 0; j < tk; j++)
                    for (int c = 0; c < d; c++) o[(x * tq + i) * d + c] += p[j] * v[(x * tk + j) * d + c];
            }
        return (o, lse);
    }

    /// <summary>dq, dk, dv of <see cref="Attention"/> for the output gradient g: dv = Pᵀg, dS = P ⊙ (g·vᵀ − rowsum(g ⊙ o)), dq = scale·dS·k, dk = scale·dSᵀ·q.</summary>
    public static (double[] Dq, double[] Dk, double[] Dv) AttentionBackward(double[] q, double[] k, double[] v, double[] g, int bh, int tq, int tk,
        int d, bool causal, double scale)
    {
        var (o, _) = Attention(q, k, v, bh, tq, tk, d, causal, scale);
        var dq = new double[q.Length];
        var dk = new double[k.Length];
        var dv = new double[v.Length];
        for (int x = 0; x < bh; x++)
            for (int i = 0; i < tq; i++)
            {
                var p = Probabilities(q, k, x, i, tq, tk, d, causal, scale, out _);
                double di = 0;
                for (int c = 0; c < d; c++) di += g[(x * tq + i) * d + c] * o[(x * tq + i) * d + c];
                for (int j = 0; j < tk; j++)
                {
                    if (p[j] == 0) continue;
                    double dp = 0;
                    for (int c = 0; c < d; c++) dp += g[(x * tq + i) * d + c] * v[(x * tk + j) * d + c];
                    double ds = p[j] * (dp - di) * scale;
                    for (int c = 0; c < d; c++)
                    {
                        dv[(x * tk + j) * d + c] += p[j] * g[(x * tq + i) * d + c];
                        dq[(x * tq + i) * d + c] += ds * k[(x * tk + j) * d + c];
                        dk[(x * tk + j) * d + c] += ds * q[(x * tq + i) * d + c];
                    }
                }
            }
        return (dq, dk, dv);
    }

    private static double[] Probabilities(double[] q, double[] k, int x, int i, int tq, int tk, int d, bool causal, double scale, out double lse)
    {
        var s = new double[tk];
        double m = double.NegativeInfinity;
        for (int j = 0; j < tk; j++)
        {
            if (causal && j > i + tk - tq)
            {
                s[j] = double.NegativeInfinity;
                continue;
            }
            double acc = 0;
            for (int c = 0; c < d; c++) acc += q[(x * tq + i) * d + c] * k[(x * tk + j) * d + c];
            s[j] = scale * acc;
            m = Math.Max(m, s[j]);
        }
        double sum = 0;
        for (int j = 0; j < tk; j++) sum += s[j] == double.NegativeInfinity ? 0 : Math.Exp(s[j] - m);
        lse = m + Math.Log(sum);
        var p = new double[tk];
        for (int j = 0; j < tk; j++) p[j] = s[j] == double.NegativeInfinity ? 0 : Math.Exp(s[j] - m) / sum;
        return p;
    }

    /// <summary>
    /// The Mamba-1 selective scan (ptx/mamba_scan.cu) on dense u, Δ [B, L, E]; A [E, N]; B, C [B, L, N]; D [E]:
    /// h_t = exp(Δ_t·A) ⊙ h_{t−1} + Δ_t·u_t·B_t, y_t = C_t·h_t + D·u_t. Returns y [B, L, E] and h_L [B, E, N].
    /// </summary>
    public static (double[] Y, double[] Last) SelectiveScan(double[] u, double[] delta, double[] a, double[] b, double[] c, double[] d,
        int batch, int len, int ch, int states)
    {
        var y = new double[batch * len * ch];
        var last = new double[batch * ch * states];
        for (int bi = 0; bi < batch; bi++)
            for (int e = 0; e < ch; e++)
            {
                var h = new double[states];
                for (int t = 0; t < len; t++)
                {
                    int r = bi * len + t;
                    double dt = delta[r * ch + e], uu = u[r * ch + e], acc = 0;
                    for (int n = 0; n < states; n++)
                    {
                        h[n] = Math.Exp(dt * a[e * states + n]) * h[n] + dt * uu * b[r * states + n];
                        acc += c[r * states + n] * h[n];
                    }
                    y[r * ch + e] = acc + d[e] * uu;
                }
                Array.Copy(h, 0, last, (bi * ch + e) * states, states);
            }
        return (y, last);
    }

    /// <summary>du, dΔ, dA, dB, dC, dD of <see cref="SelectiveScan"/> for the output gradient dy (reverse-time recurrence
    /// over stored states).</summary>
    public static double[][] SelectiveScanBackward(double[] u, double[] delta, double[] a, double[] b, double[] c, double[] d, double[] dy,
        int batch, int len, int ch, int states)
    {
        var du = new double[u.Length];
        var dDelta = new double[u.Length];
        var dA = new double[a.Length];
        var dB = new double[b.Length];
        var dC = new double[c.Length];
        var dD = new double[d.Length];
        for (int bi = 0; bi < batch; bi++)
            for (int e = 0; e < ch; e++)
            {
                var hs = new double[len + 1, states]; // hs[t + 1] = h_t, hs[0] = 0
                for (int t = 0; t < len; t++)
                {
                    int r = bi * len + t;
                    for (int n = 0; n < states; n++)
                        hs[t + 1, n] = Math.Exp(delta[r * ch + e] * a[e * states + n]) * hs[t, n] + delta[r * ch + e] * u[r * ch + e] * b[r * states + n];
                }
                var dh = new double[states];
                for (int t = len - 1; t >= 0; t--)
                {
                    int r = bi * len + t;
                    double dt = delta[r * ch + e], uu = u[r * ch + e], g = dy[r * ch + e];
                    du[r * ch + e] += g * d[e];
                    dD[e] += g * uu;
                    for (int n = 0; n < states; n++)
                    {
                        double an = a[e * states + n], decay = Math.Exp(dt * an), hp = hs[t, n];
                        dh[n] += g * c[r * states + n];
                        dC[r * states + n] += g * hs[t + 1, n];
                        dB[r * states + n] += dh[n] * dt * uu;
                        dDelta[r * ch + e] += dh[n] * (an * decay * hp + uu * b[r * states + n]);
                        du[r * ch + e] += dh[n] * dt * b[r * states + n];
                        dA[e * states + n] += dh[n] * dt * decay * hp;
                        dh[n] *= decay;
                    }
                }
            }
        return [du, dDelta, dA, dB, dC, dD];
    }

    /// <summary>
    /// The TTT dual-form scan (ptx/ttt_dual.cu) composed from the inner model's analytic mini-batch
    /// (<see cref="Ttt.Models.InnerModel.DualMiniBatch"/>, float64 on the CPU, ⌊T/K⌋ mini-batches and a remainder with
    /// τ[:T mod K]) and differentiated by autograd: returns [output, final state…] and the gradients of
    /// Σᵢ Σ(outputᵢ ⊙ weightsᵢ) with respect to θ₀…, q, k, v, lr, τ, γ, β. θ₀ are [B, H, …].
    /// </summary>
    public static (Tensor[] Outputs, Tensor[] Grads) TttDualScan(Ttt.Models.InnerModel inner, Tensor[] inputs, Tensor[] weights)
    {
        var leaves = inputs.Select(t => t.To(DType.Float64).To(Device.Cpu).Detach().RequireGrad()).ToArray();
        int s = leaves.Length - 7;
        var (q, k, v, lr, tau, gamma, beta) = (leaves[s], leaves[s + 1], leaves[s + 2], leaves[s + 3], leaves[s + 4], leaves[s + 5], leaves[s + 6]);
        int t = q.Shape[2], kLen = tau.Shape[0];
        IReadOnlyList<Tensor> state = leaves[..s];
        var outputs = new List<Tensor>();
        for (int start = 0; start < t; start += kLen)
        {
            int len = Math.Min(kLen, t - start);
            var tauM = tau.Narrow(0, 0, len);
            var eta = tauM.Reshape(1, 1, len, 1) * lr.Narrow(2, start, len).Unsqueeze(2);
            var (o, st) = inner.DualMiniBatch(state, q.Narrow(2, start, len), k.Narrow(2, start, len), v.Narrow(2, start, len), eta, gamma, beta)!.Value;
            outputs.Add(o);
            state = st;
        }
        Tensor[] all = [Tensor.Cat(outputs, 2), .. state];
        var loss = all.Select((o, i) => (o * weights[i].To(DType.Float64).To(Device.Cpu)).Sum()).Aggregate((a, b) => a + b);
        return (all.Select(o => o.Detach()).ToArray(), Autograd.Grad([loss], leaves));
    }
}
