using System;
using System.Collections.Generic;

namespace Encrypxon.Tests
{
    [Suite("json")]
    public sealed class JsonTests
    {
        [Test]
        public void ParsesEveryKindOfValue()
        {
            var v = (Dictionary<string, object>)Json.Parse(
                " {\"s\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\",\"i\":-42,\"big\":12345678901234,\"d\":1.5e3,\"t\":true,\"f\":false,\"n\":null,"
                + "\"a\":[1,[],{}],\"o\":{\"x\":{}}} ");
            Assert.Equal("a\"b\\c/d\né\U0001F600", (string)v["s"]);
            Assert.Equal(-42L, (long)v["i"]);
            Assert.Equal(12345678901234L, (long)v["big"]);
            Assert.Equal(1500.0, (double)v["d"]);
            Assert.Equal(true, (bool)v["t"]);
            Assert.Equal(false, (bool)v["f"]);
            Assert.True(v.ContainsKey("n") && v["n"] == null, "null member kept");
            Assert.Equal(3, ((List<object>)v["a"]).Count);
            Assert.Equal(0, ((Dictionary<string, object>)((Dictionary<string, object>)v["o"])["x"]).Count);
        }

        [Test]
        public void RefusesMalformedText()
        {
            foreach (var bad in new[] { "", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "1.", "\"\u0001\"", "tru", "{} x", "\"\\x\"", "-", "[1 2]" })
                Assert.Throws<FormatException>(() => Json.Parse(bad), "parse " + bad);
            var deep = new string('[', 100) + new string(']', 100);
            Assert.Throws<FormatException>(() => Json.Parse(deep), "nesting is bounded");
        }

        [Test]
        public void SerializesAndRoundTrips()
        {
            var value = new Dictionary<string, object>
            {
                { "user_id", "al\"ice\u0001\u2028" },
                { "n", 25 },
                { "b", true },
                { "nested", new Dictionary<string, object> { { "title", "Sign in é" } } },
                { "list", new List<object> { 1L, "x", null } },
            };
            var text = Json.Serialize(value);
            Assert.Equal("{\"user_id\":\"al\\\"ice\\u0001\\u2028\",\"n\":25,\"b\":true,\"nested\":{\"title\":\"Sign in é\"},\"list\":[1,\"x\",null]}", text);
            var back = (Dictionary<string, object>)Json.Parse(text);
            Assert.Equal("al\"ice\u0001\u2028", (string)back["user_id"]);
            Assert.Equal("Sign in é", (string)((Dictionary<string, object>)back["nested"])["title"]);
        }
    }
}
