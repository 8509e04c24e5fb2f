// Runtime configuration. Everything here is read from process.env on every
// call, never captured at build time, so one build serves every mode.

export const APP_NAME = "opscheck reference app";

export const FAULT_MODES = [
  "any-password",
  "open-protected",
  "cookie-no-httponly",
  "no-secret",
  "foreign-callback",
  "no-security-headers",
  "health-degraded",
  "slow",
  "leak-secret",
  "config-500",
  "custom-cookie",
  "custom-base-path",
  "prefix-redirect",
  "custom-signin",
];

/** The session cookie's name in the `custom-cookie` fault (a documented NextAuth option). */
export const CUSTOM_SESSION_COOKIE = "acme.sid";

/** Where NextAuth is served: `/auth` in the `custom-base-path` fault, else NextAuth's default. */
export function authBasePath() {
  return hasFault("custom-base-path") ? "/auth" : "/api/auth";
}

/** The sign-in page protected pages send visitors to: `/welcome` in the `custom-signin` fault. */
export function signInPage() {
  return hasFault("custom-signin") ? "/welcome" : "/login";
}

// On globalThis: proxy and each route bundle get their own copy of this module.
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

export function maintenanceMode() {
  return (process.env.MAINTENANCE_MODE || "").trim().toLowerCase() === "true";
}

export function smokeUser() {
  return process.env.SMOKE_USER || "smoke@example.com";
}

export function smokePassword() {
  // No default: without SMOKE_PASSWORD nobody can sign in (unless a fault says so).
  return process.env.SMOKE_PASSWORD || "";
}

export const SLOW_DELAY_MS = 3000;

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
