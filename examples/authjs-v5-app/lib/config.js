// Runtime configuration. Everything here is read from process.env on every
// call, never captured at build time, so one build serves every mode.

export const APP_NAME = "opscheck Auth.js v5 reference app";

export const FAULT_MODES = [
  "any-password",
  "open-protected",
  "cookie-no-httponly",
  "insecure-custom-cookie",
  "no-secret",
  "provider-no-issuer",
  "foreign-callback",
  "prefix-redirect",
  "no-security-headers",
  "slow",
  "leak-secret",
];

// On globalThis: the proxy and each route bundle get their own copy of this module.
const warnedUnknown = (globalThis.__opscheckWarnedFaults ??= new Set());

/** The set of active fault modes from OPSCHECK_APP_FAULT (comma-separated). */
export function activeFaults() {
  const raw = process.env.OPSCHECK_APP_FAULT || "";
  const faults = new Set(
    raw
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const name of faults) {
    if (!FAULT_MODES.includes(name) && !warnedUnknown.has(name)) {
      // A misspelt fault would otherwise silently leave the app healthy.
      warnedUnknown.add(name);
      console.warn(`[opscheck] unknown OPSCHECK_APP_FAULT mode ignored: ${name}`);
    }
  }
  return faults;
}

export function hasFault(name) {
  return activeFaults().has(name);
}

export function appVersion() {
  return process.env.APP_VERSION || "unknown";
}

export function smokeUser() {
  return process.env.SMOKE_USER || "smoke@example.com";
}

export function smokePassword() {
  // No default: without SMOKE_PASSWORD nobody can sign in (unless a fault says so).
  return process.env.SMOKE_PASSWORD || "";
}

/** Whether the public URL (AUTH_URL) is https: Auth.js then uses Secure, __Secure-/__Host- cookies. */
export function publicUrlIsHttps() {
  return (process.env.AUTH_URL || "").startsWith("https://");
}

export const SLOW_DELAY_MS = 3000;

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
