namespace Ttt.Training;

/// <summary>
/// Linear warmup from <see cref="Init"/> to <see cref="Peak"/> over <see cref="WarmupSteps"/> updates, then cosine
/// decay to <see cref="End"/> at <see cref="TotalSteps"/> (optax <c>warmup_cosine_decay_schedule</c>, spec §3).
/// <see cref="At"/> takes the number of updates already applied (0 for the first).
/// </summary>
public sealed record LrSchedule(double Peak, long WarmupSteps, long TotalSteps, double End = 1e-5, double Init = 0)
{
    /// <summary>The learning rate of the update that follows <paramref name="count"/> applied updates.</summary>
    public double At(long count)
    {
        if (count < WarmupSteps) return Init + (Peak - Init) * count / WarmupSteps;
        long decay = Math.Max(TotalSteps - WarmupSteps, 1);
        double t = Math.Min(count - WarmupSteps, decay) / (double)decay;
        return End + (Peak - End) * 0.5 * (1 + Math.Cos(Math.PI * t));
    }

    /// <summary>The recipe's schedule: warmup over 10 % of the steps, cosine to 1e-5.</summary>
    public static LrSchedule Recipe(double peak, long totalSteps, double warmupFraction = 0.1, double end = 1e-5) =>
        new(peak, (long)Math.Round(totalSteps * warmupFraction), totalSteps, Math.Min(end, peak));
}

/// <summary>
/// The TTT-MLP inner learning-rate warmup of the training recipe (spec §3): the multiplier
/// (0.01 + min(1, (step − 1)/warmup)·0.09)/0.1 applied to η, so η_base goes from 0.01 to 0.1.
/// </summary>
public static class TttMlpWarmup
{
    /// <summary>Multiplier for 1-based update <paramref name="step"/>.</summary>
    public static double Multiplier(long step, long warmup) =>
        warmup <= 0 ? 1 : (0.01 + Math.Min(1.0, Math.Max(0, step - 1) / (double)warmup) * 0.09) / 0.1;
}
