namespace Ttt.Models;

/// <summary>How a TTT layer computes its inner loop over a mini-batch.</summary>
public enum InnerLoopMode
{
    /// <summary>The analytic dual form (spec §1.7/§1.8) when the inner model has one, else <see cref="Autograd"/>.</summary>
    Dual,
    /// <summary>
    /// The inner gradient of the reconstruction loss from autograd (<c>createGraph: true</c>), applied with the
    /// learning-rate matrix to per-token states W_i = W − Σ_{j≤i} E[i, j]·∇ℓ_j. Works for any inner model.
    /// </summary>
    Autograd,
}

/// <summary>The mini-batch step of the inner loop (spec §1.7), in dual or autograd form, for any inner model.</summary>
internal static class InnerLoop
{
    /// <summary>
    /// One mini-batch: Q, K, V [B, H, k, d], E [B, H, k, k], γ/β [H, d], θᵢ [B, H, shapeᵢ] →
    /// (f(q_i; θ_i) [B, H, k, d], θ_{k−1}).
    /// </summary>
    public static (Tensor Output, Tensor[] State) MiniBatch(InnerModel model, InnerLoopMode mode, IReadOnlyList<Tensor> theta,
        Tensor q, Tensor k, Tensor v, Tensor eta, Tensor gamma, Tensor beta, InnerObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        objective ??= InnerObjective.Official;
        if (mode == InnerLoopMode.Dual && model.DualMiniBatch(theta, q, k, v, eta, gamma, beta, objective) is { } dual) return dual;
        var grads = AutogradTokenGradients(model, theta, k, objective.Target(k, v), gamma, beta, objective);
        return ApplyTokenGradients(model, theta, grads, q, eta, gamma, beta, objective);
    }

    /// <summary>
    /// Per-token gradients ∇θ ℓ_j(θ) of ℓ_j = ½‖LN(f_res(k_j; θ)) − target_j‖² from autograd: θ is replicated once per
    /// token (a broadcast view, no copy) so one backward pass yields every token's own gradient, [B, H, N, shapeᵢ].
    /// When the caller records a graph, the gradients are recorded too (createGraph), so the outer loss can be
    /// differentiated through them.
    /// </summary>
    public static Tensor[] AutogradTokenGradients(InnerModel model, IReadOnlyList<Tensor> theta, Tensor k, Tensor target, Tensor gamma, Tensor beta, InnerObjective? objective = null)
    {
        objective ??= InnerObjective.Official;
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(theta);
        bool outer = GradMode.IsEnabled;
        int b = k.Shape[0], h = k.Shape[1], n = k.Shape[2];
        Tensor[] perToken;
        Tensor loss;
        using (GradMode.Enable())
        {
            perToken = theta.Select(t =>
            {
                var leaf = outer && t.RequiresGrad ? t : t.Detach().RequireGrad();
                return leaf.Unsqueeze(2).Expand([b, h, n, .. t.Shape[2..]]);
            }).ToArray();
            var pred = model.Forward(perToken, (outer ? k : k.Detach()).Unsqueeze(3));       // [B,H,N,1,d]
            var diff = objective.Head(pred, outer ? gamma : gamma.Detach(), outer ? beta : beta.Detach()) - (outer ? target : target.Detach()).Unsqueeze(3);
            loss = (diff * diff).Sum() * 0.5;
        }
        return Autograd.Grad([loss], perToken, createGraph: outer);
    }

    /// <summary>
    /// The primal update from per-token gradients gⱼ [B, H, k, shape]: θ_i = θ − Σ_{j≤i} E[i, j]·g_j for every
    /// row i, then outputs q_i + LN(f_res(q_i; θ_i)) and the carried state θ_{k−1}.
    /// </summary>
    public static (Tensor Output, Tensor[] State) ApplyTokenGradients(InnerModel model, IReadOnlyList<Tensor> theta, IReadOnlyList<Tensor> grads,
        Tensor q, Tensor eta, Tensor gamma, Tensor beta, InnerObjective? objective = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(theta);
        ArgumentNullException.ThrowIfNull(grads);
        int b = q.Shape[0], h = q.Shape[1], n = q.Shape[2];
        var etaTril = eta.Tril();
        var rows = new Tensor[theta.Count];
        for (int i = 0; i < theta.Count; i++)
        {
            var shape = theta[i].Shape[2..].ToArray();
            var flat = grads[i].Reshape(b, h, n, -1);                               // [B,H,k,P]
            var update = Tensor.Matmul(etaTril, flat).Reshape([b, h, n, .. shape]); // Σ_j E[i,j] g_j
            rows[i] = theta[i].Unsqueeze(2) - update;                                // [B,H,k,shape]
        }
        var z = model.Forward(rows, q.Unsqueeze(3)).Squeeze(3);                      // [B,H,k,d]
        var output = (objective ?? InnerObjective.Official).Output(q, z, gamma, beta);
        return (output, rows.Select(r => r.Select(2, n - 1)).ToArray());
    }
}
