using Ttt.Data;
using Xunit;

namespace Ttt.Tests;

public class DataSourcesTests
{
    [Fact]
    public void Task_names_select_the_sources_with_their_options()
    {
        var (train, eval) = DataSources.Open("markov", 5, 64, new DataSourceOptions { Markov = new MarkovOptions { AlphabetSize = 10 } });
        Assert.IsType<MarkovDataSource>(train);
        Assert.Equal(DataSplit.Train, train.Split);
        Assert.Equal(DataSplit.Eval, eval.Split);
        Assert.Equal(10, eval.VocabSize);
        Assert.Equal(DataSources.DefaultTask, train.Name);

        var mqar = DataSources.Create("MQAR", 5, DataSplit.Eval, 64);
        Assert.IsType<MqarDataSource>(mqar);
        Assert.Equal(8192, mqar.VocabSize);
        DataTestHelpers.AssertSameBatch(new MqarDataSource(5, DataSplit.Eval, 64).NextBatch(2), mqar.NextBatch(2));
    }

    [Fact]
    public void Text_task_reads_the_path_with_the_chosen_tokenizer()
    {
        using var folder = new TempFolder();
        folder.Write("a.txt", string.Concat(Enumerable.Repeat("hello world ", 200)));
        var logged = new List<string>();
        var (train, eval) = DataSources.Open("text:" + folder.Root, 1, 16, new DataSourceOptions { Log = logged.Add });
        Assert.Equal(256, train.VocabSize);
        Assert.Equal(eval.GetState().Configuration, train.GetState().Configuration);
        Assert.Single(logged);

        var gpt2 = DataSources.Create("text:" + folder.Root, 1, DataSplit.Train, 16, new DataSourceOptions { Tokenizer = "gpt2" });
        Assert.Equal(50257, gpt2.VocabSize);
        Assert.All(gpt2.NextBatch(2).Tokens.ToArray(), t => Assert.Contains(t, new long[] { 31373, 23748, 995 }));
    }

    [Theory]
    [InlineData("markovv")]
    [InlineData("text:")]
    [InlineData("text:   ")]
    [InlineData("")]
    public void Unknown_or_incomplete_tasks_are_rejected(string task) =>
        Assert.Throws<ArgumentException>(() => DataSources.Create(task, 0, DataSplit.Train, 8));

    [Fact]
    public void State_is_readable_json_that_keeps_the_full_seed()
    {
        var source = new MarkovDataSource(ulong.MaxValue, DataSplit.Eval, 12);
        source.NextBatch(5);
        string json = System.Text.Json.JsonSerializer.Serialize(source.GetState());
        Assert.Contains("\"Split\":\"Eval\"", json, StringComparison.Ordinal);
        Assert.Contains("\"NextSample\":5", json, StringComparison.Ordinal);
        Assert.Contains("\"Seed\":18446744073709551615", json, StringComparison.Ordinal);
        var restored = System.Text.Json.JsonSerializer.Deserialize<DataSourceState>(json)!;
        Assert.Equal(source.GetState(), restored);
        var resumed = new MarkovDataSource(ulong.MaxValue, DataSplit.Eval, 12);
        resumed.SetState(restored);
        DataTestHelpers.AssertSameBatch(source.NextBatch(2), resumed.NextBatch(2));
    }

    [Fact]
    public void Text_task_with_a_missing_path_reports_it() =>
        Assert.Throws<FileNotFoundException>(() => DataSources.Open("text:/definitely/not/here", 0, 8));
}
