import type { KeyFormat } from "./crypto.js";

/** The key formats of DESIGN §4, in the order a CLI user would pick them (ECIES is the phone default). */
export const KEY_FORMATS: readonly KeyFormat[] = ["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"];

export function isKeyFormat(value: unknown): value is KeyFormat {
  return typeof value === "string" && (KEY_FORMATS as readonly string[]).includes(value);
}
