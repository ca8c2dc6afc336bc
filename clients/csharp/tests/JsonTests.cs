using System;
using System.Collections.Generic;
using System.Threading.Tasks;

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

        [Test]
        public async Task NumbersPastDoubleAreAParseError()
        {
            foreach (var text in new[] { "1e400", "-1e400", "[1e309]", "{\"n\":123456789e999}" })
                Assert.Throws<FormatException>(() => Json.Parse(text), text);
            Assert.Equal(1e308, (double)Json.Parse("1e308"));
            Assert.Equal(0.0, (double)Json.Parse("1e-400"), "underflow is zero, as in JavaScript");
            var s = new StubbedClient((r, i) => StubHandler.Json(200, "{\"id\":\"chl_1\",\"x\":1e400}"));
            var e = await Assert.ThrowsAsync<EncrypxonClientException>(() => s.Client.GetChallengeAsync("chl_1"));
            Assert.True(e.GetType() == typeof(EncrypxonClientException) && e.InnerException is FormatException, "the documented exception, not an OverflowException");
            Assert.Matches("out of range", e.Message);
            var p = new StubbedClient((r, i) => StubHandler.Json(400, "{\"type\":\"t/x\",\"title\":\"X\",\"n\":1e400}"));
            var problem = await Assert.ThrowsAsync<EncrypxonException>(() => p.Client.GetChallengeAsync("chl_1"));
            Assert.Equal("about:blank", problem.Type, "an unreadable problem body gets the stand-in");
            var data = System.Text.Encoding.UTF8.GetBytes("{\"id\":\"wev_1\",\"type\":\"t\",\"created_at\":\"2026-12-03T00:00:00Z\",\"data\":{\"n\":1e999}}");
            var at = DateTimeOffset.FromUnixTimeSeconds(1796342400);
            Assert.Equal(WebhookVerificationFailure.InvalidPayload, Assert.Throws<WebhookVerificationException>(
                () => WebhookSignature.Verify(data, WebhookSignature.Sign(data, "whsec_x", at), "whsec_x", null, at)).Failure);
        }
    }
}
