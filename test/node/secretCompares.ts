// Finds comparisons of secrets that are not constant-time, by reading the TypeScript syntax tree (the
// compiler API), not by matching text: `===`/`!==`/`==`/`!=`, `switch`/`case`, and string or buffer
// comparison methods (`localeCompare`, `equals`, `startsWith`, `includes`, …) where one side holds a
// secret and the other is not a constant.
//
// "Holds a secret" is decided by names (tokenHash, body.entropy, env.ADMIN_TOKEN, input.number, …) and
// by taint: a local variable initialised from such a name or from a hashing/MAC call holds one too, so
// `const h = await sha256Hex(key); if (h === stored)` is caught although neither name says "secret".
// Comparing with a constant (`issue.code === "invalid_type"`, `typeof x === "number"`, `x === null`) or
// a length (`token.length !== 43`) is not a secret comparison and is left alone.
//
// Looking secrets up by their digest in SQL (`WHERE token_hash = ?1`) is the accepted pattern and is not
// a finding: the digest of a 256-bit random secret reveals nothing usable about the secret.
import ts from "typescript";

/** Words that make a name hold a secret, after splitting camelCase and snake_case. */
const SECRET_WORDS = new Set([
  "hash",
  "digest",
  "token",
  "tokens",
  "secret",
  "secrets",
  "entropy",
  "signature",
  "signatures",
  "sig",
  "hmac",
  "mac",
  "password",
  "otp",
  "pin",
  "code",
  "number",
]);

/** Calls whose result holds (or derives from) a secret. */
const SECRET_CALLS = new Set(["sha256", "sha256Hex", "hmac", "hmacHex", "sign", "digest", "newSecret"]);

/** Methods that compare their receiver with their argument, short-circuiting on the first difference. */
const COMPARE_METHODS = new Set([
  "localeCompare",
  "equals",
  "compare",
  "startsWith",
  "endsWith",
  "includes",
  "indexOf",
  "lastIndexOf",
]);

export interface Finding {
  file: string;
  line: number;
  text: string;
  why: string;
}

function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase());
}

function nameHoldsSecret(name: string): boolean {
  const ws = words(name);
  // "key" alone is too common (object keys, JWKs, KV keys); an API key is named as such.
  if (ws.includes("api") && (ws.includes("key") || ws.includes("keys"))) return true;
  return ws.some((w) => SECRET_WORDS.has(w));
}

/** A constant, a type test or a length: comparing with it says nothing about a secret's content. */
function isConstant(node: ts.Expression): boolean {
  const n = skipWrappers(node);
  if (
    ts.isStringLiteral(n) ||
    ts.isNumericLiteral(n) ||
    ts.isNoSubstitutionTemplateLiteral(n) ||
    ts.isBigIntLiteral(n) ||
    ts.isRegularExpressionLiteral(n) ||
    n.kind === ts.SyntaxKind.TrueKeyword ||
    n.kind === ts.SyntaxKind.FalseKeyword ||
    n.kind === ts.SyntaxKind.NullKeyword ||
    ts.isTypeOfExpression(n)
  ) {
    return true;
  }
  if (ts.isIdentifier(n) && (n.text === "undefined" || n.text === "NaN" || isConstantName(n.text)))
    return true;
  if (ts.isPrefixUnaryExpression(n)) return isConstant(n.operand);
  if (ts.isPropertyAccessExpression(n) && (n.name.text === "length" || n.name.text === "byteLength"))
    return true;
  return false;
}

function skipWrappers(node: ts.Expression): ts.Expression {
  let n = node;
  while (
    ts.isParenthesizedExpression(n) ||
    ts.isAwaitExpression(n) ||
    ts.isNonNullExpression(n) ||
    ts.isAsExpression(n)
  ) {
    n = n.expression;
  }
  return n;
}

/** SCREAMING_CASE names are constants (CLOSE_REVOKED, CHANNEL_PROTOCOL) unless they name a secret. */
const isConstantName = (name: string) => /^[A-Z][A-Z0-9_]*$/.test(name) && !nameHoldsSecret(name);

/**
 * Whether an expression's value holds a secret. A property access is judged by its last name only
 * (`state.appId` is an id even when `state` also carries a digest); a call holds one when it hashes, or
 * when it transforms a secret argument or receiver (`fromHex(row.token_hash)`, `token.trim()`).
 */
function holds(node: ts.Node, tainted: Set<string>): boolean {
  const n = ts.isExpression(node) ? skipWrappers(node) : node;
  const named = (name: string) => (nameHoldsSecret(name) || tainted.has(name)) && !isConstantName(name);
  if (ts.isIdentifier(n)) return named(n.text);
  if (ts.isPropertyAccessExpression(n)) return named(n.name.text);
  if (ts.isElementAccessExpression(n)) {
    const arg = n.argumentExpression;
    return ts.isStringLiteral(arg) ? named(arg.text) : holds(n.expression, tainted);
  }
  if (ts.isCallExpression(n)) {
    const callee = n.expression;
    const fn = ts.isIdentifier(callee)
      ? callee.text
      : ts.isPropertyAccessExpression(callee)
        ? callee.name.text
        : "";
    if (SECRET_CALLS.has(fn)) return true;
    if (n.arguments.some((a) => holds(a, tainted))) return true;
    return ts.isPropertyAccessExpression(callee) && holds(callee.expression, tainted);
  }
  if (ts.isTemplateExpression(n)) return n.templateSpans.some((span) => holds(span.expression, tainted));
  if (ts.isArrayLiteralExpression(n)) return n.elements.some((e) => holds(e, tainted));
  if (ts.isBinaryExpression(n)) return holds(n.left, tainted) || holds(n.right, tainted);
  if (ts.isConditionalExpression(n)) return holds(n.whenTrue, tainted) || holds(n.whenFalse, tainted);
  return false;
}

/** Local names that hold a secret by taint, to a fixed point over the whole file. */
function taintedNames(sf: ts.SourceFile): Set<string> {
  const decls: [string, ts.Expression, boolean][] = [];
  const visit = (n: ts.Node) => {
    if (ts.isVariableDeclaration(n) && n.initializer) {
      if (ts.isIdentifier(n.name)) decls.push([n.name.text, n.initializer, false]);
      else if (ts.isArrayBindingPattern(n.name)) {
        // const [a, b] = await Promise.all([sha256(x), …]): each element may be what was hashed.
        for (const el of n.name.elements) {
          if (ts.isBindingElement(el) && ts.isIdentifier(el.name))
            decls.push([el.name.text, n.initializer, false]);
        }
      } else if (ts.isObjectBindingPattern(n.name)) {
        // const { token } = body: each bound name is judged by the member it reads.
        for (const el of n.name.elements) {
          if (ts.isIdentifier(el.name)) decls.push([el.name.text, n.initializer, true]);
        }
      }
    }
    if (
      ts.isBinaryExpression(n) &&
      n.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      ts.isIdentifier(n.left)
    ) {
      decls.push([n.left.text, n.right, false]);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  const tainted = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, init, destructured] of decls) {
      if (tainted.has(name) || nameHoldsSecret(name)) continue;
      if (!destructured && holds(init, tainted)) {
        tainted.add(name);
        changed = true;
      }
    }
  }
  return tainted;
}

const EQUALITY = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
]);

export function findSecretCompares(file: string, source: string): Finding[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const tainted = taintedNames(sf);
  const holdsSecret = (e: ts.Node) => holds(e, tainted);
  const findings: Finding[] = [];
  const report = (node: ts.Node, why: string) => {
    const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    findings.push({ file, line: line + 1, text: node.getText(sf).replace(/\s+/g, " ").slice(0, 160), why });
  };

  const visit = (n: ts.Node) => {
    if (ts.isBinaryExpression(n) && EQUALITY.has(n.operatorToken.kind)) {
      if (!isConstant(n.left) && !isConstant(n.right) && (holdsSecret(n.left) || holdsSecret(n.right))) {
        report(n, `${n.operatorToken.getText(sf)} on a secret`);
      }
    }
    if (ts.isSwitchStatement(n) && holdsSecret(n.expression)) {
      for (const clause of n.caseBlock.clauses) {
        if (ts.isCaseClause(clause) && !isConstant(clause.expression))
          report(clause, "switch/case on a secret");
      }
    }
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression)) {
      const method = n.expression.name.text;
      const receiver = n.expression.expression;
      const arg = n.arguments[0];
      if (
        COMPARE_METHODS.has(method) &&
        arg &&
        !isConstant(arg) &&
        (holdsSecret(receiver) || holdsSecret(arg))
      ) {
        // A constant receiver (`PREFIXES.includes(x)`) checks membership in a fixed list, not a secret.
        if (
          !(
            ts.isIdentifier(receiver) &&
            /^[A-Z0-9_]+$/.test(receiver.text) &&
            !nameHoldsSecret(receiver.text)
          )
        ) {
          report(n, `.${method}() on a secret`);
        }
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return findings;
}

/** The functions (by name) in which `timingSafeEqual` is called, per file. */
export function constantTimeCallers(file: string, source: string, fn = "timingSafeEqual"): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out = new Set<string>();
  const visit = (n: ts.Node, where: string) => {
    let here = where;
    if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name) here = n.name.getText(sf);
    if (
      ts.isVariableDeclaration(n) &&
      ts.isIdentifier(n.name) &&
      n.initializer &&
      ts.isArrowFunction(n.initializer)
    ) {
      here = n.name.text;
    }
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : "";
      if (name === fn) out.add(here);
    }
    ts.forEachChild(n, (c) => visit(c, here));
  };
  visit(sf, "(module)");
  return [...out].sort();
}

/**
 * The same source with every `timingSafeEqual(a, b)` call turned into `a === b`: what a careless edit
 * would do. Used to prove the finder catches exactly that regression in the real files.
 */
export function withPlainEquality(file: string, source: string, fn = "timingSafeEqual"): string {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const edits: [number, number, string][] = [];
  const visit = (n: ts.Node) => {
    if (ts.isCallExpression(n) && n.arguments.length === 2) {
      const callee = n.expression;
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : "";
      const [a, b] = n.arguments;
      if (name === fn && a && b) {
        edits.push([n.getStart(sf), n.getEnd(), `(${a.getText(sf)}) === (${b.getText(sf)})`]);
        return;
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  let out = source;
  for (const [start, end, text] of edits.sort((x, y) => y[0] - x[0]))
    out = out.slice(0, start) + text + out.slice(end);
  return out;
}

/** First and last line (1-based) of each function or method named `fn` in a file. */
export function functionLines(file: string, source: string, fn: string): [number, number][] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: [number, number][] = [];
  const line = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (n: ts.Node) => {
    const named =
      ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name?.getText(sf) === fn) ||
      (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.name.text === fn);
    if (named) out.push([line(n.getStart(sf)), line(n.getEnd())]);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}
