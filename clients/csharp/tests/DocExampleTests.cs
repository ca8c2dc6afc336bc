// tools/doc-examples.mjs, which build.sh runs over every *.md of docs/ and the binding's README: every
// spelling of a C# fence is compiled or refused, none is skipped in silence.
using System;
using System.Diagnostics;
using System.IO;
using System.Text;

namespace Encrypxon.Tests
{
    [Suite("docs")]
    public sealed class DocExampleTests
    {
        private static string Tool()
        {
            var candidates = new[]
            {
                Path.Combine(Environment.CurrentDirectory, "clients", "csharp", "tools", "doc-examples.mjs"),
                Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "..", "tools", "doc-examples.mjs"),
            };
            foreach (var c in candidates) if (File.Exists(c)) return Path.GetFullPath(c);
            throw new FileNotFoundException("clients/csharp/tools/doc-examples.mjs (run from the repository root)");
        }

        /// <summary>Runs the tool over a directory holding <paramref name="markdown"/>; its exit code, stdout + stderr, and the C# it wrote.</summary>
        private static Tuple<int, string, string> Run(string markdown)
        {
            var dir = Path.Combine(Path.GetTempPath(), "encrypxon-doc-examples-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path.Combine(dir, "nested"));
            try
            {
                File.WriteAllText(Path.Combine(dir, "nested", "page.md"), markdown, new UTF8Encoding(false));
                File.WriteAllText(Path.Combine(dir, "notes.txt"), "```c-sharp\nnot markdown, not read\n```\n");
                var output = Path.Combine(dir, "out.cs");
                var node = Environment.GetEnvironmentVariable("ENCRYPXON_NODE");
                var info = new ProcessStartInfo(string.IsNullOrEmpty(node) ? "node" : node, "\"" + Tool() + "\" \"" + output + "\" \"" + dir + "\"")
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                using (var p = Process.Start(info))
                {
                    var stderr = p.StandardError.ReadToEndAsync();
                    var stdout = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    return Tuple.Create(p.ExitCode, stdout + stderr.Result, File.Exists(output) ? File.ReadAllText(output) : null);
                }
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }

        [Test]
        public void EveryCommonSpellingIsCompiled()
        {
            var r = Run("# Page\n\n```csharp\nvar a = 1;\n```\n\n```cs\nvar b = 2;\n```\n\n```C#\nvar c = 3;\n```\n\n  ~~~c#\n  var d = 4;\n  ~~~\n\n"
                + "````CSharp\nvar e = \"```\";\n````\n\n```cs listing\npublic sealed class NotCompiled { }\n```\n\n```css\nbody { }\n```\n\n```sh\necho c#\n```\n");
            Assert.Equal(0, r.Item1, "exit code: " + r.Item2);
            Assert.Matches("5 C# examples from .*nested/page\\.md", r.Item2);
            Assert.Matches("\\(1 listings not compiled\\)", r.Item2);
            foreach (var line in new[] { "var a = 1;", "var b = 2;", "var c = 3;", "var d = 4;", "var e = \"```\";" })
                Assert.True(r.Item3.Contains(line), "compiled: " + line);
            Assert.True(!r.Item3.Contains("NotCompiled") && !r.Item3.Contains("body { }"), "a listing and CSS are not");
        }

        [Test]
        public void AnUnknownSpellingFailsTheBuild()
        {
            foreach (var fence in new[] { "c-sharp", "csharp7", "C Sharp", "csx", "cs title=x", "csharp ignore", "dotnet" })
            {
                var r = Run("```csharp\nvar ok = 1;\n```\n\n```" + fence + "\nvar lost = 1;\n```\n");
                Assert.True(r.Item1 != 0, "```" + fence + " is refused: " + r.Item2);
                Assert.Matches("page\\.md:5", r.Item2, "```" + fence + " is named with its line");
            }
            var unterminated = Run("```csharp\nvar a = 1;\n");
            Assert.True(unterminated.Item1 != 0 && unterminated.Item2.Contains("unterminated"), "an unterminated block: " + unterminated.Item2);
            var none = Run("no code here\n");
            Assert.True(none.Item1 != 0 && none.Item2.Contains("no C# block"), "no example at all: " + none.Item2);
        }
    }
}
