namespace Ttt;

/// <summary>
/// Activation checkpointing: runs a function without recording its graph and recomputes it during backward.
/// Memory then holds only the function's inputs, at the price of one more forward pass. The recomputation is
/// differentiated with the same engine, so checkpointed functions also support <c>createGraph</c>.
/// </summary>
public static class Checkpoint
{
    /// <summary>
    /// Computes <paramref name="f"/>(<paramref name="inputs"/>) now, recording a single node whose backward
    /// recomputes f with graph recording on and differentiates it. f must be deterministic.
    /// </summary>
    public static Tensor[] Run(Func<Tensor[], Tensor[]> f, Tensor[] inputs)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(inputs);
        if (!GradMode.IsEnabled || !inputs.Any(t => t.RequiresGrad)) return f(inputs);
        Tensor[] outputs;
        using (GradMode.Disable()) outputs = f(inputs);
        if (outputs.Length == 0) return outputs;
        // One node must produce one tensor: pack the outputs into a flat buffer and hand out views of it.
        var shapes = outputs.Select(o => o.ShapeArray()).ToArray();
        var dtype = outputs[0].DType;
        if (outputs.Any(o => o.DType != dtype))
            throw new ArgumentException("checkpoint: every output must have the same dtype");
        Tensor flat;
        using (GradMode.Disable()) flat = Tensor.Cat(outputs.Select(o => o.Reshape(-1)).ToArray(), 0);
        flat.AttachGradFn(new CheckpointNode(f, inputs, shapes));
        var views = new Tensor[outputs.Length];
        int offset = 0;
        for (int i = 0; i < outputs.Length; i++)
        {
            int n = (int)ShapeUtil.Numel(shapes[i]);
            views[i] = flat.Narrow(0, offset, n).Reshape(shapes[i]);
            offset += n;
        }
        return views;
    }

    private sealed class CheckpointNode : GradNode
    {
        private readonly Func<Tensor[], Tensor[]> _f;
        private readonly SavedTensor[] _inputs;
        private readonly bool[] _requiresGrad;
        private readonly int[][] _shapes;

        public CheckpointNode(Func<Tensor[], Tensor[]> f, Tensor[] inputs, int[][] shapes) : base("checkpoint", inputs)
        {
            _f = f;
            _inputs = inputs.Select(Save).ToArray();
            _requiresGrad = inputs.Select(t => t.RequiresGrad).ToArray();
            _shapes = shapes;
        }

        protected internal override Tensor?[] Backward(Tensor grad, bool[] needsGrad)
        {
            bool createGraph = GradMode.IsEnabled;
            var originals = _inputs.Select(s => s.Value).ToArray();
            // Recompute with recording on. Inputs that need gradients enter as differentiable aliases of the
            // originals when a graph of the backward is wanted (so higher-order gradients reach them), else as
            // fresh leaves.
            Tensor[] replay;
            Tensor[] outputs;
            using (GradMode.Enable())
            {
                replay = originals.Select((t, i) => !_requiresGrad[i] ? t.Detach()
                    : createGraph ? t.Alias() : t.Detach().RequireGrad()).ToArray();
                outputs = _f(replay);
            }
            var gradOutputs = new List<Tensor?>();
            var differentiable = new List<Tensor>();
            int offset = 0;
            for (int i = 0; i < outputs.Length; i++)
            {
                int n = (int)ShapeUtil.Numel(_shapes[i]);
                if (outputs[i].RequiresGrad)
                {
                    differentiable.Add(outputs[i]);
                    gradOutputs.Add(grad.Narrow(0, offset, n).Reshape(_shapes[i]));
                }
                offset += n;
            }
            var wanted = Enumerable.Range(0, replay.Length).Where(i => needsGrad[i] && _requiresGrad[i]).ToArray();
            var result = new Tensor?[replay.Length];
            if (differentiable.Count == 0 || wanted.Length == 0) return result;
            var grads = Autograd.Grad(differentiable, wanted.Select(i => replay[i]).ToArray(), gradOutputs, createGraph: createGraph);
            for (int j = 0; j < wanted.Length; j++) result[wanted[j]] = grads[j];
            return result;
        }
    }
}
