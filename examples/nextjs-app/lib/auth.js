import crypto from "node:crypto";
import { getServerSession } from "next-auth/next";
import CredentialsProvider from "next-auth/providers/credentials";
import { CUSTOM_SESSION_COOKIE, activeFaults, smokePassword, smokeUser } from "./config";

const THIRTY_DAYS = 30 * 24 * 60 * 60;

/** Constant-time string comparison (hashing first equalises the lengths). */
function safeEqual(a, b) {
  const ha = crypto.createHash("sha256").update(String(a), "utf8").digest();
  const hb = crypto.createHash("sha256").update(String(b), "utf8").digest();
  return crypto.timingSafeEqual(ha, hb);
}

export function smokeUserRecord(email = smokeUser()) {
  return { id: "smoke-user", name: "Smoke User", email };
}

/** The same cookie names NextAuth v4 uses by default, with HttpOnly switched off. */
function cookiesWithoutHttpOnly(useSecureCookies) {
  const prefix = useSecureCookies ? "__Secure-" : "";
  const opts = (extra = {}) => ({
    httpOnly: false,
    sameSite: "lax",
    path: "/",
    secure: useSecureCookies,
    ...extra,
  });
  return {
    sessionToken: { name: `${prefix}next-auth.session-token`, options: opts() },
    callbackUrl: { name: `${prefix}next-auth.callback-url`, options: opts() },
    csrfToken: {
      name: `${useSecureCookies ? "__Host-" : ""}next-auth.csrf-token`,
      options: opts(),
    },
    pkceCodeVerifier: {
      name: `${prefix}next-auth.pkce.code_verifier`,
      options: opts({ maxAge: 60 * 15 }),
    },
    state: { name: `${prefix}next-auth.state`, options: opts({ maxAge: 60 * 15 }) },
    nonce: { name: `${prefix}next-auth.nonce`, options: opts() },
  };
}

/**
 * NextAuth options, built per request so that environment variables and
 * fault modes are read at request time.
 */
export function buildAuthOptions() {
  const faults = activeFaults();

  const options = {
    // An empty string (not undefined) keeps NextAuth from falling back to
    // process.env.NEXTAUTH_SECRET, so the `no-secret` fault really has none.
    secret: faults.has("no-secret") ? "" : process.env.NEXTAUTH_SECRET,
    session: { strategy: "jwt", maxAge: THIRTY_DAYS },
    providers: [
      CredentialsProvider({
        id: "credentials",
        name: "Credentials",
        credentials: {
          username: { label: "Username", type: "text" },
          password: { label: "Password", type: "password" },
        },
        async authorize(credentials) {
          const username = credentials?.username ?? "";
          const password = credentials?.password ?? "";
          if (faults.has("any-password")) {
            return smokeUserRecord(username || smokeUser());
          }
          const expectedPassword = smokePassword();
          if (!expectedPassword) return null;
          const userOk = safeEqual(username, smokeUser());
          const passOk = safeEqual(password, expectedPassword);
          return userOk && passOk ? smokeUserRecord() : null;
        },
      }),
    ],
    callbacks: {
      async session({ session, token }) {
        if (session?.user && token?.sub) session.user.id = token.sub;
        return session;
      },
    },
  };

  if (faults.has("foreign-callback")) {
    // Honour any absolute callbackUrl, also on foreign origins (open redirect).
    options.callbacks.redirect = async ({ url, baseUrl }) =>
      url.startsWith("/") ? `${baseUrl}${url}` : url;
  }
  // Otherwise NextAuth's default redirect callback applies: relative URLs and
  // same-origin absolute URLs only, everything else falls back to baseUrl.

  if (faults.has("prefix-redirect")) {
    // The classic prefix bug: "http://app.example.com.evil.invalid" starts with "http://app.example.com".
    options.callbacks.redirect = async ({ url, baseUrl }) => {
      if (url.startsWith("/")) return `${baseUrl}${url}`;
      return url.startsWith(baseUrl) ? url : baseUrl;
    };
  }

  if (faults.has("config-500")) {
    // Credentials sign-in with database sessions: NextAuth refuses the configuration
    // (UNSUPPORTED_STRATEGY) and answers 500 on every endpoint, although the secret is set.
    options.session = { strategy: "database", maxAge: THIRTY_DAYS };
  }

  if (faults.has("custom-signin")) {
    options.pages = { signIn: "/welcome" };
  }

  if (faults.has("custom-cookie")) {
    // A documented option: another name for the session cookie, flags unchanged.
    const secure = (process.env.NEXTAUTH_URL || "").startsWith("https://");
    options.cookies = {
      sessionToken: {
        name: `${secure ? "__Secure-" : ""}${CUSTOM_SESSION_COOKIE}`,
        options: { httpOnly: true, sameSite: "lax", path: "/", secure },
      },
    };
  }

  if (faults.has("cookie-no-httponly")) {
    const secure = (process.env.NEXTAUTH_URL || "").startsWith("https://");
    options.cookies = cookiesWithoutHttpOnly(secure);
  }

  return options;
}

/**
 * The request's session: `{ session }` (null without one), or `{ failure }`, a
 * 500 response to return when the lookup itself failed (logged by its class only).
 */
export async function lookUpSession(route) {
  try {
    return { session: await getServerSession(buildAuthOptions()) };
  } catch (err) {
    console.error(`[${route}] session lookup failed: ${err?.name || "error"}`);
    return {
      failure: Response.json(
        { error: "server_error" },
        { status: 500, headers: { "Cache-Control": "no-store" } },
      ),
    };
  }
}
