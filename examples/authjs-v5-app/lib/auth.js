import crypto from "node:crypto";
import NextAuth from "next-auth";
import Credentials from "next-auth/providers/credentials";
import Keycloak from "next-auth/providers/keycloak";
import { activeFaults, publicUrlIsHttps, smokePassword, smokeUser } from "./config";

const THIRTY_DAYS = 30 * 24 * 60 * 60;

/** The auth routes live here (app/auth/[...nextauth]/route.js), as in the official v5 example. */
export const AUTH_BASE_PATH = "/auth";
/** The app's own sign-in page (`pages.signIn`). */
export const SIGN_IN_PAGE = "/signin";

/** Constant-time string comparison (hashing first equalises the lengths). */
function safeEqual(a, b) {
  const ha = crypto.createHash("sha256").update(String(a), "utf8").digest();
  const hb = crypto.createHash("sha256").update(String(b), "utf8").digest();
  return crypto.timingSafeEqual(ha, hb);
}

export function smokeUserRecord(email = smokeUser()) {
  return { id: "smoke-user", name: "Smoke User", email };
}

/** The session cookie: a name of the app's own, Auth.js's default flags (HttpOnly, SameSite=Lax, Secure on https). */
function sessionCookie(faults) {
  const secure = publicUrlIsHttps();
  if (faults.has("insecure-custom-cookie")) {
    // Fault: the cookie written out by hand, the way blog posts show it: neither the __Secure-
    // prefix nor the Secure flag, also on https.
    return {
      name: "sid",
      options: { httpOnly: true, sameSite: "lax", path: "/", secure: false },
    };
  }
  const cookie = { name: `${secure ? "__Secure-" : ""}opscheck-v5.sid` };
  if (faults.has("cookie-no-httponly")) cookie.options = { httpOnly: false };
  return cookie;
}

function authorizeSmokeUser(faults) {
  return async (credentials) => {
    const username = typeof credentials?.username === "string" ? credentials.username : "";
    const password = typeof credentials?.password === "string" ? credentials.password : "";
    if (faults.has("any-password")) {
      return smokeUserRecord(username || smokeUser());
    }
    const expectedPassword = smokePassword();
    if (!expectedPassword) return null;
    const userOk = safeEqual(username, smokeUser());
    const passOk = safeEqual(password, expectedPassword);
    return userOk && passOk ? smokeUserRecord() : null;
  };
}

/** The redirect callback of a fault mode; none (Auth.js's own: same origin only) otherwise. */
function faultyRedirectCallback(faults) {
  if (faults.has("foreign-callback")) {
    // Fault: any absolute callbackUrl is honoured, also on foreign origins (open redirect).
    return async ({ url, baseUrl }) => (url.startsWith("/") ? `${baseUrl}${url}` : url);
  }
  if (faults.has("prefix-redirect")) {
    // Fault: the classic prefix check. "http://host:port.evil.example" and
    // "http://host:port@evil.example" start with baseUrl too.
    return async ({ url, baseUrl }) => {
      if (url.startsWith("/")) return `${baseUrl}${url}`;
      if (url.startsWith(baseUrl)) return url;
      return baseUrl;
    };
  }
  return undefined;
}

/**
 * The Auth.js configuration, built per request (NextAuth's lazy initialisation) so that
 * environment variables and fault modes are read at request time.
 */
export function buildAuthConfig() {
  const faults = activeFaults();
  if (faults.has("no-secret")) {
    // Fault: AUTH_SECRET missing in production. Auth.js falls back to the environment for an
    // empty `secret`, so the variables themselves go: every auth route answers 500 (MissingSecret).
    delete process.env.AUTH_SECRET;
    delete process.env.NEXTAUTH_SECRET;
  }

  const providers = [
    Credentials({
      id: "credentials",
      name: "Credentials",
      credentials: {
        username: { label: "Username", type: "text" },
        password: { label: "Password", type: "password" },
      },
      authorize: authorizeSmokeUser(faults),
    }),
  ];
  if (faults.has("provider-no-issuer")) {
    // Fault: a company SSO provider added without its issuer (AUTH_KEYCLOAK_ISSUER unset in
    // production): Auth.js refuses the whole configuration (InvalidEndpoints, error=Configuration).
    providers.push(Keycloak({ clientId: "opscheck-app", clientSecret: "unused" }));
  }

  const callbacks = {
    async session({ session, token }) {
      if (session?.user && token?.sub) session.user.id = token.sub;
      return session;
    },
  };
  const redirect = faultyRedirectCallback(faults);
  if (redirect) callbacks.redirect = redirect;

  return {
    basePath: AUTH_BASE_PATH,
    pages: { signIn: SIGN_IN_PAGE },
    session: { strategy: "jwt", maxAge: THIRTY_DAYS },
    cookies: { sessionToken: sessionCookie(faults) },
    providers,
    callbacks,
  };
}

export const { handlers, auth, signIn, signOut } = NextAuth(() => buildAuthConfig());
