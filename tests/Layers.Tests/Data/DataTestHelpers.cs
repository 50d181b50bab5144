using System.Text.Json;
using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

/// <summary>Shared helpers of the data tests.</summary>
internal static class DataTestHelpers
{
    /// <summary>Round-trips a state through JSON text, as a checkpoint would.</summary>
    public static DataSourceState ThroughJson(DataSourceState state)
    {
        string json = JsonSerializer.Serialize(state);
        return JsonSerializer.Deserialize<DataSourceState>(json) ?? throw new InvalidOperationException("state did not deserialize");
    }

    /// <summary>
    /// |actual − expected| ≤ atol + rtol·|expected| (the project's one tolerance formula), reporting both errors.
    /// Defaults suit values that differ only by float64 rounding.
    /// </summary>
    public static void AssertClose(double expected, double actual, double atol = 1e-12, double rtol = 1e-12)
    {
        double error = Math.Abs(actual - expected);
        Assert.True(error <= atol + rtol * Math.Abs(expected),
            $"expected {expected:R}, got {actual:R}: abs error {error:E2}, rel error {error / Math.Abs(expected):E2} (atol {atol:E0}, rtol {rtol:E0})");
    }

    /// <summary>Asserts two batches hold the same tokens and labels.</summary>
    public static void AssertSameBatch(TokenBatch expected, TokenBatch actual)
    {
        Assert.Equal(expected.BatchSize, actual.BatchSize);
        Assert.Equal(expected.SequenceLength, actual.SequenceLength);
        Assert.True(expected.Tokens.SequenceEqual(actual.Tokens), "tokens differ");
        Assert.True(expected.Labels.SequenceEqual(actual.Labels), "labels differ");
    }

    /// <summary>
    /// Checks the resume contract on any source factory: read some batches, save the state as JSON, restore it in a
    /// fresh source, and require the next batches to match the original's continuation.
    /// </summary>
    public static void AssertResumesExactly(Func<IDataSource> create, int batchSize)
    {
        var original = create();
        original.NextBatch(batchSize);
        original.NextBatch(batchSize + 1);
        var saved = ThroughJson(original.GetState());
        Assert.Equal(2L * batchSize + 1, saved.NextSample);
        var expectedNext = new[] { original.NextBatch(batchSize), original.NextBatch(1) };

        var resumed = create();
        resumed.SetState(saved);
        AssertSameBatch(expectedNext[0], resumed.NextBatch(batchSize));
        AssertSameBatch(expectedNext[1], resumed.NextBatch(1));
    }

    /// <summary>Checks that a stream does not depend on how it is cut into batches: 2×B samples equal one batch of 2B.</summary>
    public static void AssertBatchingInvariant(Func<IDataSource> create, int batchSize)
    {
        var split = create();
        var first = split.NextBatch(batchSize);
        var second = split.NextBatch(batchSize);
        var whole = create().NextBatch(2 * batchSize);
        int width = whole.SequenceLength + 1;
        Assert.True(whole.Tokens[..(batchSize * width)].SequenceEqual(first.Tokens));
        Assert.True(whole.Tokens[(batchSize * width)..].SequenceEqual(second.Tokens));
    }

    /// <summary>The rows of a batch as arrays, for set comparisons.</summary>
    public static List<long[]> Rows(TokenBatch batch) =>
        Enumerable.Range(0, batch.BatchSize).Select(b => batch.Row(b).ToArray()).ToList();

    /// <summary>Equality of token rows by content.</summary>
    public sealed class RowComparer : IEqualityComparer<long[]>
    {
        public static RowComparer Instance { get; } = new();

        public bool Equals(long[]? x, long[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(long[] obj)
        {
            var hash = new HashCode();
            foreach (long v in obj) hash.Add(v);
            return hash.ToHashCode();
        }
    }
}
