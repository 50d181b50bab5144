using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

public class SampleSeedsTests
{
    [Theory]
    [InlineData(0UL)]
    [InlineData(1UL)]
    [InlineData(ulong.MaxValue)]
    public void Generator_seeds_are_distinct_across_indices_and_splits(ulong seed)
    {
        var seen = new HashSet<ulong>();
        for (long index = 0; index < 20_000; index++)
        {
            Assert.True(seen.Add(SampleSeeds.For(seed, DataSplit.Train, index)), $"train {index} repeats a seed");
            Assert.True(seen.Add(SampleSeeds.For(seed, DataSplit.Eval, index)), $"eval {index} repeats a seed");
        }
    }

    [Fact]
    public void Different_task_seeds_give_different_sample_seeds()
    {
        Assert.NotEqual(SampleSeeds.For(1, DataSplit.Train, 0), SampleSeeds.For(2, DataSplit.Train, 0));
        Assert.NotEqual(SampleSeeds.For(1, DataSplit.Train, 5), SampleSeeds.For(1, DataSplit.Eval, 5));
    }

    [Fact]
    public void Negative_index_is_rejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SampleSeeds.For(0, DataSplit.Train, -1));
}
