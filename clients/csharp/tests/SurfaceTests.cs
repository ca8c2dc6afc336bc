// docs/csharp-surface.md lists the library's public surface: every type, member and enum value named in
// its ```cs listing blocks exists in the built assembly, and every public type of the assembly is listed.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Encrypxon.Tests
{
    [Suite("surface")]
    public sealed class SurfaceTests
    {
        private static readonly Assembly Library = typeof(Encrypxon2FaClient).Assembly;

        private static string Listings()
        {
            var candidates = new[]
            {
                Path.Combine(Environment.CurrentDirectory, "docs", "csharp-surface.md"),
                Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "..", "..", "..", "docs", "csharp-surface.md"),
            };
            var file = candidates.FirstOrDefault(File.Exists);
            if (file == null) throw new FileNotFoundException("docs/csharp-surface.md (run from the repository root)");
            var blocks = Regex.Matches(File.ReadAllText(file), "^```cs listing\\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)
                .Cast<Match>().Select(m => m.Groups[1].Value).ToList();
            Assert.True(blocks.Count >= 4, "the surface page has its listings");
            return string.Join("\n", blocks);
        }

        private static Type Find(string name, bool generic)
        {
            var type = Library.GetType("Encrypxon." + name + (generic ? "`1" : ""));
            if (type == null || !type.IsPublic) throw new AssertionException("docs/csharp-surface.md names " + name + ", which the library does not export");
            return type;
        }

        [Test]
        public void EveryListedMemberExists()
        {
            var text = Listings();
            var decl = new Regex(@"public (?:sealed |static |abstract )*(class|enum) (\w+)(<T>)?");
            var matches = decl.Matches(text).Cast<Match>().ToList();
            var checkedMembers = 0;
            for (var i = 0; i < matches.Count; i++)
            {
                var m = matches[i];
                var type = Find(m.Groups[2].Value, m.Groups[3].Success);
                var end = i + 1 < matches.Count ? matches[i + 1].Index : text.Length;
                var body = text.Substring(m.Index + m.Length, end - m.Index - m.Length);
                if (m.Groups[1].Value == "enum")
                {
                    var values = Regex.Match(body, @"\{([^}]*)\}").Groups[1].Value.Split(',').Select(v => v.Trim()).Where(v => v.Length > 0).ToList();
                    Assert.SequenceEqual(values, Enum.GetNames(type), "values of enum " + type.Name);
                    continue;
                }
                foreach (Match member in Regex.Matches(body, @"public (?:[\w<>\[\]?,.]+ )*?(\w+)\s*(\(|\{ get|;)"))
                {
                    var name = member.Groups[1].Value;
                    if (name == "class" || name == "enum") continue;
                    var found = name == type.Name.Split('`')[0]
                        ? type.GetConstructors().Length > 0
                        : type.GetMember(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static).Length > 0;
                    Assert.True(found, type.Name + "." + name + " is listed but does not exist");
                    checkedMembers++;
                }
            }
            Assert.True(checkedMembers > 80, "members checked: " + checkedMembers);
        }

        [Test]
        public void EveryPublicTypeIsListed()
        {
            var text = Listings();
            foreach (var type in Library.GetExportedTypes())
            {
                var name = type.Name.Split('`')[0];
                Assert.True(Regex.IsMatch(text, @"(class|enum) " + name + @"\b"), type.FullName + " is public but not in docs/csharp-surface.md");
            }
        }

        [Test]
        public void EveryPublicMemberHasADocComment()
        {
            // The build fails on a missing comment (CS1591 as an error); this checks the XML file is complete too.
            var xml = Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "Encrypxon.Client.xml");
            Assert.True(File.Exists(xml), "the XML documentation is built next to the library");
            var doc = File.ReadAllText(xml);
            var missing = new List<string>();
            foreach (var type in Library.GetExportedTypes())
            {
                if (!doc.Contains("\"T:" + type.FullName + "\"")) missing.Add(type.FullName);
                foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
                    if (!doc.Contains("\"P:" + type.FullName + "." + p.Name + "\"")) missing.Add(type.FullName + "." + p.Name);
            }
            Assert.True(missing.Count == 0, "undocumented: " + string.Join(", ", missing));
        }
    }
}
