export * from "./client.js";
export * from "./crypto.js";
export * from "./formats.js";
export * from "./store.js";
export * from "./uri.js";
export * from "./watch.js";
