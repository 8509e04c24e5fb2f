import { NextResponse } from "next/server";
import { SIGN_IN_PAGE, auth } from "@/lib/auth";
import { SLOW_DELAY_MS, activeFaults, sleep } from "@/lib/config";

// Next.js 16's proxy (formerly middleware). It runs on the Node.js runtime for every request, at
// request time, so the decisions below follow the environment of the running server, not the
// build. Protected pages go through Auth.js's `auth()` wrapper, which puts the session on
// `request.auth`; other paths do not (the wrapper sets CSRF and callback-URL cookies).

/** Pages only signed-in users may see; the proxy sends everybody else to the sign-in page. */
const PROTECTED_PAGES = ["/dashboard"];

const SECURITY_HEADERS = {
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Content-Security-Policy": "frame-ancestors 'none'",
  "Referrer-Policy": "strict-origin-when-cross-origin",
};

/** A page request: not an API or auth route, not a build asset, not a file with an extension. */
function isPage(pathname) {
  if (/^\/(api|auth|_next)(\/|$)/.test(pathname)) return false;
  return !/\.[A-Za-z0-9]+$/.test(pathname);
}

function isProtected(pathname) {
  return PROTECTED_PAGES.some((p) => pathname === p || pathname.startsWith(`${p}/`));
}

/** Anonymous visitors of a protected page go to the sign-in page, which sends them back afterwards. */
function signInUnlessSignedIn(request) {
  if (request.auth?.user) return NextResponse.next();
  const { pathname, search } = request.nextUrl;
  const signIn = new URL(SIGN_IN_PAGE, request.nextUrl.origin);
  signIn.searchParams.set("callbackUrl", `${pathname}${search}`);
  return NextResponse.redirect(signIn);
}

export async function proxy(request, event) {
  const faults = activeFaults();
  const { pathname } = request.nextUrl;

  if (faults.has("slow") && isPage(pathname)) {
    await sleep(SLOW_DELAY_MS);
  }

  let response;
  if (isProtected(pathname) && !faults.has("open-protected")) {
    // With NextAuth's lazy configuration `auth(handler)` resolves to the wrapped handler.
    const guard = await auth(signInUnlessSignedIn);
    response = await guard(request, event);
  } else {
    response = NextResponse.next();
  }

  if (!faults.has("no-security-headers")) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      response.headers.set(name, value);
    }
  }
  return response;
}

// No matcher: the proxy runs for every path, so every response carries the headers.
