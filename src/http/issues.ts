// The wording of every validation error the API returns. zod's own messages ("Invalid input: expected
// string, received number", "Too small: expected number to be >=60") are written for developers of the
// schema, not for callers of the API; this map replaces all of them (src/schemas.ts installs it with
// z.config), so each field error reads the same plain way: `ttl_seconds` "must be an integer from 60 to
// 3600", `user_id` "is required", `code` "must be at most 200 characters". A message a schema sets
// itself (a refinement's reason, a pattern's description) still wins over this one.
import { z } from "zod";

type RawIssue = z.core.$ZodRawIssue;

const A: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
  object: "a JSON object",
  record: "a JSON object",
  array: "an array",
  null: "null",
};

const article = (expected: string) => A[expected] ?? `of type ${expected}`;
// Identifiers read as they are (`ecies-p256`); anything else is quoted as JSON.
const listed = (values: readonly unknown[]) =>
  values.map((v) => (typeof v === "string" && /^[\w.-]+$/.test(v) ? v : JSON.stringify(v))).join(", ");

/** "must be one of …", naming every accepted value. */
function oneOf(values: readonly unknown[]): string {
  return values.length === 1 ? `must be ${listed(values)}` : `must be one of ${listed(values)}`;
}

/** A number's whole allowed range in one message, whichever bound (or the type) was missed. */
function numberRange(schema: z.ZodNumber): string | undefined {
  const kind = schema.isInt ? "an integer" : "a number";
  const min = schema.minValue;
  const max = schema.maxValue;
  // .int() alone bounds a number by the safe-integer range: no bound a caller needs to hear about.
  const bounded = (v: number | null): v is number =>
    v !== null && Number.isFinite(v) && Math.abs(v) < Number.MAX_SAFE_INTEGER;
  if (bounded(min) && bounded(max)) return `must be ${kind} from ${min} to ${max}`;
  if (bounded(min)) return `must be ${kind} of at least ${min}`;
  if (bounded(max)) return `must be ${kind} of at most ${max}`;
  return `must be ${kind}`;
}

/** The message for an issue no schema worded itself; undefined leaves zod's own (never reached). */
export function plainIssueMessage(issue: RawIssue): string | undefined {
  if (issue.input === undefined && ["invalid_type", "invalid_value", "invalid_union"].includes(issue.code)) {
    return "is required";
  }
  if (issue.schema instanceof z.ZodNumber && issue.code !== "custom") return numberRange(issue.schema);
  switch (issue.code) {
    case "invalid_type":
      return `must be ${article(issue.expected)}`;
    case "too_small":
      if (issue.origin === "string") {
        return Number(issue.minimum) <= 1
          ? "must not be empty"
          : `must be at least ${issue.minimum} characters`;
      }
      if (issue.origin === "array" || issue.origin === "set")
        return `must have at least ${issue.minimum} items`;
      return `must be at least ${issue.minimum}`;
    case "too_big":
      if (issue.origin === "string") return `must be at most ${issue.maximum} characters`;
      if (issue.origin === "array" || issue.origin === "set")
        return `must have at most ${issue.maximum} items`;
      return `must be at most ${issue.maximum}`;
    case "invalid_value":
      return oneOf(issue.values);
    case "invalid_union": {
      // Each option's first complaint about the type: "must be a string or a JSON object".
      const kinds = new Set(
        issue.errors.flatMap((option) =>
          option[0]?.code === "invalid_type" && option[0].path.length === 0
            ? [article(option[0].expected)]
            : [],
        ),
      );
      return kinds.size === issue.errors.length && kinds.size > 0
        ? `must be ${[...kinds].join(" or ")}`
        : "does not match any of the accepted forms";
    }
    case "invalid_format":
      if (issue.format === "datetime") return "must be an ISO-8601 timestamp";
      if (issue.format === "date") return "must be an ISO-8601 date";
      return `must be a valid ${issue.format}`;
    case "not_multiple_of":
      return `must be a multiple of ${issue.divisor}`;
    case "unrecognized_keys":
      return `unknown field${issue.keys.length === 1 ? "" : "s"}: ${issue.keys.join(", ")}`;
    case "invalid_key":
      return "has a member name that is not accepted";
    case "invalid_element":
      return "has an element that is not accepted";
    default:
      return "is not valid";
  }
}
