namespace Ttt;

/// <summary>
/// Whether ops record the graph for autograd, per thread (on by default). Use <see cref="Disable"/> for a
/// no-grad scope: <c>using (GradMode.Disable()) { … }</c>.
/// </summary>
public static class GradMode
{
    [ThreadStatic] private static bool t_disabled;

    /// <summary>True when ops on tensors that require grad are recorded.</summary>
    public static bool IsEnabled => !t_disabled;

    /// <summary>Turns recording off until the returned scope is disposed.</summary>
    public static Scope Disable() => new(enabled: false);

    /// <summary>Turns recording on until the returned scope is disposed (used by backward with createGraph).</summary>
    public static Scope Enable() => new(enabled: true);

    /// <summary>Restores the previous grad mode when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly bool _previousDisabled;

        internal Scope(bool enabled)
        {
            _previousDisabled = t_disabled;
            t_disabled = !enabled;
        }

        /// <summary>Restores the previous mode.</summary>
        public void Dispose() => t_disabled = _previousDisabled;
    }
}
